import ArgumentParser
import Catalog
import Foundation
import Glibc
import MediaStore
import Orchestrator
import Synchronization

/// `exorec retention`: deletes calls older than an age, except those on legal hold (`docs/ARCHIVE.md`).
struct Retention: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention",
        abstract: "Delete calls older than an age (never held ones); a dry run unless --yes.",
        subcommands: [RetentionApply.self]
    )
}

struct RetentionApply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Delete the calls older than --older-than: media, sidecars, call.json and catalog rows.",
        discussion: """
            A call's time is when exorec placed it, or for a call it did not place its earliest media \
            file or callback. A stream without a call (kept under media/_streams/, see catalog search \
            --unattached) is dated by its start and deleted on its own (its WAV, sidecar, now-empty \
            folders and catalog rows; its events-feed entries stay); it is listed with kind "stream". \
            Calls and streams on legal hold (exorec hold, hold add --stream) are never touched; those \
            still being recorded or with a download queued are left for a later run. Without --yes nothing is \
            deleted: the calls that would be are listed. With --yes each call is journaled, its files \
            deleted, then its catalog rows, with one audit entry per file (retention.file-deleted) and \
            per call (retention.call-deleted). A run that is killed leaves its journal entry pending; \
            the next run with --yes finishes it first (exorec verify reports such files as \
            deletion-pending meanwhile). Progress goes to standard error when it is a terminal.

            DURATION: a whole number and h (hours), d (days) or w (weeks): 36h, 90d, 12w.

            EXIT CODES: 0 done (or dry run listed); 1 failure (no catalog, a file that cannot be \
            deleted, …); 64 usage error (e.g. a bad --older-than).

            EXAMPLES:
              exorec retention apply --older-than 90d          # list what would go
              exorec retention apply --older-than 90d --yes    # delete it
              exorec retention apply --older-than 12w --json | jq '.delete[].call.call_sid'
              exorec retention apply --older-than 12w --json | jq '.delete[].call | select(.kind == "stream") | .path'
            """
    )

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: ArgumentHelp("Delete calls older than this: 36h, 90d, 12w.", valueName: "duration"))
    var olderThan: String

    @Flag(name: .long, help: "Really delete (without it, only list what would be deleted).")
    var yes = false

    @Flag(name: .long, help: "Print the plan (dry run) or the report as JSON.")
    var json = false

    @Flag(name: [.short, .long], help: "No progress bar.")
    var quiet = false

    /// Ends the process, as a kill would, once this many files are deleted (tests of an interrupted run).
    @Option(name: .long, help: .hidden)
    var faultAfterFiles: Int?

    func validate() throws {
        do {
            _ = try RetentionAge(parsing: self.olderThan)
        } catch {
            throw ValidationError("--older-than: \(error.description).")
        }
        if let faultAfterFiles, faultAfterFiles < 1 { throw ValidationError("--fault-after-files must be at least 1.") }
    }

    func run() async throws {
        let age = try RetentionAge(parsing: self.olderThan)
        let setup = try self.options.setup()
        let logger = self.options.logger(label: "exorec.retention", file: setup.file)
        let now = Timestamp.now()
        // A dry run draws no bar: it only reads.
        let bar = TerminalProgressBar(unlessQuiet: self.quiet || !self.yes)
        let (plan, report) = try await bar.running {
            try await setup.withExistingCatalog(logger: logger) { catalog -> (RetentionPlan, RetentionReport?) in
                let plan = try await RetentionPlan.make(
                    catalog: catalog,
                    layout: setup.layout,
                    olderThan: age,
                    now: now
                )
                guard self.yes else { return (plan, nil) }
                var executor = RetentionExecutor(catalog: catalog, layout: setup.layout, actor: "cli", logger: logger)
                if let limit = self.faultAfterFiles {
                    executor.faultInjection = { stage in
                        if case .fileDeleted(_, _, let deleted) = stage, deleted >= limit {
                            StandardError.line("fault injected after \(deleted) deleted files: exiting as a kill would")
                            _exit(137)
                        }
                    }
                }
                let runId = "\(now.description.filter(\.isNumber))-\(getpid())"
                let report = try await executor.apply(plan, runId: runId, at: now) { progress in
                    bar.show(
                        done: progress.callsDone,
                        of: progress.callsTotal,
                        "calls, \(progress.filesDeleted) files deleted"
                    )
                }
                return (plan, report)
            }
        }
        if let report {
            if self.json { try StandardOutput.json(report) } else { Self.print(report) }
        } else {
            if self.json { try StandardOutput.json(plan) } else { Self.print(plan) }
        }
    }

    private static func kept(_ title: String, _ kept: [RetentionPlan.Kept]) {
        let calls = kept.filter { $0.streamSid == nil }
        if !calls.isEmpty {
            StandardOutput.line(title)
            var rows = [["CALL SID", "CALL TIME (UTC)", "REASON"]]
            for call in calls { rows.append([call.callSid, "\(call.callTime)", call.reason]) }
            for line in HoldRetentionTable.lines(rows) { StandardOutput.line("  " + line) }
        }
        let streams = kept.filter { $0.streamSid != nil }
        if !streams.isEmpty {
            StandardOutput.line("streams without a call \(title)")
            var rows = [["STREAM SID", "STARTED (UTC)", "PATH", "REASON"]]
            for stream in streams {
                rows.append([stream.streamSid ?? "", "\(stream.callTime)", stream.path ?? "", stream.reason])
            }
            for line in HoldRetentionTable.lines(rows) { StandardOutput.line("  " + line) }
        }
    }

    /// The pending journal entries, by CallSid or `stream:<stream_sid>`.
    private static func pendingLine(_ pending: [RetentionJournalEntry]) -> String {
        "interrupted deletions to finish: \(pending.map(\.callSid).joined(separator: ", ")) "
            + "(run \(Set(pending.map(\.runId)).sorted().joined(separator: ", ")))"
    }

    private static func print(_ plan: RetentionPlan) {
        let calls = plan.delete.filter { $0.call.streamSid == nil }
        if !calls.isEmpty {
            var rows = [["CALL SID", "CALL TIME (UTC)", "FILES", "SIZE"]]
            for item in calls {
                rows.append([
                    item.call.callSid, "\(item.call.callTime)", "\(item.files.count)",
                    HoldRetentionTable.megabytes(item.call.bytes),
                ])
            }
            for line in HoldRetentionTable.lines(rows) { StandardOutput.line(line) }
        }
        let streams = plan.delete.filter { $0.call.streamSid != nil }
        if !streams.isEmpty {
            StandardOutput.line("streams without a call:")
            var rows = [["STREAM SID", "STARTED (UTC)", "PATH", "FILES", "SIZE"]]
            for item in streams {
                rows.append([
                    item.call.streamSid ?? "", "\(item.call.callTime)", item.call.streamPath ?? "",
                    "\(item.files.count)",
                    HoldRetentionTable.megabytes(item.call.bytes),
                ])
            }
            for line in HoldRetentionTable.lines(rows) { StandardOutput.line("  " + line) }
        }
        Self.kept("kept, on legal hold:", plan.held)
        Self.kept("kept for now, still recording or downloading:", plan.busy)
        if !plan.pending.isEmpty { StandardOutput.line(Self.pendingLine(plan.pending)) }
        let heldStreams = plan.held.filter { $0.streamSid != nil }.count
        let busyStreams = plan.busy.filter { $0.streamSid != nil }.count
        StandardOutput.line(
            "dry run: would delete \(calls.count) calls and \(streams.count) streams without a call older than \(plan.olderThan) "
                + "(before \(plan.cutoff)), \(plan.fileCount) files, \(HoldRetentionTable.megabytes(plan.bytes)); "
                + "\(plan.held.count - heldStreams) held, \(plan.busy.count - busyStreams) busy, \(plan.pending.count) interrupted to finish; "
                + "streams without a call kept: \(heldStreams) held, \(busyStreams) busy. Nothing was deleted; add --yes to delete."
        )
    }

    private static func print(_ report: RetentionReport) {
        for deletion in report.deleted {
            let resumed = report.resumed.contains(deletion.key) ? " (finishing an interrupted run)" : ""
            let what =
                deletion.streamSid.map { "stream without a call \($0) (\(deletion.path ?? ""))" } ?? deletion.callSid
            StandardOutput.line(
                "deleted \(what): \(deletion.files) file\(deletion.files == 1 ? "" : "s"), "
                    + "\(HoldRetentionTable.megabytes(deletion.bytes))\(resumed)"
            )
        }
        Self.kept("kept, on legal hold:", report.heldSkipped)
        Self.kept("kept for now, still recording or downloading:", report.busySkipped)
        Self.kept("kept, changed since the plan:", report.skippedSincePlan)
        for folder in report.foldersKept {
            StandardOutput.line(
                "folder kept: \(folder.path) (\(folder.reason): files retention does not delete are in it)"
            )
        }
        let kept = report.heldSkipped + report.busySkipped + report.skippedSincePlan
        let heldStreams = report.heldSkipped.filter { $0.streamSid != nil }.count
        let busyStreams = kept.filter { $0.streamSid != nil }.count - heldStreams
        StandardOutput.line(
            "deleted \(report.deleted.count - report.streamsDeleted) calls and \(report.streamsDeleted) streams without a call "
                + "older than \(report.olderThan) (before \(report.cutoff)): \(report.files) files, "
                + "\(HoldRetentionTable.megabytes(report.bytes)); \(report.heldSkipped.count - heldStreams) held calls skipped, "
                + "\(report.busySkipped.count + report.skippedSincePlan.count - busyStreams) busy, "
                + "\(report.resumed.count) interrupted deletions finished; streams without a call kept: \(heldStreams) held, "
                + "\(busyStreams) busy; run \(report.runId)"
        )
    }
}
