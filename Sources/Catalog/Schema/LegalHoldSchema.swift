import SQLKit

extension Table {
    /// Legal holds, one row per hold placed; a released hold keeps its row (who, when and why it was released).
    static let legalHolds = "legal_holds"
    /// One row per call retention deleted or is deleting: what it set out to remove, so a run that was
    /// killed half-way is finished by the next one.
    static let retentionJournal = "retention_journal"
}

/// Version 3: legal holds and the retention journal.
///
/// A call is held while it has a row in `legal_holds` with `released_at` NULL (at most one: `Catalog.placeHold`
/// checks in its write transaction). A journal row is `pending` from before retention deletes the call's first
/// file until the transaction that deletes its catalog rows and writes its audit entries marks it `done`.
func createLegalHoldsAndRetention(_ db: any SQLDatabase, _ backend: any CatalogBackend) async throws {
    typealias T = ColumnType
    try await db.create(table: Table.legalHolds)
        .column("id", type: T.integer, .primaryKey(autoIncrement: true))
        .column("call_sid", type: T.text, .notNull)
        .column("reason", type: T.text, .notNull)
        .column("placed_by", type: T.text, .notNull)
        .column("placed_at", type: T.time, .notNull)
        .column("released_by", type: T.text)
        .column("released_at", type: T.time)
        .column("release_reason", type: T.text)
        .run()
    try await db.create(index: "legal_holds_call").on(Table.legalHolds).column("call_sid").column("released_at").run()

    try await db.create(table: Table.retentionJournal)
        .column("id", type: T.integer, .primaryKey(autoIncrement: true))
        .column("run_id", type: T.text, .notNull)
        .column("call_sid", type: T.text, .notNull)
        .column("state", type: T.text, .notNull, .check(SQLRaw("state IN ('pending', 'done')")))
        .column("cutoff", type: T.time, .notNull)
        .column("call_time", type: T.time, .notNull)
        .column("actor", type: T.text, .notNull)
        .column("files_json", type: T.text, .notNull)
        .column("directories_json", type: T.text, .notNull)
        .column("started_at", type: T.time, .notNull)
        .column("finished_at", type: T.time)
        .run()
    try await db.create(index: "retention_journal_call").on(Table.retentionJournal).column("call_sid").run()
    try await db.create(index: "retention_journal_state").on(Table.retentionJournal).column("state").run()
}
