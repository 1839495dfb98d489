import SQLKit

/// Version 4: the events feed live consumers follow.
func createEventsFeed(_ db: any SQLDatabase, _ backend: SQLiteCatalogBackend) async throws {
}
