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
        subcommands: [RetentionApply.self])
}

struct RetentionApply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Delete the calls older than --older-than: media, sidecars, call.json and catalog rows.",
        discussion: """
            A call's time is when exorec placed it, or for a call it did not place its earliest media \
            file or callback. Calls on legal hold (exorec hold) are never touched; calls still being \
            recorded or with a download queued are left for a later run. Without --yes nothing is \
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
            """)

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
                let plan = try await RetentionPlan.make(catalog: catalog, layout: setup.layout, olderThan: age, now: now)
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
                    bar.show(done: progress.callsDone, of: progress.callsTotal, "calls, \(progress.filesDeleted) files deleted")
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

    private static func kept(_ title: String, _ calls: [RetentionPlan.Kept]) {
        guard !calls.isEmpty else { return }
        StandardOutput.line(title)
        var rows = [["CALL SID", "CALL TIME (UTC)", "REASON"]]
        for call in calls { rows.append([call.callSid, "\(call.callTime)", call.reason]) }
        for line in HoldRetentionTable.lines(rows) { StandardOutput.line("  " + line) }
    }

    private static func print(_ plan: RetentionPlan) {
        if !plan.delete.isEmpty {
            var rows = [["CALL SID", "CALL TIME (UTC)", "FILES", "SIZE"]]
            for item in plan.delete {
                rows.append([item.call.callSid, "\(item.call.callTime)", "\(item.files.count)", HoldRetentionTable.megabytes(item.call.bytes)])
            }
            for line in HoldRetentionTable.lines(rows) { StandardOutput.line(line) }
        }
        Self.kept("kept, on legal hold:", plan.held)
        Self.kept("kept for now, still recording or downloading:", plan.busy)
        if !plan.pending.isEmpty {
            StandardOutput.line(
                "interrupted deletions to finish: \(plan.pending.map(\.callSid).joined(separator: ", ")) "
                    + "(run \(Set(plan.pending.map(\.runId)).sorted().joined(separator: ", ")))")
        }
        StandardOutput.line(
            "dry run: would delete \(plan.delete.count) calls older than \(plan.olderThan) (before \(plan.cutoff)), "
                + "\(plan.fileCount) files, \(HoldRetentionTable.megabytes(plan.bytes)); \(plan.held.count) held, "
                + "\(plan.busy.count) busy, \(plan.pending.count) interrupted to finish. Nothing was deleted; add --yes to delete.")
    }

    private static func print(_ report: RetentionReport) {
        for deletion in report.deleted {
            let resumed = report.resumed.contains(deletion.callSid) ? " (finishing an interrupted run)" : ""
            StandardOutput.line(
                "deleted \(deletion.callSid): \(deletion.files) file\(deletion.files == 1 ? "" : "s"), "
                    + "\(HoldRetentionTable.megabytes(deletion.bytes))\(resumed)")
        }
        Self.kept("kept, on legal hold:", report.heldSkipped)
        Self.kept("kept for now, still recording or downloading:", report.busySkipped)
        Self.kept("kept, changed since the plan:", report.skippedSincePlan)
        for folder in report.foldersKept {
            StandardOutput.line("folder kept: \(folder.path) (\(folder.reason): files retention does not delete are in it)")
        }
        StandardOutput.line(
            "deleted \(report.deleted.count) calls older than \(report.olderThan) (before \(report.cutoff)): \(report.files) files, "
                + "\(HoldRetentionTable.megabytes(report.bytes)); \(report.heldSkipped.count) held calls skipped, "
                + "\(report.busySkipped.count + report.skippedSincePlan.count) busy, "
                + "\(report.resumed.count) interrupted deletions finished; run \(report.runId)")
    }
}

