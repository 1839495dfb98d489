public import Catalog
import Glibc
public import Logging
public import MediaStore

/// Deletes what a ``RetentionPlan`` lists, so that a kill at any point leaves something the next run finishes.
///
/// Per call, in this order:
/// 1. `Catalog.beginRetentionDeletion` writes a `pending` journal entry naming every file and folder, and a
///    `retention.started` audit entry; in the same transaction it checks again that the call is not held, not
///    being recorded or downloaded (a hold placed since the plan wins);
/// 2. the media files, then their sidecars, then `call.json` are unlinked (already gone is fine), the call's
///    folders removed if empty, and the parent folders synced;
/// 3. `Catalog.finishRetentionDeletion` writes one `retention.file-deleted` audit entry per file, deletes the
///    call's rows and a `retention.call-deleted` entry, and marks the journal entry `done`: one transaction.
///
/// Killed after 1 or during 2, the entry stays `pending`: the catalog still has the call (a rebuild would index
/// the files left), `exorec verify` reports its files as `deletion-pending`, `hold add` refuses the call, and
/// the next run starts by repeating 2 and 3 for every pending entry. Killed during 3, the transaction rolls back
/// and the same holds. A run never deletes a file it has not journaled first.
public struct RetentionExecutor: Sendable {
    /// Where a run can be stopped by a test (``faultInjection``).
    public enum Stage: Sendable, Hashable {
        /// The call's journal entry is written; no file is deleted yet.
        case journaled(callSid: String)
        /// One more file is deleted; `deletedInRun` counts the files this run deleted so far.
        case fileDeleted(callSid: String, path: String, deletedInRun: Int)
        /// Every file and folder of the call is gone; its catalog rows are not.
        case filesDeleted(callSid: String)
    }

    /// How far a run has got.
    public struct Progress: Sendable, Hashable {
        public var callsDone: Int
        public var callsTotal: Int
        public var filesDeleted: Int
    }

    public let catalog: Catalog
    public let layout: StorageLayout
    /// The audit entries' actor.
    public let actor: String
    public let logger: Logger
    /// Called at each ``Stage``; a throw stops the run there as a crash would. For tests: the CLI's hidden
    /// `--fault-after-files` ends the process here to show that the next run finishes the job.
    public var faultInjection: (@Sendable (Stage) throws -> Void)?

    public init(catalog: Catalog, layout: StorageLayout, actor: String = "cli", logger: Logger) {
        self.catalog = catalog
        self.layout = layout
        self.actor = actor
        self.logger = logger
    }

    /// Finishes every pending deletion, then deletes the plan's calls, and appends a `retention.applied` audit
    /// entry with the counts.
    ///
    /// A call that was held, became busy or started being deleted by another run since the plan was made is
    /// skipped and reported. Throws when the catalog cannot be written or a file cannot be deleted
    /// (``RetentionError/cannotDelete(path:callSid:reason:)``); what was done until then stays done, and the
    /// call being deleted stays pending for the next run.
    public func apply(
        _ plan: RetentionPlan,
        runId: String,
        at time: Timestamp = .now(),
        progress: @escaping @Sendable (Progress) -> Void = { _ in }
    ) async throws -> RetentionReport {
        var report = RetentionReport(runId: runId, olderThan: plan.olderThan, cutoff: plan.cutoff)
        report.heldSkipped = plan.held
        report.busySkipped = plan.busy
        let pending = try await self.catalog.pendingRetentionDeletions()
        var state = Progress(callsDone: 0, callsTotal: pending.count + plan.delete.count, filesDeleted: 0)
        progress(state)

        for entry in pending {
            try self.deleteFiles(of: entry, report: &report, state: &state)
            if let deletion = try await self.catalog.finishRetentionDeletion(entry, at: time) {
                report.deleted.append(deletion)
                report.resumed.append(entry.callSid)
            }
            state.callsDone += 1
            progress(state)
        }
        for item in plan.delete {
            let entry: RetentionJournalEntry
            do {
                entry = try await self.catalog.beginRetentionDeletion(
                    callSid: item.call.key,
                    runId: runId,
                    cutoff: plan.cutoff,
                    callTime: item.call.callTime,
                    files: item.files,
                    directories: item.directories,
                    actor: self.actor,
                    at: time
                )
            } catch let error as CatalogError {
                switch error {
                case .callHeld, .callBusy, .deletionPending:
                    report.skippedSincePlan.append(.init(item.call, reason: error.description, hold: nil))
                    state.callsDone += 1
                    progress(state)
                    continue
                default:
                    throw error
                }
            }
            try self.faultInjection?(.journaled(callSid: entry.callSid))
            try self.deleteFiles(of: entry, report: &report, state: &state)
            if let deletion = try await self.catalog.finishRetentionDeletion(entry, at: time) {
                report.deleted.append(deletion)
            }
            state.callsDone += 1
            progress(state)
        }

        // A folder a later deletion of the run emptied and removed was not kept after all (a repeated stream_sid's
        // two files share one folder).
        report.foldersKept.removeAll { !FileSystem.exists(self.layout.absolute($0.path)) }
        try await self.catalog.appendAudit(
            AuditEvent(
                at: time,
                actor: self.actor,
                action: "retention.applied",
                detail: [
                    "run_id": runId, "older_than": plan.olderThan, "cutoff": "\(plan.cutoff)",
                    "calls_deleted": "\(report.deleted.count - report.streamsDeleted)",
                    "streams_deleted": "\(report.streamsDeleted)", "files_deleted": "\(report.files)",
                    "bytes": "\(report.bytes)",
                    "resumed": "\(report.resumed.count)", "held_skipped": "\(report.heldSkipped.count)",
                    "busy_skipped": "\(report.busySkipped.count + report.skippedSincePlan.count)",
                    "folders_kept": "\(report.foldersKept.count)",
                ]
            )
        )
        self.logger.info(
            "retention applied",
            metadata: [
                "retention.run_id": "\(runId)",
                "retention.calls_deleted": "\(report.deleted.count - report.streamsDeleted)",
                "retention.streams_deleted": "\(report.streamsDeleted)",
                "retention.held_skipped": "\(report.heldSkipped.count)",
            ]
        )
        return report
    }

    /// Unlinks the entry's files (one already gone is fine) and removes its folders when empty.
    private func deleteFiles(
        of entry: RetentionJournalEntry,
        report: inout RetentionReport,
        state: inout Progress
    ) throws {
        for path in entry.files {
            if unlink(self.layout.absolute(path)) != 0 {
                let code = errno
                guard code == ENOENT else {
                    throw RetentionError.cannotDelete(
                        path: path,
                        callSid: entry.callSid,
                        reason: String(cString: strerror(code))
                    )
                }
                continue
            }
            state.filesDeleted += 1
            try self.faultInjection?(.fileDeleted(callSid: entry.callSid, path: path, deletedInRun: state.filesDeleted))
        }
        // A stream without a call: the folders after its own are the date folders above it, shared with other
        // streams; one still in use is kept without a word.
        let isStream = RetentionKey.streamSid(in: entry.callSid) != nil
        for (index, directory) in entry.directories.enumerated() {
            let absolute = self.layout.absolute(directory)
            if rmdir(absolute) != 0 {
                let code = errno
                if code == ENOENT { continue }
                if isStream && index > 0 { continue }
                // Files the catalog does not know (strays, a late callback's call.json) are never deleted.
                report.foldersKept.append(
                    .init(path: directory, callSid: entry.callSid, reason: String(cString: strerror(code)))
                )
                try? FileSystem.syncDirectory(of: "\(absolute)/.")
            }
            // The deletions reach the disk before the catalog says the call is gone.
            try? FileSystem.syncDirectory(of: absolute)
        }
        try self.faultInjection?(.filesDeleted(callSid: entry.callSid))
    }
}

/// What a retention run did. Encoded with snake_case keys, and the totals, for `--json`.
public struct RetentionReport: Sendable, Hashable, Encodable {
    /// A folder left in place because something retention does not delete is still in it.
    public struct KeptFolder: Sendable, Hashable, Encodable {
        public var path: String
        public var callSid: String
        public var reason: String

        enum CodingKeys: String, CodingKey {
            case path, reason
            case callSid = "call_sid"
        }
    }

    public var runId: String
    public var olderThan: String
    public var cutoff: Timestamp
    /// Every call deleted, those an earlier run had left pending included.
    public var deleted: [RetentionDeletion] = []
    /// CallSids whose deletion an interrupted run had started and this run finished.
    public var resumed: [String] = []
    public var heldSkipped: [RetentionPlan.Kept] = []
    public var busySkipped: [RetentionPlan.Kept] = []
    /// Calls held, busy or taken by another run between the plan and their deletion.
    public var skippedSincePlan: [RetentionPlan.Kept] = []
    public var foldersKept: [KeptFolder] = []

    /// How many of ``deleted`` are streams without a call.
    public var streamsDeleted: Int { self.deleted.filter { $0.streamSid != nil }.count }
    public var files: Int { self.deleted.reduce(0) { $0 + $1.files } }
    public var bytes: Int64 { self.deleted.reduce(0) { $0 + $1.bytes } }

    enum CodingKeys: String, CodingKey {
        case cutoff, deleted, resumed, files, bytes
        case runId = "run_id", olderThan = "older_than", heldSkipped = "held_skipped", busySkipped = "busy_skipped"
        case skippedSincePlan = "skipped_since_plan", foldersKept = "folders_kept"
    }

    public init(runId: String, olderThan: String, cutoff: Timestamp) {
        self.runId = runId
        self.olderThan = olderThan
        self.cutoff = cutoff
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(self.runId, forKey: .runId)
        try c.encode(self.olderThan, forKey: .olderThan)
        try c.encode(self.cutoff, forKey: .cutoff)
        try c.encode(self.deleted, forKey: .deleted)
        try c.encode(self.resumed, forKey: .resumed)
        try c.encode(self.heldSkipped, forKey: .heldSkipped)
        try c.encode(self.busySkipped, forKey: .busySkipped)
        try c.encode(self.skippedSincePlan, forKey: .skippedSincePlan)
        try c.encode(self.foldersKept, forKey: .foldersKept)
        try c.encode(self.files, forKey: .files)
        try c.encode(self.bytes, forKey: .bytes)
    }
}
