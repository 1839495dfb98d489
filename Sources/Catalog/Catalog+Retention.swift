import MediaStore
import SQLKit

/// What ``Catalog/finishRetentionDeletion(_:at:)`` removed for one call, or one stream without a call.
public struct RetentionDeletion: Sendable, Hashable, Codable {
    /// `call`, or `stream` for a stream without a call (whose `callSid` is `""`).
    public var kind: String
    public var callSid: String
    /// A stream without a call: its stream_sid and WAV path.
    public var streamSid: String? {
        didSet { self.kind = self.streamSid == nil ? "call" : "stream" }
    }
    public var path: String?
    public var files: Int
    public var mediaFiles: Int
    public var bytes: Int64

    /// What the journal named it by: the CallSid or `stream:<stream_sid>`.
    public var key: String { self.streamSid.map(RetentionKey.stream) ?? self.callSid }

    enum CodingKeys: String, CodingKey {
        case kind, path, files, bytes
        case callSid = "call_sid", streamSid = "stream_sid", mediaFiles = "media_files"
    }

    public init(callSid: String, files: Int, mediaFiles: Int, bytes: Int64) {
        self.kind = "call"
        self.callSid = callSid
        self.files = files
        self.mediaFiles = mediaFiles
        self.bytes = bytes
    }
}

extension Catalog {
    /// Calls whose time is before `cutoff`, oldest first, each with its media files, its active hold and
    /// whether something is still under way for it. The time of a call exorec placed is `placed_at`; of any
    /// other call, its earliest media file or callback. Calls retention is already deleting (a pending
    /// journal entry, see ``pendingRetentionDeletions()``) are left out.
    public func retentionCandidates(before cutoff: Timestamp) async throws -> [RetentionCandidate] {
        try await self.exclusive("plan retention") { db in
            let cutoffMs = cutoff.millisecondsSinceEpoch
            var times: [String: (account: String?, time: Int64, source: RetentionCandidate.TimeSource)] = [:]
            var folders: [String: String] = [:]
            for row in try await db.select().columns("call_sid", "account_sid", "placed_at", "origin", "folder").from(
                Table.calls
            )
            .where("placed_at", .lessThan, cutoffMs).all() {
                let callSid: String = try row.value("call_sid")
                // A call placed elsewhere: its time is when exorec first saw it.
                let elsewhere = try row.value("origin", as: String.self) == CallOrigin.elsewhere.rawValue
                times[callSid] = (
                    try row.value("account_sid"), try row.value("placed_at"), elsewhere ? .firstSeen : .placed
                )
                if let folder = try row.optional("folder", as: String.self) { folders[callSid] = folder }
            }
            let notPlaced = SQLSubquery.select { $0.column("call_sid").from(Table.calls) }
            for (table, column) in [(Table.mediaFiles, "created_at"), (Table.callbacks, "received_at")] {
                let rows = try await db.select().column("call_sid")
                    .column(SQLFunction("MIN", args: SQLColumn(column)), as: "first_seen")
                    .from(table).where("call_sid", .notIn, notPlaced)
                    // Streams without a call (call_sid "") are not one call: grouping them would date every one of
                    // them by the oldest. Each is a candidate of its own (unattachedRetentionCandidates).
                    .where("call_sid", .notEqual, "")
                    .groupBy("call_sid").all()
                for row in rows {
                    let callSid: String = try row.value("call_sid")
                    // `stream:` keys streams without a call; a flagged callback claiming such a "CallSid" (no
                    // real CallSid has a colon) is not taken for one.
                    if RetentionKey.streamSid(in: callSid) != nil { continue }
                    let first: Int64 = try row.value("first_seen")
                    if let known = times[callSid], known.time <= first { continue }
                    times[callSid] = (nil, first, .firstSeen)
                }
            }
            let pending = Set(
                try await db.select().column("call_sid").from(Table.retentionJournal)
                    .where("state", .equal, RetentionJournalState.pending.rawValue).all()
                    .map { try $0.value("call_sid", as: String.self) }
            )
            var candidates = try await Self.unattachedRetentionCandidates(db, before: cutoffMs, pending: pending)
            for (callSid, known) in times where known.time < cutoffMs && !pending.contains(callSid) {
                let files = try await db.select().column("*").from(Table.mediaFiles).where("call_sid", .equal, callSid)
                    .orderBy("path").all().map(MediaFile.init(row:))
                let firstCallback = try await db.select()
                    .column(SQLFunction("MIN", args: SQLColumn("received_at")), as: "first")
                    .from(Table.callbacks).where("call_sid", .equal, callSid).first()
                    .flatMap { try $0.optional("first", as: Int64.self) }
                candidates.append(
                    RetentionCandidate(
                        callSid: callSid,
                        accountSid: known.account,
                        callTime: Timestamp(millisecondsSinceEpoch: known.time),
                        timeSource: known.source,
                        mediaFiles: files,
                        hold: try await Self.activeHold(db, callSid: callSid),
                        busy: try await Self.busyReason(db, callSid: callSid),
                        firstCallbackAt: firstCallback.map(Timestamp.init(millisecondsSinceEpoch:)),
                        folder: folders[callSid]
                    )
                )
            }
            return candidates.sorted { ($0.callTime, $0.key) < ($1.callTime, $1.key) }
        }
    }

    /// Records that retention is about to delete `callSid`'s `files` and `directories` (relative to the storage
    /// root): a `pending` journal entry and a `retention.started` audit entry, in one transaction that first
    /// checks, again, that the call is not held, not being deleted already and not busy.
    ///
    /// Until ``finishRetentionDeletion(_:at:)`` the call's catalog rows stay; a run killed in between leaves the
    /// entry `pending` and the next run deletes whatever of `files` is left, then finishes it.
    /// - Throws: ``CatalogError/callHeld(callSid:)``, ``CatalogError/deletionPending(callSid:)``,
    ///   ``CatalogError/callBusy(callSid:reason:)``.
    public func beginRetentionDeletion(
        callSid: String,
        runId: String,
        cutoff: Timestamp,
        callTime: Timestamp,
        files: [String],
        directories: [String],
        actor: String = "cli",
        at time: Timestamp = .now()
    ) async throws -> RetentionJournalEntry {
        try await self.transaction("start retention deletion") { db in
            if try await Self.activeHold(db, callSid: callSid) != nil { throw CatalogError.callHeld(callSid: callSid) }
            if try await Self.pendingDeletion(db, callSid: callSid) != nil {
                throw CatalogError.deletionPending(callSid: callSid)
            }
            let streamSid = RetentionKey.streamSid(in: callSid)
            let busy =
                streamSid == nil
                ? try await Self.busyReason(db, callSid: callSid)
                : try await Self.unattachedBusyReason(db, paths: files)
            if let busy { throw CatalogError.callBusy(callSid: callSid, reason: busy) }
            guard
                let row = try await db.insert(into: Table.retentionJournal)
                    .columns(
                        "run_id",
                        "call_sid",
                        "state",
                        "cutoff",
                        "call_time",
                        "actor",
                        "files_json",
                        "directories_json",
                        "started_at"
                    )
                    .values(
                        runId,
                        callSid,
                        RetentionJournalState.pending.rawValue,
                        cutoff.millisecondsSinceEpoch,
                        callTime.millisecondsSinceEpoch,
                        actor,
                        CatalogJSON.encode(files),
                        CatalogJSON.encode(directories),
                        time.millisecondsSinceEpoch
                    )
                    .returning("*").first()
            else {
                throw CatalogError.database(operation: "start retention deletion", reason: "the insert returned no row")
            }
            let entry = try RetentionJournalEntry(row: row)
            var detail = [
                "run_id": runId, "cutoff": "\(cutoff)", "call_time": "\(callTime)", "files": "\(files.count)",
                "journal_id": "\(entry.id)",
            ]
            // A stream without a call has no CallSid: the audit entry names its stream_sid and WAV instead.
            if let streamSid { detail["stream_sid"] = streamSid }
            _ = try await Self.appendAudit(
                db,
                AuditEvent(
                    at: time,
                    actor: actor,
                    action: "retention.started",
                    callSid: streamSid == nil ? callSid : nil,
                    path: streamSid == nil ? nil : files.first,
                    detail: detail
                )
            )
            return entry
        }
    }

    /// Completes a deletion whose files are gone: one `retention.file-deleted` audit entry per file of the
    /// journal entry (with the catalog's kind, size and checksum for media files), the call's rows removed from
    /// every table (calls, statuses, callbacks, streams, recordings, media files, downloads; campaign rows stay,
    /// so a campaign rerun never places the call again), a `retention.call-deleted` entry, and the journal entry
    /// marked `done` — all in one transaction. Returns nil when the entry was finished already.
    @discardableResult
    public func finishRetentionDeletion(
        _ entry: RetentionJournalEntry,
        at time: Timestamp = .now()
    ) async throws
        -> RetentionDeletion?
    {
        try await self.transaction("finish retention deletion") { db in
            guard
                let row = try await db.select().column("*").from(Table.retentionJournal).where("id", .equal, entry.id)
                    .first()
            else {
                throw CatalogError.database(
                    operation: "finish retention deletion",
                    reason: "no journal entry \(entry.id)"
                )
            }
            let current = try RetentionJournalEntry(row: row)
            guard current.state == .pending else { return nil }
            if let streamSid = RetentionKey.streamSid(in: current.callSid) {
                return try await Self.finishUnattachedDeletion(db, current, streamSid: streamSid, at: time)
            }
            let callSid = current.callSid
            let media = Dictionary(
                try await db.select().column("*").from(Table.mediaFiles).where("call_sid", .equal, callSid).all()
                    .map(MediaFile.init(row:)).map { ($0.path, $0) },
                uniquingKeysWith: { first, _ in first }
            )
            let bytes = try await Self.auditFileDeletions(
                db,
                files: current.files,
                media: media,
                runId: current.runId,
                actor: current.actor,
                at: time,
                callSid: callSid
            )
            // The call's entries in the events feed go with it (they name its files); event ids are never
            // reused, so a consumer's position stays valid.
            for table in [
                Table.mediaFiles, Table.streams, Table.recordings, Table.callbacks, Table.statusHistory,
                Table.downloads, Table.calls,
                Table.events,
            ] {
                try await db.delete(from: table).where("call_sid", .equal, callSid).run()
            }
            _ = try await Self.appendAudit(
                db,
                AuditEvent(
                    at: time,
                    actor: current.actor,
                    action: "retention.call-deleted",
                    callSid: callSid,
                    detail: [
                        "run_id": current.runId, "cutoff": "\(current.cutoff)", "call_time": "\(current.callTime)",
                        "files": "\(current.files.count)", "media_files": "\(media.count)", "bytes": "\(bytes)",
                        "journal_id": "\(current.id)",
                    ]
                )
            )
            try await db.update(Table.retentionJournal)
                .set("state", to: RetentionJournalState.done.rawValue).set(
                    "finished_at",
                    to: time.millisecondsSinceEpoch
                )
                .where("id", .equal, current.id)
                .run()
            return RetentionDeletion(
                callSid: callSid,
                files: current.files.count,
                mediaFiles: media.count,
                bytes: bytes
            )
        }
    }

    /// Deletions a retention run started and did not finish (it was killed or failed), oldest first.
    public func pendingRetentionDeletions() async throws -> [RetentionJournalEntry] {
        try await self.exclusive("read retention journal") { db in
            try await db.select().column("*").from(Table.retentionJournal)
                .where("state", .equal, RetentionJournalState.pending.rawValue)
                .orderBy("id").all().map(RetentionJournalEntry.init(row:))
        }
    }

    /// The retention journal, oldest first; optionally only one call's entries.
    public func retentionJournal(callSid: String? = nil) async throws -> [RetentionJournalEntry] {
        try await self.exclusive("read retention journal") { db in
            let select = db.select().column("*").from(Table.retentionJournal)
            if let callSid { select.where("call_sid", .equal, callSid) }
            return try await select.orderBy("id").all().map(RetentionJournalEntry.init(row:))
        }
    }

    // MARK: - Shared with holds and the rebuilder

    static func pendingDeletion(_ db: any SQLDatabase, callSid: String) async throws -> RetentionJournalEntry? {
        try await db.select().column("*").from(Table.retentionJournal)
            .where("call_sid", .equal, callSid).where("state", .equal, RetentionJournalState.pending.rawValue)
            .first().map(RetentionJournalEntry.init(row:))
    }

    /// Why the call must not be deleted now: a stream still being written, or a download queued or running.
    static func busyReason(_ db: any SQLDatabase, callSid: String) async throws -> String? {
        if try await db.select().column("path").from(Table.mediaFiles).where("call_sid", .equal, callSid)
            .where("state", .equal, MediaFileState.recording.rawValue).limit(1).first() != nil
        {
            return "a stream is still being recorded"
        }
        if try await db.select().column("id").from(Table.downloads).where("call_sid", .equal, callSid)
            .where("state", .in, [DownloadState.queued.rawValue, DownloadState.running.rawValue]).limit(1).first()
            != nil
        {
            return "a recording download is queued or running"
        }
        return nil
    }

    /// The whole journal as stored, whatever the schema version (none before the table existed).
    func retentionJournalForCarryOver() async throws -> [RetentionJournalEntry] {
        try await self.exclusive("read retention journal", requiresSchema: false) { db in
            guard try await self.backend.tableExists(Table.retentionJournal, on: db) else { return [] }
            return try await db.select().column("*").from(Table.retentionJournal).orderBy("id").all()
                .map(RetentionJournalEntry.init(row:))
        }
    }

    static func insertRetentionJournalEntry(_ db: any SQLDatabase, _ entry: RetentionJournalEntry) async throws {
        try await db.insert(into: Table.retentionJournal)
            .columns(
                "id",
                "run_id",
                "call_sid",
                "state",
                "cutoff",
                "call_time",
                "actor",
                "files_json",
                "directories_json",
                "started_at",
                "finished_at"
            )
            .values(
                entry.id,
                entry.runId,
                entry.callSid,
                entry.state.rawValue,
                entry.cutoff.millisecondsSinceEpoch,
                entry.callTime.millisecondsSinceEpoch,
                entry.actor,
                CatalogJSON.encode(entry.files),
                CatalogJSON.encode(entry.directories),
                entry.startedAt.millisecondsSinceEpoch,
                entry.finishedAt?.millisecondsSinceEpoch
            )
            .run()
    }
}

extension RetentionJournalEntry {
    init(row: any SQLRow) throws {
        let decodedState = try row.choice("state", as: RetentionJournalState.self, reading: "retention journal")
        self.id = try row.value("id")
        self.runId = try row.value("run_id")
        self.callSid = try row.value("call_sid")
        self.state = decodedState
        self.cutoff = try row.timestamp("cutoff")
        self.callTime = try row.timestamp("call_time")
        self.actor = try row.value("actor")
        self.files = try CatalogJSON.decode([String].self, from: row.value("files_json"), column: "files_json")
        self.directories = try CatalogJSON.decode(
            [String].self,
            from: row.value("directories_json"),
            column: "directories_json"
        )
        self.startedAt = try row.timestamp("started_at")
        self.finishedAt = try row.optionalTimestamp("finished_at")
    }
}

extension Catalog {
    /// One `retention.file-deleted` audit entry per deleted file, with what the catalog knew of it (kind, state,
    /// checksum, size; a file it did not catalog is a sidecar). Returns the bytes of the catalogued media.
    /// - Parameters:
    ///   - callSid: the call the files were of; nil for a stream without a call, named by `streamSid`.
    static func auditFileDeletions(
        _ db: any SQLDatabase,
        files: [String],
        media: [String: MediaFile],
        runId: String,
        actor: String,
        at time: Timestamp,
        callSid: String? = nil,
        streamSid: String? = nil
    ) async throws -> Int64 {
        var bytes: Int64 = 0
        for path in files {
            var detail = ["run_id": runId]
            if let streamSid { detail["stream_sid"] = streamSid }
            if let file = media[path] {
                detail["kind"] = file.kind.rawValue
                detail["state"] = file.state.rawValue
                if let sha256 = file.sha256 { detail["sha256"] = sha256 }
                if let size = file.bytes {
                    detail["bytes"] = "\(size)"
                    bytes += size
                }
            } else {
                detail["kind"] = path.hasSuffix("/\(CallSidecar.fileName)") ? "call-sidecar" : "sidecar"
            }
            _ = try await Self.appendAudit(
                db,
                AuditEvent(
                    at: time,
                    actor: actor,
                    action: "retention.file-deleted",
                    callSid: callSid,
                    path: path,
                    detail: detail
                )
            )
        }
        return bytes
    }
}
