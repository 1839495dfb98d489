import ExotelKit
import Foundation
import MediaStore
import SQLKit

extension Catalog {
    /// Records a call exorec has placed, with its first status (the platform's answer, source `placed`).
    ///
    /// Status callbacks that arrived before the call was recorded (the platform can call back before the
    /// placing process has written its answer; they are flagged `unknown_call`) are applied now, in the order
    /// they arrived, so the call's status does not depend on that race. Whoever queues recordings should then
    /// look at ``callsWithUnqueuedRecordings(limit:)``.
    ///
    /// Idempotent: a CallSid already in the catalog is left as it is.
    /// - Returns: false when the call was recorded before.
    @discardableResult
    public func recordPlacedCall(_ call: PlacedCall) async throws -> Bool {
        try await self.transaction("record placed call") { db in
            // A call first seen as placed elsewhere (its answer was lost, and a stream or callback came
            // first) becomes exorec's: the placement's fields win, its history is the placement's then
            // the callbacks' again, in the order they arrived.
            let adopted = try await Self.adoptElsewhereCall(
                db,
                callSid: call.callSid,
                account: call.accountSid,
                placedAt: call.placedAt
            )
            // Its completion was announced already if it had ended.
            let announce = adopted?.wasTerminal != true
            let inserted = try await Self.insertCall(
                db,
                callSid: call.callSid,
                accountSid: call.accountSid,
                placedAt: call.placedAt,
                parameters: call.parameters,
                campaignId: call.campaignId,
                campaignRowKey: call.campaignRowKey,
                metadata: call.metadata,
                status: call.platformCall.status,
                platformCallJSON: String(decoding: call.platformCall.jsonBody(), as: UTF8.self)
            )
            guard inserted else { return false }
            if let folder = adopted?.folder {
                try await db.update(Table.calls).set("folder", to: folder).where("call_sid", .equal, call.callSid).run()
            }
            try await Self.applyStatus(
                db,
                callSid: call.callSid,
                StatusChange(
                    status: call.platformCall.status,
                    source: .placed,
                    at: call.placedAt,
                    recordingURL: call.platformCall.recordingURL.flatMap { $0.isEmpty ? nil : $0 }
                ),
                announce: announce
            )
            let early = try await db.select().columns("raw_body", "content_type", "received_at").from(Table.callbacks)
                .where("call_sid", .equal, call.callSid).orderBy("received_at").orderBy("id").all()
            for row in early {
                let body: Data = try row.value("raw_body")
                // Parsed once already when it was recorded; a body that no longer parses is left out.
                guard
                    let callback = try? StatusCallback.parse(body: Array(body), contentType: row.value("content_type"))
                else { continue }
                try await Self.applyStatus(
                    db,
                    callSid: call.callSid,
                    StatusChange(callback: callback, at: try row.timestamp("received_at")),
                    announce: announce
                )
            }
            return true
        }
    }

    /// Calls whose recording URL is known but that have neither a recording file nor a download job: a sweep
    /// for whatever queues downloads, so that no recording is forgotten (a crash between recording a terminal
    /// callback and queuing its download, a callback that arrived before its call was recorded, a rebuild).
    public func callsWithUnqueuedRecordings(limit: Int = 1000) async throws -> [CallRecord] {
        try await self.exclusive("read calls with unqueued recordings") { db in
            try await Self.callsWithUnqueuedRecordings(db, limit: limit)
        }
    }

    static func callsWithUnqueuedRecordings(_ db: any SQLDatabase, limit: Int) async throws -> [CallRecord] {
        try await db.select().column("*").from(Table.calls)
            .where("recording_url", .isNot, SQLLiteral.null)
            .where(
                "call_sid",
                .notIn,
                SQLSubquery.select {
                    $0.column("call_sid").from(Table.mediaFiles).where("kind", .equal, MediaKind.recording.rawValue)
                        .where("state", .notEqual, MediaFileState.missing.rawValue)
                }
            )
            .where("call_sid", .notIn, SQLSubquery.select { $0.column("call_sid").from(Table.downloads) })
            .orderBy("placed_at").orderBy("call_sid")
            .limit(max(0, limit))
            .all().map(CallRecord.init(row:))
    }

    /// Appends a status to the call's history and updates its current status, terminal time, legs,
    /// conversation duration and recording URL.
    ///
    /// A terminal status (``CallStatus/terminal``) is never replaced by a non-terminal one that arrives late
    /// (an `answered` callback retried after `terminal`); the history keeps both.
    /// - Throws: ``CatalogError/unknownCall(callSid:)`` if the call is not in the catalog.
    public func appendStatus(callSid: String, _ change: StatusChange) async throws {
        _ = try await self.transaction("append status") { db in
            try await Self.applyStatus(db, callSid: callSid, change)
        }
    }

    /// Records what Call Details says about a call (the reconciler's path): the platform's `Call` replaces the
    /// stored one, and a status (source `reconciler`) is appended when the status changed or a recording URL
    /// appeared. A call placed elsewhere whose account was not known learns it from the answer.
    /// - Returns: whether a status was appended (or the account learnt): `call.json` needs rewriting.
    @discardableResult
    public func recordCallDetails(_ details: PlatformCall, at time: Timestamp) async throws -> Bool {
        try await self.transaction("record call details") { db in
            guard
                let current = try await db.select().columns("status", "recording_url").from(Table.calls)
                    .where("call_sid", .equal, details.sid).first()
            else { throw CatalogError.unknownCall(callSid: details.sid) }
            // A call placed elsewhere learns its account (and numbers it lacks) from the platform's answer.
            let learnt =
                try await Self.noteCallSeen(
                    db,
                    callSid: details.sid,
                    accountSid: details.accountSid,
                    at: time,
                    streamFolder: nil,
                    numbers: ReportedNumbers(from: details.from, to: details.to)
                ) == .accountLearnt
            try await db.update(Table.calls)
                .set("platform_call_json", to: String(decoding: details.jsonBody(), as: UTF8.self))
                .set("updated_at", to: time.millisecondsSinceEpoch)
                .where("call_sid", .equal, details.sid)
                .run()
            let recordingURL = details.recordingURL.flatMap { $0.isEmpty ? nil : $0 }
            let knownURL = try current.optional("recording_url", as: String.self)
            guard
                try details.status != current.value("status", as: String.self)
                    || (recordingURL != nil && knownURL == nil)
            else { return learnt }
            var legs: [CallLeg]?
            if let detail = details.details, detail.leg1Status != nil || detail.leg2Status != nil {
                legs = [CallLeg(status: detail.leg1Status), CallLeg(status: detail.leg2Status)]
            }
            try await Self.applyStatus(
                db,
                callSid: details.sid,
                StatusChange(
                    status: details.status,
                    source: .reconciler,
                    at: time,
                    legs: legs,
                    conversationDuration: details.details?.conversationDuration,
                    recordingURL: recordingURL
                )
            )
            return true
        }
    }

    /// The call, or nil if the catalog does not have it.
    public func call(sid: String) async throws -> CallRecord? {
        try await self.exclusive("read call") { db in
            try await db.select().column("*").from(Table.calls).where("call_sid", .equal, sid).first()
                .map(CallRecord.init(row:))
        }
    }

    /// Calls matching `query`, oldest placement first.
    public func calls(_ query: CallQuery = CallQuery()) async throws -> [CallRecord] {
        try await self.exclusive("search calls") { db in
            let select = db.select().column("*").from(Table.calls)
            if let from = query.placedFrom {
                select.where("placed_at", .greaterThanOrEqual, from.millisecondsSinceEpoch)
            }
            if let before = query.placedBefore { select.where("placed_at", .lessThan, before.millisecondsSinceEpoch) }
            if let number = query.number {
                select.where(group: {
                    $0.where("from_number", .equal, number).orWhere("to_number", .equal, number)
                        .orWhere("caller_id", .equal, number)
                })
            }
            if let sid = query.callSid { select.where("call_sid", .equal, sid) }
            if let status = query.status { select.where("status", .equal, status) }
            if let field = query.customField { select.where("custom_field", .equal, field) }
            if let campaign = query.campaignId { select.where("campaign_id", .equal, campaign) }
            for (key, value) in query.metadata.sorted(by: { $0.key < $1.key }) {
                // Exact: one of the call's pairs has this key and this value (the dialect's JSON function).
                select.where(self.backend.dialect.metadataPair(key, value))
            }
            if let origin = query.origin { select.where("origin", .equal, origin.rawValue) }
            if let kind = query.mediaKind {
                select.where(
                    "call_sid",
                    .in,
                    SQLSubquery.select {
                        $0.column("call_sid").from(Table.mediaFiles).where("kind", .equal, kind.rawValue)
                    }
                )
            }
            return try await select.orderBy("placed_at").orderBy("call_sid")
                .limit(max(0, query.limit)).offset(max(0, query.offset))
                .all().map(CallRecord.init(row:))
        }
    }

    /// Calls with no terminal status yet that were placed before `time`: the reconciler asks the platform
    /// about these (callbacks can be lost; the platform promises no retries).
    public func callsAwaitingTerminal(placedBefore time: Timestamp, limit: Int = 1000) async throws -> [CallRecord] {
        try await self.exclusive("read calls awaiting terminal") { db in
            try await db.select().column("*").from(Table.calls)
                .where("terminal_at", .is, SQLLiteral.null)
                .where("placed_at", .lessThan, time.millisecondsSinceEpoch)
                .orderBy("placed_at").orderBy("call_sid")
                .limit(max(0, limit))
                .all().map(CallRecord.init(row:))
        }
    }

    /// The call's status history, in the order it was learnt.
    public func statusHistory(callSid: String) async throws -> [StatusChange] {
        try await self.exclusive("read status history") { db in
            try await Self.statusHistory(db, callSid: callSid)
        }
    }

    // MARK: - Shared with the rebuilder (run inside a transaction)

    static func statusHistory(_ db: any SQLDatabase, callSid: String) async throws -> [StatusChange] {
        try await db.select().column("*").from(Table.statusHistory).where("call_sid", .equal, callSid)
            .orderBy("id").all()
            .map { row in
                StatusChange(
                    status: try row.value("status"),
                    source: try StatusSource(rawValue: row.value("source")) ?? .callback,
                    at: try row.timestamp("at"),
                    legs: try row.optional("legs_json", as: String.self).map {
                        try CatalogJSON.decode([CallLeg].self, from: $0, column: "legs_json")
                    },
                    conversationDuration: try row.optional("conversation_duration"),
                    recordingURL: try row.optional("recording_url")
                )
            }
    }

    /// Inserts the call's row (no history). False if the CallSid is there already.
    static func insertCall(
        _ db: any SQLDatabase,
        callSid: String,
        accountSid: String,
        placedAt: Timestamp,
        parameters: [String: String],
        campaignId: String?,
        campaignRowKey: String?,
        metadata: [String: String] = [:],
        status: String,
        platformCallJSON: String
    ) async throws -> Bool {
        // Redacted again here whatever the caller passed: credentials never reach the catalog.
        let parameters = parameters.mapValues(URLRedaction.redacting)
        func parameter(_ name: String) -> String? {
            let key = name.lowercased()
            return parameters.first { $0.key.lowercased() == key }?.value
        }
        let row = try await db.insert(into: Table.calls)
            .columns(
                "call_sid",
                "account_sid",
                "placed_at",
                "parameters_json",
                "from_number",
                "to_number",
                "caller_id",
                "flow_url",
                "custom_field",
                "recording_channels",
                "recording_format",
                "stream_url",
                "campaign_id",
                "campaign_row_key",
                "status",
                "platform_call_json",
                "updated_at",
                "metadata_json"
            )
            .values(
                callSid,
                accountSid,
                placedAt.millisecondsSinceEpoch,
                CatalogJSON.encode(parameters),
                parameter("From"),
                parameter("To"),
                parameter("CallerId"),
                parameter("Url"),
                parameter("CustomField"),
                parameter("RecordingChannels"),
                parameter("RecordingFormat"),
                parameter("StreamUrl"),
                campaignId,
                campaignRowKey,
                status,
                platformCallJSON,
                placedAt.millisecondsSinceEpoch,
                metadata.isEmpty ? nil : CatalogJSON.encode(metadata)
            )
            .ignoringConflicts(with: "call_sid")
            .returning("call_sid")
            .first()
        return row != nil
    }

    /// Appends `change` to the history and applies it to the call's row. With `announce` (the live paths;
    /// a rebuild passes false), a call's first terminal status puts `call.completed` in the events feed.
    /// - Returns: the id of that event, if one was added.
    @discardableResult
    static func applyStatus(
        _ db: any SQLDatabase,
        callSid: String,
        _ change: StatusChange,
        announce: Bool = true
    ) async throws -> Int64? {
        guard
            let current = try await db.select().columns("status", "terminal_at").from(Table.calls)
                .where("call_sid", .equal, callSid).first()
        else { throw CatalogError.unknownCall(callSid: callSid) }
        let legsJSON = change.legs.map(CatalogJSON.encode)
        try await db.insert(into: Table.statusHistory)
            .columns("call_sid", "status", "source", "at", "legs_json", "conversation_duration", "recording_url")
            .values(
                callSid,
                change.status,
                change.source.rawValue,
                change.at.millisecondsSinceEpoch,
                legsJSON,
                change.conversationDuration,
                change.recordingURL
            )
            .run()

        let terminalAt = try current.optional("terminal_at", as: Int64.self)
        let isTerminal = CallStatus.isTerminal(change.status)
        let update = db.update(Table.calls).set("updated_at", to: change.at.millisecondsSinceEpoch)
        if terminalAt == nil || isTerminal { update.set("status", to: change.status) }
        if terminalAt == nil && isTerminal { update.set("terminal_at", to: change.at.millisecondsSinceEpoch) }
        if let legsJSON { update.set("legs_json", to: legsJSON) }
        if let duration = change.conversationDuration { update.set("conversation_duration", to: duration) }
        if let url = change.recordingURL, !url.isEmpty { update.set("recording_url", to: url) }
        try await update.where("call_sid", .equal, callSid).run()
        guard announce, terminalAt == nil, isTerminal else { return nil }
        return try await Self.announceCallCompleted(db, callSid: callSid, status: change.status, at: change.at)
    }
}

extension CallRecord {
    init(row: any SQLRow) throws {
        self.callSid = try row.value("call_sid")
        self.accountSid = try row.value("account_sid")
        self.placedAt = try row.timestamp("placed_at")
        self.origin = try row.choice("origin", as: CallOrigin.self, reading: "call")
        self.folder = try row.optional("folder")
        self.parameters = try CatalogJSON.decode(
            [String: String].self,
            from: row.value("parameters_json"),
            column: "parameters_json"
        )
        self.from = try row.optional("from_number")
        self.to = try row.optional("to_number")
        self.callerId = try row.optional("caller_id")
        self.flowURL = try row.optional("flow_url")
        self.customField = try row.optional("custom_field")
        self.recordingChannels = try row.optional("recording_channels")
        self.recordingFormat = try row.optional("recording_format")
        self.streamURL = try row.optional("stream_url")
        self.campaignId = try row.optional("campaign_id")
        self.campaignRowKey = try row.optional("campaign_row_key")
        self.metadata =
            try row.optional("metadata_json", as: String.self).map {
                try CatalogJSON.decode([String: String].self, from: $0, column: "metadata_json")
            } ?? [:]
        self.status = try row.value("status")
        self.legs = try row.optional("legs_json", as: String.self).map {
            try CatalogJSON.decode([CallLeg].self, from: $0, column: "legs_json")
        }
        self.platformCallJSON = try row.value("platform_call_json")
        self.terminalAt = try row.optionalTimestamp("terminal_at")
        self.conversationDuration = try row.optional("conversation_duration")
        self.recordingURL = try row.optional("recording_url")
        self.updatedAt = try row.timestamp("updated_at")
    }
}
