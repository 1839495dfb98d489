import SQLKit

extension Table {
    /// The upload queue of the object archive: one row per finished file to seal in the bucket.
    static let archiveQueue = "archive_queue"
    /// What the bucket holds for each archived file: key, version, checksum, lock, legal hold, eviction.
    static let archivedObjects = "archived_objects"
}

/// Version 9: the WORM archive on object storage (docs/ARCHIVE.md, "Object Lock archive").
///
/// `archive_queue` is claimed row by row with a lease (as `download_queue`), so any node uploads any file and
/// a job held by a dead node comes back when its lease runs out. A row is `done` once its object is recorded
/// in `archived_objects` (same transaction). The queue is filled by the archiver's scan of finished media
/// (``Catalog/enqueueFinishedMediaForArchive(at:limit:)``), which is idempotent: a file is queued once
/// (`path` unique), whenever the scan first sees it, so a crash between finalize and enqueue loses nothing.
///
/// `archived_objects.hold_version` counts the changes of the call's legal hold since the upload
/// (``Catalog/placeHold(callSid:reason:by:actor:at:)`` bumps it in its own transaction);
/// `hold_synced_version` is the last change the store was told of. The object's legal hold is out of date
/// while they differ.
func createObjectArchive(_ db: any SQLDatabase) async throws {
    typealias T = ColumnType
    try await db.create(table: Table.archiveQueue)
        .column("id", type: T.integer, .primaryKey(autoIncrement: true))
        .column("path", type: T.text, .notNull, .unique)
        .column("call_sid", type: T.text, .notNull)
        .column("kind", type: T.text, .notNull)
        .column("state", type: T.text, .notNull, .check(SQLRaw("state IN ('queued', 'running', 'done', 'failed')")))
        .column("attempts", type: T.integer, .notNull)
        .column("next_attempt_at", type: T.time, .notNull)
        .column("lease_until", type: T.time)
        .column("claim_token", type: T.text)
        .column("last_error", type: T.text)
        .column("created_at", type: T.time, .notNull)
        .column("updated_at", type: T.time, .notNull)
        .run()
    try await db.create(index: "archive_queue_due").on(Table.archiveQueue).column("state").column("next_attempt_at")
        .run()
    try await db.create(index: "archive_queue_call").on(Table.archiveQueue).column("call_sid").run()

    try await db.create(table: Table.archivedObjects)
        .column("path", type: T.text, .primaryKey(autoIncrement: false))
        .column("call_sid", type: T.text, .notNull)
        .column("kind", type: T.text, .notNull)
        .column("bucket", type: T.text, .notNull)
        .column("object_key", type: T.text, .notNull)
        .column("version_id", type: T.text, .notNull)
        .column("sha256", type: T.text, .notNull)
        .column("checksum", type: T.text, .notNull)
        .column("bytes", type: T.integer, .notNull)
        .column("lock_mode", type: T.text)
        .column("retain_until", type: T.time)
        .column("legal_hold", type: T.boolean, .notNull)
        .column("hold_version", type: T.integer, .notNull, .default(0))
        .column("hold_synced_version", type: T.integer, .notNull, .default(0))
        .column("uploaded_at", type: T.time, .notNull)
        .column("uploaded_by", type: T.text, .notNull)
        .column("evicted_at", type: T.time)
        .run()
    try await db.create(index: "archived_objects_call").on(Table.archivedObjects).column("call_sid").run()
    try await db.create(index: "archived_objects_uploaded").on(Table.archivedObjects).column("uploaded_at").run()
    // The objects whose legal hold the store may not have yet, read every archiver round: a partial index
    // (both databases have them) keeps that read off the whole table.
    try await db.raw(
        "CREATE INDEX archived_objects_hold_pending ON archived_objects (path) WHERE hold_version <> hold_synced_version"
    ).run()
}
