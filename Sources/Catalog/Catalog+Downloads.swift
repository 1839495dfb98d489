import Foundation
import MediaStore
import SQLKit

extension Catalog {
    /// Queues the download of `url` for `callSid`, not before `notBefore`.
    ///
    /// Idempotent: the same call and URL are one job whatever its state (a repeated terminal callback does not
    /// queue a second download).
    public func enqueueDownload(
        callSid: String,
        url: String,
        notBefore: Timestamp,
        at time: Timestamp = .now()
    ) async throws -> DownloadEnqueueResult {
        try await self.transaction("enqueue download") { db in
            try await Self.enqueueDownload(db, callSid: callSid, url: url, notBefore: notBefore, at: time)
        }
    }

    /// Claims the job due first: a `queued` job whose `next_attempt_at` has come, or a `running` job whose
    /// lease has run out (its worker died or hung; that is how pending downloads survive a crash). The job
    /// becomes `running` until `now + lease`, its attempts count one more, and it gets a new claim token.
    ///
    /// The claim is one conditional UPDATE re-checking the job's state, so two workers (threads, processes
    /// or nodes sharing the catalog) never get the same job: the loser's UPDATE matches no row and it tries
    /// the next candidate.
    /// - Returns: nil when no job is due.
    public func claimNextDownload(now: Timestamp = .now(), lease: Duration) async throws -> DownloadJob? {
        let nowMs = now.millisecondsSinceEpoch
        let leaseUntil = nowMs + Self.milliseconds(lease)
        return try await self.exclusive("claim download") { db in
            try await LeasedJobs.claimNext(db, table: Table.downloads, nowMs: nowMs, leaseUntil: leaseUntil)
                .map(DownloadJob.init(row:))
        }
    }

    /// Marks a claimed job done.
    /// - Throws: ``CatalogError/leaseLost(id:)`` if another claim has taken the job since.
    public func completeDownload(_ job: DownloadJob, at time: Timestamp = .now()) async throws {
        try await self.finish(job, operation: "complete download") {
            $0.set("state", to: DownloadState.done.rawValue).set("lease_until", to: SQLLiteral.null)
                .set("last_error", to: SQLLiteral.null).set("updated_at", to: time.millisecondsSinceEpoch)
        }
    }

    /// Extends a running job's lease to `until`, while its worker is still at it: leases can then be
    /// short, so a job whose worker died (a killed process) is claimed again within one short lease.
    /// - Throws: ``CatalogError/leaseLost(id:)`` if another claim has taken the job since.
    public func renewDownloadLease(_ job: DownloadJob, until: Timestamp, at time: Timestamp = .now()) async throws {
        try await self.finish(job, operation: "renew download lease") {
            $0.set("lease_until", to: until.millisecondsSinceEpoch).set("updated_at", to: time.millisecondsSinceEpoch)
        }
    }

    /// Puts a claimed job back in the queue until `retryAt`, noting why this attempt failed.
    /// - Throws: ``CatalogError/leaseLost(id:)`` if another claim has taken the job since.
    public func retryDownload(
        _ job: DownloadJob,
        at retryAt: Timestamp,
        error: String,
        now: Timestamp = .now()
    ) async throws {
        try await self.finish(job, operation: "retry download") {
            $0.set("state", to: DownloadState.queued.rawValue).set(
                "next_attempt_at",
                to: retryAt.millisecondsSinceEpoch
            )
            .set("lease_until", to: SQLLiteral.null).set("claim_token", to: SQLLiteral.null)
            .set("last_error", to: error).set("updated_at", to: now.millisecondsSinceEpoch)
        }
    }

    /// Gives a claimed job up after the worker's retries.
    /// - Throws: ``CatalogError/leaseLost(id:)`` if another claim has taken the job since.
    public func failDownload(_ job: DownloadJob, error: String, at time: Timestamp = .now()) async throws {
        try await self.finish(job, operation: "fail download") {
            $0.set("state", to: DownloadState.failed.rawValue).set("lease_until", to: SQLLiteral.null)
                .set("last_error", to: error).set("updated_at", to: time.millisecondsSinceEpoch)
        }
    }

    /// Ends a claimed job that the platform refused for good (403, 404, …): no retry would help.
    /// - Throws: ``CatalogError/leaseLost(id:)`` if another claim has taken the job since.
    public func refuseDownload(_ job: DownloadJob, reason: String, at time: Timestamp = .now()) async throws {
        try await self.finish(job, operation: "refuse download") {
            $0.set("state", to: DownloadState.refused.rawValue).set("lease_until", to: SQLLiteral.null)
                .set("last_error", to: reason).set("updated_at", to: time.millisecondsSinceEpoch)
        }
    }

    /// The job with this id.
    public func downloadJob(id: Int64) async throws -> DownloadJob? {
        try await self.exclusive("read download job") { db in
            try await db.select().column("*").from(Table.downloads).where("id", .equal, id).first()
                .map(DownloadJob.init(row:))
        }
    }

    /// Jobs, optionally only one call's or in one state, oldest first.
    public func downloadJobs(
        callSid: String? = nil,
        state: DownloadState? = nil,
        limit: Int = 1000
    ) async throws
        -> [DownloadJob]
    {
        try await self.exclusive("read download jobs") { db in
            let select = db.select().column("*").from(Table.downloads)
            if let callSid { select.where("call_sid", .equal, callSid) }
            if let state { select.where("state", .equal, state.rawValue) }
            return try await select.orderBy("id").limit(max(0, limit)).all().map(DownloadJob.init(row:))
        }
    }

    // MARK: - Internals

    /// Updates a running job if, and only if, `job`'s claim still holds it.
    private func finish(
        _ job: DownloadJob,
        operation: String,
        _ assignments: (SQLUpdateBuilder) -> SQLUpdateBuilder
    ) async throws {
        try await self.exclusive(operation) { db in
            if try await LeasedJobs.updateIfHeld(
                db,
                table: Table.downloads,
                id: job.id,
                claimToken: job.claimToken,
                assignments
            ) {
                return
            }
            let exists = try await db.select().column("id").from(Table.downloads).where("id", .equal, job.id).first()
            throw exists == nil ? CatalogError.unknownDownload(id: job.id) : CatalogError.leaseLost(id: job.id)
        }
    }

    static func enqueueDownload(
        _ db: any SQLDatabase,
        callSid: String,
        url: String,
        notBefore: Timestamp,
        at time: Timestamp
    ) async throws -> DownloadEnqueueResult {
        let inserted = try await db.insert(into: Table.downloads)
            .columns("call_sid", "url", "state", "attempts", "next_attempt_at", "created_at", "updated_at")
            .values(
                callSid,
                url,
                DownloadState.queued.rawValue,
                0,
                notBefore.millisecondsSinceEpoch,
                time.millisecondsSinceEpoch,
                time.millisecondsSinceEpoch
            )
            .ignoringConflicts(with: ["call_sid", "url"])
            .returning(SQLLiteral.all)
            .first()
        if let inserted { return DownloadEnqueueResult(job: try DownloadJob(row: inserted), isNew: true) }
        guard
            let existing = try await db.select().column("*").from(Table.downloads)
                .where("call_sid", .equal, callSid).where("url", .equal, url).first()
        else { throw CatalogError.database(operation: "enqueue download", reason: "conflict without a row") }
        return DownloadEnqueueResult(job: try DownloadJob(row: existing), isNew: false)
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

extension DownloadJob {
    init(row: any SQLRow) throws {
        let decodedState = try row.choice("state", as: DownloadState.self, reading: "download job")
        self.id = try row.value("id")
        self.callSid = try row.value("call_sid")
        self.url = try row.value("url")
        self.state = decodedState
        self.attempts = try row.value("attempts")
        self.nextAttemptAt = try row.timestamp("next_attempt_at")
        self.leaseUntil = try row.optionalTimestamp("lease_until")
        self.claimToken = try row.optional("claim_token")
        self.lastError = try row.optional("last_error")
        self.createdAt = try row.timestamp("created_at")
        self.updatedAt = try row.timestamp("updated_at")
    }
}
