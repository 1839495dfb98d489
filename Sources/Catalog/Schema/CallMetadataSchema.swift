import SQLKit

/// Version 5 (issue 12): a call's metadata, the name → value pairs a user attached to it (a campaign row's
/// extra columns, `exorec call --meta`), as one JSON object in `calls.metadata_json` (NULL when there is
/// none). `catalog search --meta key=value` matches a pair exactly (see ``Catalog/calls(_:)``); `call.json`
/// holds the same object, so a rebuild restores it.
func addCallMetadata(_ db: any SQLDatabase, _ backend: any CatalogBackend) async throws {
    try await db.alter(table: Table.calls).column("metadata_json", type: ColumnType.text).run()
}
