import ExotelKit
import Foundation
import MediaStore
import SQLKit

/// Version 5: calls placed elsewhere. Another tool (a CRM, a call flow) can place a call with exorec's
/// `StreamUrl` and `StatusCallback`; its first stream or callback makes it a call of the catalog.
///
/// - `origin`: `exorec` (exorec placed it) or `elsewhere`; existing rows are exorec's.
/// - CallSids of an older catalog that have callbacks or streams but no call become calls placed elsewhere.
/// - `folder`: the call's folder relative to the storage root, fixed when the call was first seen
///   (`media/<account>/<yyyy>/<mm>/<dd>/<CallSid>`); null for exorec's calls, whose folder follows from
///   their account and placement time.
func createElsewhereCalls(_ db: any SQLDatabase) async throws {
    typealias T = ColumnType
    try await db.alter(table: Table.calls)
        .column(
            "origin",
            type: T.text,
            .notNull,
            .default(SQLLiteral.string(CallOrigin.exorec.rawValue)),
            .check(SQLRaw("origin IN ('exorec', 'elsewhere')"))
        )
        .run()
    try await db.alter(table: Table.calls).column("folder", type: T.text).run()
    try await db.create(index: "calls_origin").on(Table.calls).column("origin").run()
    try await adoptCallsPlacedElsewhere(db)
}

/// Part of version 5, apart so that tests can run it on a catalog they made look old.
func adoptCallsPlacedElsewhere(_ db: any SQLDatabase) async throws {
    // A catalog of an older version kept the callbacks and streams of such calls without a call: they become
    // calls placed elsewhere now, as a rebuild of the same files makes them (callbacks first: their statuses;
    // then streams: the account and the stream's folder).
    let exorecCalls = SQLSubquery.select {
        $0.column("call_sid").from(Table.calls).where("origin", .equal, CallOrigin.exorec.rawValue)
    }
    let callbacks = try await db.select().columns("call_sid", "raw_body", "content_type", "received_at").from(
        Table.callbacks
    )
    .where("call_sid", .notIn, exorecCalls).orderBy("received_at").orderBy("id").all()
    for row in callbacks {
        let callSid: String = try row.value("call_sid")
        let at = try row.timestamp("received_at")
        let body: Data = try row.value("raw_body")
        let callback = try? StatusCallback.parse(body: Array(body), contentType: row.value("content_type"))
        try await Catalog.noteCallSeen(
            db,
            callSid: callSid,
            accountSid: callback?.accountSid,
            at: at,
            streamFolder: nil,
            numbers: callback.map(Catalog.ReportedNumbers.init) ?? Catalog.ReportedNumbers()
        )
        guard let callback, try await Catalog.callExists(db, callSid: callSid) else { continue }
        try await Catalog.applyStatus(db, callSid: callSid, StatusChange(callback: callback, at: at), announce: false)
    }
    let streams = try await db.select().columns(
        "call_sid",
        "account_sid",
        "started_at",
        "path",
        "from_number",
        "to_number"
    ).from(Table.streams)
        .where("call_sid", .notIn, exorecCalls).orderBy("started_at").orderBy("path").all()
    for row in streams {
        let path: String = try row.value("path")
        try await Catalog.noteCallSeen(
            db,
            callSid: try row.value("call_sid"),
            accountSid: try row.value("account_sid"),
            at: try row.timestamp("started_at"),
            streamFolder: Catalog.parentFolder(of: path),
            numbers: Catalog.ReportedNumbers(from: try row.optional("from_number"), to: try row.optional("to_number")),
            movingPastMedia: true
        )
    }
}
