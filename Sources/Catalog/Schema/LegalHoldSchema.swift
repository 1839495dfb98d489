import SQLKit

/// Version 3: legal holds and the retention journal.
func createLegalHoldsAndRetention(_ db: any SQLDatabase, _ backend: SQLiteCatalogBackend) async throws {
}
