import SQLKit

/// One versioned change of the catalog's schema. Migrations are applied in order, each in its own transaction
/// together with its row in `schema_migrations`; a released migration is never edited, only followed by another.
struct CatalogMigration: Sendable {
    static let table = "schema_migrations"

    let version: Int
    let name: String
    let apply: @Sendable (any SQLDatabase, any CatalogBackend) async throws -> Void

    /// Every migration, oldest first. The last version is ``Catalog/supportedSchemaVersion``.
    static let all: [CatalogMigration] = [
        CatalogMigration(
            version: 1,
            name: "initial schema",
            apply: { db, backend in try await createInitialSchema(db, backend) }
        ),
        CatalogMigration(version: 2, name: "campaign rows", apply: { db, _ in try await createCampaignRows(db) }),
        CatalogMigration(
            version: 3,
            name: "legal holds and retention",
            apply: { db, backend in try await createLegalHoldsAndRetention(db, backend) }
        ),
        CatalogMigration(
            version: 4,
            name: "events feed",
            apply: { db, backend in try await createEventsFeed(db, backend) }
        ),
        CatalogMigration(
            version: 5,
            name: "calls placed elsewhere",
            apply: { db, _ in try await createElsewhereCalls(db) }
        ),
        CatalogMigration(
            version: 6,
            name: "call metadata",
            apply: { db, backend in try await addCallMetadata(db, backend) }
        ),
        CatalogMigration(version: 7, name: "stream pauses", apply: { db, _ in try await addStreamPauses(db) }),
        CatalogMigration(
            version: 8,
            name: "node registry and reconcile claims",
            apply: { db, _ in try await createNodes(db) }
        ),
        CatalogMigration(version: 9, name: "object archive", apply: { db, _ in try await createObjectArchive(db) }),
        CatalogMigration(
            version: 10,
            name: "console sessions",
            apply: { db, _ in try await createConsoleSessions(db) }
        ),
    ]
}

/// Table names, so that a typo is a compile error.
enum Table {
    static let calls = "calls"
    static let statusHistory = "call_status_history"
    static let callbacks = "callbacks"
    static let streams = "streams"
    static let recordings = "recordings"
    static let mediaFiles = "media_files"
    static let downloads = "download_queue"
    static let audit = "audit_log"
    static let campaignRows = "campaign_rows"
}

/// Column types used in both dialects. Times are epoch milliseconds in a 64-bit integer (`INTEGER` in SQLite,
/// `BIGINT` in PostgreSQL, via SQLKit's dialects); flags are `BOOLEAN` (stored 0/1 by SQLite); durations are
/// `DOUBLE PRECISION` (REAL affinity in SQLite, 8-byte in PostgreSQL where plain `REAL` would be 4).
enum ColumnType {
    static let time = SQLDataType.bigint
    static let integer = SQLDataType.bigint
    static let text = SQLDataType.text
    static let blob = SQLDataType.blob
    static let boolean = SQLDataType.custom(SQLRaw("BOOLEAN"))
    static let double = SQLDataType.custom(SQLRaw("DOUBLE PRECISION"))
}

private func createInitialSchema(_ db: any SQLDatabase, _ backend: any CatalogBackend) async throws {
    typealias T = ColumnType

    // Calls exorec placed (and, from version 5, calls placed elsewhere): the request as JSON plus the parameters searched on as columns, and the status
    // as it stands (derived from call_status_history, kept here for search).
    try await db.create(table: Table.calls)
        .column("call_sid", type: T.text, .primaryKey(autoIncrement: false))
        .column("account_sid", type: T.text, .notNull)
        .column("placed_at", type: T.time, .notNull)
        .column("parameters_json", type: T.text, .notNull)
        .column("from_number", type: T.text)
        .column("to_number", type: T.text)
        .column("caller_id", type: T.text)
        .column("flow_url", type: T.text)
        .column("custom_field", type: T.text)
        .column("recording_channels", type: T.text)
        .column("recording_format", type: T.text)
        .column("stream_url", type: T.text)
        .column("campaign_id", type: T.text)
        .column("campaign_row_key", type: T.text)
        .column("status", type: T.text, .notNull)
        .column("legs_json", type: T.text)
        .column("platform_call_json", type: T.text, .notNull)
        .column("terminal_at", type: T.time)
        .column("conversation_duration", type: T.integer)
        .column("recording_url", type: T.text)
        .column("updated_at", type: T.time, .notNull)
        .run()
    for column in ["placed_at", "from_number", "to_number", "caller_id", "custom_field", "status", "terminal_at"] {
        try await db.create(index: "calls_\(column)").on(Table.calls).column(column).run()
    }
    try await db.create(index: "calls_campaign").on(Table.calls).column("campaign_id").column("campaign_row_key").run()

    // Every status exorec learnt of, in order, and from where.
    try await db.create(table: Table.statusHistory)
        .column("id", type: T.integer, .primaryKey(autoIncrement: true))
        .column("call_sid", type: T.text, .notNull, .references(Table.calls, "call_sid"))
        .column("status", type: T.text, .notNull)
        .column("source", type: T.text, .notNull, .check(SQLRaw("source IN ('placed', 'callback', 'reconciler')")))
        .column("at", type: T.time, .notNull)
        .column("legs_json", type: T.text)
        .column("conversation_duration", type: T.integer)
        .column("recording_url", type: T.text)
        .run()
    try await db.create(index: "call_status_history_call").on(Table.statusHistory).column("call_sid").column("id").run()

    // Every distinct status callback received, raw body kept. No foreign key: callbacks for calls exorec
    // did not place are kept too (flagged).
    try await db.create(table: Table.callbacks)
        .column("id", type: T.integer, .primaryKey(autoIncrement: true))
        .column("received_at", type: T.time, .notNull)
        .column("last_received_at", type: T.time, .notNull)
        .column("deliveries", type: T.integer, .notNull)
        .column("call_sid", type: T.text, .notNull)
        .column("event_type", type: T.text)
        .column("status", type: T.text)
        .column("date_updated", type: T.text)
        .column("recording_url", type: T.text)
        .column("content_type", type: T.text, .notNull)
        .column("raw_body", type: T.blob, .notNull)
        .column("body_sha256", type: T.text, .notNull)
        .column("dedup_key", type: T.text, .notNull, .unique)
        .column("unknown_call", type: T.boolean, .notNull)
        .column("source_address", type: T.text)
        .run()
    try await db.create(index: "callbacks_call").on(Table.callbacks).column("call_sid").run()
    try await db.create(index: "callbacks_received_at").on(Table.callbacks).column("received_at").run()

    // One row per stream file (a repeated stream_sid gets a second file, so the path is the key).
    try await db.create(table: Table.streams)
        .column("id", type: T.integer, .primaryKey(autoIncrement: true))
        .column("stream_sid", type: T.text, .notNull)
        .column("call_sid", type: T.text, .notNull)
        .column("account_sid", type: T.text, .notNull)
        .column("path", type: T.text, .notNull, .unique)
        .column("state", type: T.text, .notNull)
        .column("sample_rate", type: T.integer, .notNull)
        .column("channels", type: T.integer)
        .column("from_number", type: T.text)
        .column("to_number", type: T.text)
        .column("custom_parameters_json", type: T.text, .notNull)
        .column("started_at", type: T.time, .notNull)
        .column("ended_at", type: T.time)
        .column("close_reason", type: T.text)
        .column("frames", type: T.integer, .notNull)
        .column("duration_seconds", type: T.double, .notNull)
        .column("gap_ms_total", type: T.integer, .notNull)
        .run()
    try await db.create(index: "streams_stream_sid").on(Table.streams).column("stream_sid").run()
    try await db.create(index: "streams_call").on(Table.streams).column("call_sid").run()

    // One row per downloaded platform recording.
    try await db.create(table: Table.recordings)
        .column("id", type: T.integer, .primaryKey(autoIncrement: true))
        .column("call_sid", type: T.text, .notNull)
        .column("account_sid", type: T.text, .notNull)
        .column("url", type: T.text, .notNull)
        .column("path", type: T.text, .notNull, .unique)
        .column("state", type: T.text, .notNull)
        .column("fetched_at", type: T.time, .notNull)
        .column("http_status", type: T.integer)
        .column("content_type", type: T.text)
        .column("format", type: T.text, .notNull)
        .column("channels", type: T.integer)
        .column("sample_rate", type: T.integer)
        .column("duration_seconds", type: T.double)
        .column("bytes", type: T.integer, .notNull)
        .column("sha256", type: T.text, .notNull)
        .run()
    try await db.create(index: "recordings_call").on(Table.recordings).column("call_sid").run()

    // One row per media file, whatever produced it: what compliance verifies, holds and exports.
    try await db.create(table: Table.mediaFiles)
        .column("id", type: T.integer, .primaryKey(autoIncrement: true))
        .column("call_sid", type: T.text, .notNull)
        .column("kind", type: T.text, .notNull, .check(SQLRaw("kind IN ('stream', 'recording')")))
        .column("path", type: T.text, .notNull, .unique)
        .column("format", type: T.text, .notNull)
        .column("sample_rate", type: T.integer)
        .column("channels", type: T.integer)
        .column("duration_seconds", type: T.double)
        .column("bytes", type: T.integer)
        .column("sha256", type: T.text)
        .column("state", type: T.text, .notNull)
        .column("created_at", type: T.time, .notNull)
        .column("updated_at", type: T.time, .notNull)
        .run()
    try await db.create(index: "media_files_call").on(Table.mediaFiles).column("call_sid").run()
    try await db.create(index: "media_files_kind").on(Table.mediaFiles).column("kind").run()

    // The durable download queue: claimed row by row with a lease, so any node can take any job and a job
    // held by a dead worker comes back when its lease runs out.
    try await db.create(table: Table.downloads)
        .column("id", type: T.integer, .primaryKey(autoIncrement: true))
        .column("call_sid", type: T.text, .notNull)
        .column("url", type: T.text, .notNull)
        .column(
            "state",
            type: T.text,
            .notNull,
            .check(SQLRaw("state IN ('queued', 'running', 'done', 'failed', 'refused')"))
        )
        .column("attempts", type: T.integer, .notNull)
        .column("next_attempt_at", type: T.time, .notNull)
        .column("lease_until", type: T.time)
        .column("claim_token", type: T.text)
        .column("last_error", type: T.text)
        .column("created_at", type: T.time, .notNull)
        .column("updated_at", type: T.time, .notNull)
        .unique("call_sid", "url")
        .run()
    try await db.create(index: "download_queue_due").on(Table.downloads).column("state").column("next_attempt_at").run()

    // The audit trail: append-only and hash-chained (each entry's hash covers the previous entry's hash).
    // `prev_hash` is unique, so the chain cannot fork.
    try await db.create(table: Table.audit)
        .column("seq", type: T.integer, .primaryKey(autoIncrement: false))
        .column("at", type: T.time, .notNull)
        .column("actor", type: T.text, .notNull)
        .column("action", type: T.text, .notNull)
        .column("call_sid", type: T.text)
        .column("path", type: T.text)
        .column("detail", type: T.text, .notNull)
        .column("prev_hash", type: T.text, .notNull, .unique)
        .column("hash", type: T.text, .notNull, .unique)
        .run()
    try await db.create(index: "audit_log_call").on(Table.audit).column("call_sid").run()
    try await db.create(index: "audit_log_path").on(Table.audit).column("path").run()
    try await backend.makeAppendOnly(Table.audit, on: db)
}

/// A campaign's rows, claimed before their call is placed: a rerun places only rows never claimed,
/// so no row is placed twice, even when a crash fell between the platform's answer and the catalog.
private func createCampaignRows(_ db: any SQLDatabase) async throws {
    typealias T = ColumnType
    try await db.create(table: Table.campaignRows)
        .column("campaign_id", type: T.text, .notNull)
        .column("row_key", type: T.text, .notNull)
        .column("line", type: T.integer, .notNull)
        .column("state", type: T.text, .notNull, .check(SQLRaw("state IN ('placing', 'placed', 'failed')")))
        .column("call_sid", type: T.text)
        .column("error", type: T.text)
        .column("created_at", type: T.time, .notNull)
        .column("updated_at", type: T.time, .notNull)
        .primaryKey("campaign_id", "row_key")
        .run()
}
