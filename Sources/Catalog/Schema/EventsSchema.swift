import Crypto
import SQLKit

extension Table {
    static let events = "events"
}

/// Version 4: the events feed live consumers follow, and a stable id for every media file.
///
/// Event ids come from an `AUTOINCREMENT` key, so they only ever grow, also after old progress events
/// are pruned: a consumer's "after this id" never skips a newer event. Media ids are derived from the
/// file's path (see ``MediaFile/id``), so they survive a `catalog rebuild`, which renumbers rows.
func createEventsFeed(_ db: any SQLDatabase, _ backend: any CatalogBackend) async throws {
    typealias T = ColumnType
    try await db.create(table: Table.events)
        .column("id", type: T.integer, .primaryKey(autoIncrement: true))
        .column("at", type: T.time, .notNull)
        .column(
            "type",
            type: T.text,
            .notNull,
            .check(SQLRaw("type IN (\(FeedEvent.Kind.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")))"))
        )
        .column("call_sid", type: T.text, .notNull)
        .column("stream_sid", type: T.text)
        .column("media_id", type: T.text)
        .column("path", type: T.text)
        .column("detail_json", type: T.text, .notNull)
        .run()
    try await db.create(index: "events_type_at").on(Table.events).column("type").column("at").run()
    try await db.create(index: "events_call").on(Table.events).column("call_sid").run()

    try await db.alter(table: Table.mediaFiles).column("media_id", type: T.text).run()
    for row in try await db.select().column("path").from(Table.mediaFiles).all() {
        let path: String = try row.value("path")
        try await db.update(Table.mediaFiles).set("media_id", to: MediaFile.id(forPath: path)).where(
            "path",
            .equal,
            path
        ).run()
    }
    try await db.create(index: "media_files_media_id").unique().on(Table.mediaFiles).column("media_id").run()
}
