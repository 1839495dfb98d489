import SQLKit

/// Version 5: calls placed elsewhere. Another tool (a CRM, a call flow) can place a call with exorec's
/// `StreamUrl` and `StatusCallback`; its first stream or callback makes it a call of the catalog.
///
/// - `origin`: `exorec` (exorec placed it) or `elsewhere`; existing rows are exorec's.
/// - `folder`: the call's folder relative to the storage root, fixed when the call was first seen
///   (`media/<account>/<yyyy>/<mm>/<dd>/<CallSid>`); null for exorec's calls, whose folder follows from
///   their account and placement time.
func createElsewhereCalls(_ db: any SQLDatabase) async throws {
    typealias T = ColumnType
    try await db.alter(table: Table.calls)
        .column(
            "origin", type: T.text, .notNull, .default(SQLLiteral.string(CallOrigin.exorec.rawValue)),
            .check(SQLRaw("origin IN ('exorec', 'elsewhere')")))
        .run()
    try await db.alter(table: Table.calls).column("folder", type: T.text).run()
    try await db.create(index: "calls_origin").on(Table.calls).column("origin").run()
}
