import Foundation
import MediaStore
import SQLKit

extension Catalog {
    // MARK: - Filling the queue

    /// Queues every finished media file (complete, interrupted or incomplete, with its SHA-256) and its sidecar
    /// that is not queued yet; returns how many rows it added. Idempotent: the archiver runs it each round, so
    /// a file finalized by a process that died before anything else is queued by the next scan.
    @discardableResult
    public func enqueueFinishedMediaForArchive(at time: Timestamp = .now(), limit: Int = 500) async throws -> Int {
        try await self.transaction("queue media for archive") { db in
            let rows = try await db.select().columns("path", "call_sid", "kind").from(Table.mediaFiles)
                .where("state", .in, [MediaFileState.complete, .interrupted, .incomplete].map(\.rawValue))
                .where("sha256", .isNot, SQLLiteral.null)
                .where(
                    SQLRaw(
                        "NOT EXISTS (SELECT 1 FROM \(Table.archiveQueue) q WHERE q.path = \(Table.mediaFiles).path)"
                    )
                )
                // Archived already (a rebuilt catalog carries the objects over, not the queue).
                .where(
                    SQLRaw(
                        "NOT EXISTS (SELECT 1 FROM \(Table.archivedObjects) o WHERE o.path = \(Table.mediaFiles).path)"
                    )
                )
                .orderBy("path").limit(max(1, limit)).all()
            var added = 0
            for row in rows {
                let path: String = try row.value("path")
                let callSid: String = try row.value("call_sid")
                let kind = try row.choice("kind", as: MediaKind.self, reading: "media file")
                let sidecarKind: ArchiveKind = kind == .stream ? .streamSidecar : .recordingSidecar
                added += try await Self.enqueueArchive(
                    db,
                    path: path,
                    callSid: callSid,
                    kind: kind == .stream ? .stream : .recording,
                    at: time
                )
                added += try await Self.enqueueArchive(
                    db,
                    path: StorageLayout.sidecarPath(ofMedia: path),
                    callSid: callSid,
                    kind: sidecarKind,
                    at: time
                )
            }
            return added
        }
    }

    /// Calls whose `call.json` is final enough to seal: terminal before `terminalBefore`, no download queued or
    /// running, and no `call.json` queued yet.
    public func callsReadyForArchive(terminalBefore: Timestamp, limit: Int = 200) async throws -> [CallRecord] {
        try await self.exclusive("read calls ready for archive") { db in
            try await db.select().column("*").from(Table.calls)
                .where("terminal_at", .isNot, SQLLiteral.null)
                .where("terminal_at", .lessThanOrEqual, terminalBefore.millisecondsSinceEpoch)
                .where(
                    SQLRaw(
                        "NOT EXISTS (SELECT 1 FROM \(Table.downloads) d WHERE d.call_sid = \(Table.calls).call_sid "
                            + "AND d.state IN ('queued', 'running'))"
                    )
                )
                .where(
                    SQLRaw(
                        "NOT EXISTS (SELECT 1 FROM \(Table.archiveQueue) q WHERE q.call_sid = \(Table.calls).call_sid "
                            + "AND q.kind = 'call')"
                    )
                )
                .where(
                    SQLRaw(
                        "NOT EXISTS (SELECT 1 FROM \(Table.archivedObjects) o WHERE o.call_sid = \(Table.calls).call_sid "
                            + "AND o.kind = 'call')"
                    )
                )
                .orderBy("terminal_at").limit(max(1, limit)).all().map(CallRecord.init(row:))
        }
    }

    /// Queues one file (a no-op when its path is queued already); returns whether it added a row.
    @discardableResult
    public func enqueueArchive(
        path: String,
        callSid: String,
        kind: ArchiveKind,
        at time: Timestamp = .now()
    )
        async throws -> Bool
    {
        try await self.transaction("queue file for archive") { db in
            try await Self.enqueueArchive(db, path: path, callSid: callSid, kind: kind, at: time) == 1
        }
    }

    static func enqueueArchive(
        _ db: any SQLDatabase,
        path: String,
        callSid: String,
        kind: ArchiveKind,
        at time: Timestamp
    ) async throws -> Int {
        let ms = time.millisecondsSinceEpoch
        let inserted = try await db.insert(into: Table.archiveQueue)
            .columns("path", "call_sid", "kind", "state", "attempts", "next_attempt_at", "created_at", "updated_at")
            .values(path, callSid, kind.rawValue, ArchiveJobState.queued.rawValue, 0, ms, ms, ms)
            .ignoringConflicts(with: "path")
            .returning("id").first()
        return inserted == nil ? 0 : 1
    }

    // MARK: - Working the queue

    /// Claims the next due job (queued and due, or running with its lease run out) until `now + lease`.
    public func claimNextArchiveJob(now: Timestamp = .now(), lease: Duration) async throws -> ArchiveJob? {
        let nowMs = now.millisecondsSinceEpoch
        let leaseUntil = nowMs + Self.milliseconds(lease)
        return try await self.exclusive("claim archive job") { db in
            try await LeasedJobs.claimNext(db, table: Table.archiveQueue, nowMs: nowMs, leaseUntil: leaseUntil)
                .map(ArchiveJob.init(row:))
        }
    }

    /// Records an upload: the job `done`, the object in `archived_objects` and an `archive.uploaded` audit
    /// entry, in one transaction. When the call's hold changed while the upload ran (the object carries the
    /// hold state read before it), the object is marked for a hold sync.
    /// - Throws: ``CatalogError/leaseLost(id:)`` if another claim has taken the job since.
    public func completeArchiveJob(
        _ job: ArchiveJob,
        object: ArchivedObject,
        actor: String,
        at time: Timestamp = .now()
    ) async throws {
        try await self.transaction("record archived object") { db in
            let stillHeld = try await LeasedJobs.updateIfHeld(
                db,
                table: Table.archiveQueue,
                id: job.id,
                claimToken: job.claimToken
            ) {
                $0.set("state", to: ArchiveJobState.done.rawValue).set("lease_until", to: SQLLiteral.null)
                    .set("last_error", to: SQLLiteral.null).set("updated_at", to: time.millisecondsSinceEpoch)
            }
            guard stillHeld else { throw CatalogError.leaseLost(id: job.id) }
            let held = try await Self.archiveHoldWanted(db, callSid: object.callSid, path: object.path)
            // The hold as it is now: when it changed while the upload ran, the object needs a hold sync.
            var recorded = object
            recorded.holdVersion = held == object.legalHold ? 0 : 1
            recorded.holdSyncedVersion = 0
            try await Self.insertArchivedObject(db, recorded, replacingAnEarlierUpload: true)
            var detail: [String: String] = [
                "bucket": object.bucket, "key": object.key, "version_id": object.versionID, "sha256": object.sha256,
                "bytes": "\(object.bytes)", "legal_hold": object.legalHold ? "on" : "off",
            ]
            if let mode = object.lockMode { detail["lock_mode"] = mode }
            if let until = object.retainUntil { detail["retain_until"] = until.description }
            _ = try await Self.appendAudit(
                db,
                AuditEvent(
                    at: time,
                    actor: actor,
                    action: "archive.uploaded",
                    callSid: object.callSid.isEmpty ? nil : object.callSid,
                    path: object.path,
                    detail: detail
                )
            )
        }
    }

    /// Puts a claimed job back until `retryAt` (or, with `giveUp`, marks it failed), noting the error.
    /// - Throws: ``CatalogError/leaseLost(id:)`` if another claim has taken the job since.
    public func retryArchiveJob(
        _ job: ArchiveJob,
        at retryAt: Timestamp,
        error: String,
        giveUp: Bool = false,
        now: Timestamp = .now()
    ) async throws {
        try await self.exclusive("retry archive job") { db in
            let held = try await LeasedJobs.updateIfHeld(
                db,
                table: Table.archiveQueue,
                id: job.id,
                claimToken: job.claimToken
            ) {
                $0.set("state", to: (giveUp ? ArchiveJobState.failed : .queued).rawValue)
                    .set("next_attempt_at", to: retryAt.millisecondsSinceEpoch).set("lease_until", to: SQLLiteral.null)
                    .set("last_error", to: String(error.prefix(2000))).set("updated_at", to: now.millisecondsSinceEpoch)
            }
            guard held else { throw CatalogError.leaseLost(id: job.id) }
        }
    }

    /// Extends a running job's lease while a long upload goes on.
    public func renewArchiveLease(_ job: ArchiveJob, until: Timestamp) async throws {
        try await self.exclusive("renew archive lease") { db in
            let held = try await LeasedJobs.updateIfHeld(
                db,
                table: Table.archiveQueue,
                id: job.id,
                claimToken: job.claimToken
            ) { $0.set("lease_until", to: until.millisecondsSinceEpoch) }
            guard held else { throw CatalogError.leaseLost(id: job.id) }
        }
    }

    /// Puts every failed job back in the queue (`exorec archive upload --retry-failed`); returns how many.
    @discardableResult
    public func requeueFailedArchiveJobs(at time: Timestamp = .now()) async throws -> Int {
        try await self.exclusive("requeue failed archive jobs") { db in
            try await db.update(Table.archiveQueue)
                .set("state", to: ArchiveJobState.queued.rawValue).set(
                    "next_attempt_at",
                    to: time.millisecondsSinceEpoch
                )
                .set("attempts", to: 0).set("updated_at", to: time.millisecondsSinceEpoch)
                .where("state", .equal, ArchiveJobState.failed.rawValue)
                .returning("id").all().count
        }
    }

    // MARK: - Archived objects

    /// The archived object of a file, if it was uploaded.
    public func archivedObject(path: String) async throws -> ArchivedObject? {
        try await self.exclusive("read archived object") { db in
            try await db.select().column("*").from(Table.archivedObjects).where("path", .equal, path).first()
                .map(ArchivedObject.init(row:))
        }
    }

    /// The call's archived objects, by path.
    public func archivedObjects(callSid: String) async throws -> [ArchivedObject] {
        try await self.exclusive("read archived objects") { db in
            try await db.select().column("*").from(Table.archivedObjects).where("call_sid", .equal, callSid)
                .orderBy("path").all().map(ArchivedObject.init(row:))
        }
    }

    /// Archived objects after `path` (exclusive), by path, at most `limit`: a page of the whole archive.
    public func archivedObjects(after path: String, limit: Int) async throws -> [ArchivedObject] {
        try await self.exclusive("read archived objects") { db in
            try await db.select().column("*").from(Table.archivedObjects).where("path", .greaterThan, path)
                .orderBy("path").limit(max(1, limit)).all().map(ArchivedObject.init(row:))
        }
    }

    /// Objects whose legal hold the store may not have yet, with the hold the catalog wants for each.
    public func archivedObjectsNeedingHoldSync(limit: Int = 200) async throws -> [(ArchivedObject, wanted: Bool)] {
        try await self.exclusive("read hold syncs") { db in
            let rows = try await db.select().column("*").from(Table.archivedObjects)
                .where(SQLColumn("hold_version"), .notEqual, SQLColumn("hold_synced_version"))
                .orderBy("path").limit(max(1, limit)).all().map(ArchivedObject.init(row:))
            var out: [(ArchivedObject, wanted: Bool)] = []
            for object in rows {
                out.append((object, try await Self.archiveHoldWanted(db, callSid: object.callSid, path: object.path)))
            }
            return out
        }
    }

    /// Notes that the store now has `legalHold` on the object, as of the catalog's change `version`; a later
    /// change (another hold or release meanwhile) keeps the object pending.
    public func markHoldSynced(
        path: String,
        version: Int64,
        legalHold: Bool,
        actor: String,
        at time: Timestamp = .now()
    )
        async throws
    {
        try await self.transaction("record hold sync") { db in
            guard
                let row = try await db.update(Table.archivedObjects)
                    .set("hold_synced_version", to: version).set("legal_hold", to: legalHold)
                    .where("path", .equal, path).where("hold_version", .equal, version)
                    .returning("call_sid", "version_id").first()
            else { return }
            let callSid: String = try row.value("call_sid")
            _ = try await Self.appendAudit(
                db,
                AuditEvent(
                    at: time,
                    actor: actor,
                    action: legalHold ? "archive.legal_hold.on" : "archive.legal_hold.off",
                    callSid: callSid.isEmpty ? nil : callSid,
                    path: path,
                    detail: ["version_id": try row.value("version_id", as: String.self)]
                )
            )
        }
    }

    /// Records that the local copy of an archived file was removed.
    public func markEvicted(path: String, at time: Timestamp = .now()) async throws {
        try await self.exclusive("record eviction") { db in
            try await db.update(Table.archivedObjects).set("evicted_at", to: time.millisecondsSinceEpoch)
                .where("path", .equal, path).run()
        }
    }

    /// Archived media (not sidecars) uploaded before `uploadedBefore` and still on disk.
    public func evictionCandidates(uploadedBefore: Timestamp, limit: Int = 200) async throws -> [ArchivedObject] {
        try await self.exclusive("read eviction candidates") { db in
            try await db.select().column("*").from(Table.archivedObjects)
                .where("kind", .in, [ArchiveKind.stream.rawValue, ArchiveKind.recording.rawValue])
                .where("evicted_at", .is, SQLLiteral.null)
                .where("uploaded_at", .lessThanOrEqual, uploadedBefore.millisecondsSinceEpoch)
                .orderBy("uploaded_at").limit(max(1, limit)).all().map(ArchivedObject.init(row:))
        }
    }

    /// Counts for `exorec archive status`.
    public func archiveStatus() async throws -> ArchiveStatus {
        try await self.exclusive("read archive status") { db in
            var counts: [ArchiveJobState: Int] = [:]
            for row in try await db.select().column("state").column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n")
                .from(Table.archiveQueue).groupBy("state").all()
            {
                counts[try row.choice("state", as: ArchiveJobState.self, reading: "archive job")] = try row.value("n")
            }
            let objects = try await db.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n")
                // SUM of a BIGINT is NUMERIC in PostgreSQL: cast back.
                .column(SQLRaw("CAST(COALESCE(SUM(bytes), 0) AS BIGINT)"), as: "b")
                .from(Table.archivedObjects).first()
            let pending = try await db.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n")
                .from(Table.archivedObjects)
                .where(SQLColumn("hold_version"), .notEqual, SQLColumn("hold_synced_version")).first()
            let evicted = try await db.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n")
                .from(Table.archivedObjects).where("evicted_at", .isNot, SQLLiteral.null).first()
            let lastError = try await db.select().column("last_error").from(Table.archiveQueue)
                .where("last_error", .isNot, SQLLiteral.null).where("state", .notEqual, ArchiveJobState.done.rawValue)
                .orderBy("updated_at", .descending).limit(1).first()
            return ArchiveStatus(
                queued: counts[.queued] ?? 0,
                running: counts[.running] ?? 0,
                done: counts[.done] ?? 0,
                failed: counts[.failed] ?? 0,
                objects: try objects?.value("n", as: Int.self) ?? 0,
                bytes: try objects?.value("b", as: Int64.self) ?? 0,
                holdSyncPending: try pending?.value("n", as: Int.self) ?? 0,
                evicted: try evicted?.value("n", as: Int.self) ?? 0,
                lastError: try lastError?.optional("last_error", as: String.self)
            )
        }
    }

    // MARK: - Shared with holds and the rebuilder

    /// Marks the archived objects a hold names for a legal-hold sync (in the hold's own transaction): the call's,
    /// or for `stream:<stream_sid>` the files of the streams without a call with that stream_sid (WAV and sidecar).
    static func bumpArchiveHolds(_ db: any SQLDatabase, callSid key: String) async throws {
        guard !key.isEmpty else { return }
        let bump = SQLBinaryExpression(SQLColumn("hold_version"), .add, SQLLiteral.numeric("1"))
        if let streamSid = RetentionKey.streamSid(in: key) {
            let wavs = try await db.select().column("path").from(Table.streams).where("call_sid", .equal, "")
                .where("stream_sid", .equal, streamSid).all(decodingColumn: "path", as: String.self)
            let paths = wavs + wavs.map(StorageLayout.sidecarPath(ofMedia:))
            guard !paths.isEmpty else { return }
            try await db.update(Table.archivedObjects).set("hold_version", to: bump).where("call_sid", .equal, "")
                .where("path", .in, paths).run()
            return
        }
        try await db.update(Table.archivedObjects).set("hold_version", to: bump).where("call_sid", .equal, key).run()
    }

    /// Whether the object's call has an active hold; for a stream without a call (`call_sid` ""), whether its
    /// stream_sid has one (`stream:<stream_sid>`).
    static func archiveHoldWanted(_ db: any SQLDatabase, callSid: String, path: String) async throws -> Bool {
        if !callSid.isEmpty { return try await Self.activeHold(db, callSid: callSid) != nil }
        let wav = path.hasSuffix(".json") ? String(path.dropLast(".json".count)) + ".wav" : path
        guard
            let streamSid = try await db.select().column("stream_sid").from(Table.streams)
                .where("call_sid", .equal, "").where("path", .equal, wav).first()
                .map({ try $0.value("stream_sid", as: String.self) })
        else { return false }
        return try await Self.activeHold(db, callSid: RetentionKey.stream(streamSid)) != nil
    }

    /// Whether the catalog wants the store's legal hold on the archived file at `path` of call `callSid` (an upload
    /// sets it; `exorec verify --remote` compares).
    public func archiveHoldWanted(callSid: String, path: String) async throws -> Bool {
        try await self.exclusive("read legal hold") { db in
            try await Self.archiveHoldWanted(db, callSid: callSid, path: path)
        }
    }

    /// Every archived object as stored (none before the table existed): a rebuild carries them over, since
    /// the files cannot tell what the bucket holds.
    func archivedObjectsForCarryOver() async throws -> [ArchivedObject] {
        try await self.exclusive("read archived objects", requiresSchema: false) { db in
            guard try await self.backend.tableExists(Table.archivedObjects, on: db) else { return [] }
            return try await db.select().column("*").from(Table.archivedObjects).orderBy("path").all()
                .map(ArchivedObject.init(row:))
        }
    }

    /// One `archived_objects` row. `replacingAnEarlierUpload`: a row for the same path (an upload of the
    /// file before, whose version this one supersedes) takes this object's values, its eviction aside.
    static func insertArchivedObject(
        _ db: any SQLDatabase,
        _ object: ArchivedObject,
        replacingAnEarlierUpload: Bool = false
    ) async throws {
        let insert = db.insert(into: Table.archivedObjects)
            .columns(
                "path",
                "call_sid",
                "kind",
                "bucket",
                "object_key",
                "version_id",
                "sha256",
                "checksum",
                "bytes",
                "lock_mode",
                "retain_until",
                "legal_hold",
                "hold_version",
                "hold_synced_version",
                "uploaded_at",
                "uploaded_by",
                "evicted_at"
            )
            .values(
                object.path,
                object.callSid,
                object.kind.rawValue,
                object.bucket,
                object.key,
                object.versionID,
                object.sha256,
                object.checksum,
                object.bytes,
                object.lockMode,
                object.retainUntil?.millisecondsSinceEpoch,
                object.legalHold,
                object.holdVersion,
                object.holdSyncedVersion,
                object.uploadedAt.millisecondsSinceEpoch,
                object.uploadedBy,
                object.evictedAt?.millisecondsSinceEpoch
            )
        if replacingAnEarlierUpload {
            insert.onConflict(with: "path") { update in
                [
                    "bucket", "object_key", "version_id", "sha256", "checksum", "bytes", "lock_mode", "retain_until",
                    "legal_hold", "hold_version", "hold_synced_version", "uploaded_at", "uploaded_by",
                ].reduce(update) { $0.set(excludedValueOf: $1) }
            }
        }
        try await insert.run()
    }
}

extension ArchiveJob {
    init(row: any SQLRow) throws {
        self.id = try row.value("id")
        self.path = try row.value("path")
        self.callSid = try row.value("call_sid")
        self.kind = try row.choice("kind", as: ArchiveKind.self, reading: "archive job")
        self.state = try row.choice("state", as: ArchiveJobState.self, reading: "archive job")
        self.attempts = try row.value("attempts")
        self.nextAttemptAt = try row.timestamp("next_attempt_at")
        self.leaseUntil = try row.optionalTimestamp("lease_until")
        self.claimToken = try row.optional("claim_token")
        self.lastError = try row.optional("last_error")
        self.createdAt = try row.timestamp("created_at")
        self.updatedAt = try row.timestamp("updated_at")
    }
}

extension ArchivedObject {
    init(row: any SQLRow) throws {
        self.path = try row.value("path")
        self.callSid = try row.value("call_sid")
        self.kind = try row.choice("kind", as: ArchiveKind.self, reading: "archived object")
        self.bucket = try row.value("bucket")
        self.key = try row.value("object_key")
        self.versionID = try row.value("version_id")
        self.sha256 = try row.value("sha256")
        self.checksum = try row.value("checksum")
        self.bytes = try row.value("bytes")
        self.lockMode = try row.optional("lock_mode")
        self.retainUntil = try row.optionalTimestamp("retain_until")
        self.legalHold = try row.value("legal_hold")
        self.holdVersion = try row.value("hold_version")
        self.holdSyncedVersion = try row.value("hold_synced_version")
        self.uploadedAt = try row.timestamp("uploaded_at")
        self.uploadedBy = try row.value("uploaded_by")
        self.evictedAt = try row.optionalTimestamp("evicted_at")
    }
}
