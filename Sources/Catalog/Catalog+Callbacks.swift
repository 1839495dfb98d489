import ExotelKit
import Foundation
import MediaStore
import SQLKit

extension Catalog {
    /// Records a status callback: a new row the first time its dedup key (``CallbackDedupKey``) is seen, one
    /// more delivery on the existing row (whose raw body is kept) after that.
    ///
    /// A callback for a CallSid the catalog does not have is kept too, flagged `unknown_call`. This only
    /// records the callback; ``storeCallback(_:queuedAt:)``, the status-callback endpoint's path, also
    /// applies it to the call and queues its recording, in the same transaction.
    /// - Throws: ``CatalogError/invalidCallback(reason:)`` when the body is not a status callback.
    public func recordCallback(_ received: ReceivedCallback) async throws -> CallbackRecordResult {
        let callback = try Self.parseCallback(received)
        return try await self.transaction("record callback") { db in
            try await Self.insertCallback(
                db,
                callback: callback,
                received: received,
                deliveries: 1,
                lastReceivedAt: received.receivedAt,
                unknownCall: nil
            )
        }
    }

    /// Stores a status callback as the endpoint needs it before answering 200, in one transaction: the
    /// callback recorded (``recordCallback(_:)``); the first time it is seen for a known call, its status
    /// applied to the call; and a terminal callback's recording queued for download from `queuedAt`.
    ///
    /// One transaction, so a crash leaves all of it or none of it. A platform that got no answer sends the
    /// callback again and it is stored whole; separate commits would leave it recorded but never applied,
    /// its retry taken for a duplicate. It also costs one fsynced commit instead of three.
    /// - Throws: ``CatalogError/invalidCallback(reason:)`` when the body is not a status callback.
    public func storeCallback(_ received: ReceivedCallback, queuedAt: Timestamp) async throws -> StoredCallback {
        let callback = try Self.parseCallback(received)
        return try await self.transaction("store callback") { db in
            let record = try await Self.insertCallback(
                db,
                callback: callback,
                received: received,
                deliveries: 1,
                lastReceivedAt: received.receivedAt,
                unknownCall: nil
            )
            guard record.isNew else { return StoredCallback(record: record, download: nil) }
            var created = false
            if record.unknownCall {
                // Not exorec's: the first callback makes it a call placed elsewhere (a CallSid that cannot
                // name a folder stays a flagged callback only).
                created =
                    try await Self.noteCallSeen(
                        db,
                        callSid: callback.callSid,
                        accountSid: callback.accountSid,
                        at: received.receivedAt,
                        streamFolder: nil,
                        numbers: ReportedNumbers(callback)
                    ) == .created
                var isCall = created
                if !isCall { isCall = try await Self.callExists(db, callSid: callback.callSid) }
                guard isCall else { return StoredCallback(record: record, download: nil) }
            }
            try await Self.applyStatus(
                db,
                callSid: callback.callSid,
                StatusChange(callback: callback, at: received.receivedAt)
            )
            guard CallStatus.isTerminal(callback.status ?? ""), let url = callback.recordingURL, !url.isEmpty else {
                return StoredCallback(record: record, download: nil, createdElsewhereCall: created)
            }
            let download = try await Self.enqueueDownload(
                db,
                callSid: callback.callSid,
                url: url,
                notBefore: queuedAt,
                at: queuedAt
            )
            return StoredCallback(record: record, download: download, createdElsewhereCall: created)
        }
    }

    private static func parseCallback(_ received: ReceivedCallback) throws(CatalogError) -> StatusCallback {
        do {
            return try StatusCallback.parse(body: received.body, contentType: received.contentType)
        } catch {
            throw .invalidCallback(reason: error.message)
        }
    }

    /// The callbacks recorded for a call, first received first.
    public func callbacks(callSid: String) async throws -> [CallbackRecord] {
        try await self.exclusive("read callbacks") { db in
            try await db.select().column("*").from(Table.callbacks).where("call_sid", .equal, callSid)
                .orderBy("received_at").orderBy("id").all().map(CallbackRecord.init(row:))
        }
    }

    /// Callbacks whose CallSid was not in the catalog when they arrived.
    public func unknownCallCallbacks(limit: Int = 1000) async throws -> [CallbackRecord] {
        try await self.exclusive("read unknown-call callbacks") { db in
            try await db.select().column("*").from(Table.callbacks).where("unknown_call", .equal, true)
                .orderBy("received_at").orderBy("id").limit(max(0, limit)).all().map(CallbackRecord.init(row:))
        }
    }

    /// Inserts or counts one callback. `unknownCall` nil means "look the call up now"; the rebuilder passes
    /// the flag recorded in `call.json`, which says what was known when the callback arrived.
    static func insertCallback(
        _ db: any SQLDatabase,
        callback: StatusCallback,
        received: ReceivedCallback,
        deliveries: Int,
        lastReceivedAt: Timestamp,
        unknownCall: Bool?
    ) async throws -> CallbackRecordResult {
        let key = CallbackDedupKey.key(for: callback)
        let unknown: Bool
        if let unknownCall {
            unknown = unknownCall
        } else {
            // Unknown means "not a call exorec placed": a call placed elsewhere is one too.
            unknown =
                try await db.select().column("call_sid").from(Table.calls)
                .where("call_sid", .equal, callback.callSid).where("origin", .equal, CallOrigin.exorec.rawValue)
                .first() == nil
        }
        let inserted = try await db.insert(into: Table.callbacks)
            .columns(
                "received_at",
                "last_received_at",
                "deliveries",
                "call_sid",
                "event_type",
                "status",
                "date_updated",
                "recording_url",
                "content_type",
                "raw_body",
                "body_sha256",
                "dedup_key",
                "unknown_call",
                "source_address"
            )
            .values(
                received.receivedAt.millisecondsSinceEpoch,
                lastReceivedAt.millisecondsSinceEpoch,
                deliveries,
                callback.callSid,
                callback.eventType,
                callback.status,
                callback.dateUpdated,
                callback.recordingURL,
                received.contentType,
                Data(received.body),
                SHA256Hex.of(received.body),
                key,
                unknown,
                received.sourceAddress
            )
            .ignoringConflicts(with: "dedup_key")
            .returning("id")
            .first()
        if let inserted {
            return CallbackRecordResult(
                id: try inserted.value("id"),
                outcome: .new,
                unknownCall: unknown,
                callback: callback,
                dedupKey: key
            )
        }
        // Seen before: count the delivery and keep the first body. Two statements, one transaction.
        guard
            let existing = try await db.select().columns("id", "last_received_at", "unknown_call")
                .from(Table.callbacks).where("dedup_key", .equal, key).first()
        else { throw CatalogError.database(operation: "record callback", reason: "dedup key conflict without a row") }
        let id: Int64 = try existing.value("id")
        let last = max(try existing.value("last_received_at", as: Int64.self), lastReceivedAt.millisecondsSinceEpoch)
        try await db.update(Table.callbacks)
            .set("deliveries", to: SQLBinaryExpression(SQLColumn("deliveries"), .add, SQLBind(deliveries)))
            .set("last_received_at", to: last)
            .where("id", .equal, id)
            .run()
        return CallbackRecordResult(
            id: id,
            outcome: .duplicate,
            unknownCall: try existing.value("unknown_call"),
            callback: callback,
            dedupKey: key
        )
    }
}

extension CallbackRecord {
    init(row: any SQLRow) throws {
        self.id = try row.value("id")
        self.receivedAt = try row.timestamp("received_at")
        self.lastReceivedAt = try row.timestamp("last_received_at")
        self.deliveries = try row.value("deliveries")
        self.callSid = try row.value("call_sid")
        self.eventType = try row.optional("event_type")
        self.status = try row.optional("status")
        self.dateUpdated = try row.optional("date_updated")
        self.recordingURL = try row.optional("recording_url")
        self.contentType = try row.value("content_type")
        self.rawBody = try row.value("raw_body")
        self.bodySHA256 = try row.value("body_sha256")
        self.dedupKey = try row.value("dedup_key")
        self.unknownCall = try row.value("unknown_call")
        self.sourceAddress = try row.optional("source_address")
    }
}
