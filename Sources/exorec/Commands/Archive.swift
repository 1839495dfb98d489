import ArgumentParser
import Catalog
import Foundation
import Logging
import ObjectStore
import Orchestrator

/// `exorec archive`: the WORM archive on an S3 bucket with Object Lock (`docs/ARCHIVE.md`).
struct ArchiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive",
        abstract: "Upload finished media to the Object Lock bucket now, or show the archive's state.",
        discussion: """
            `exorec serve` uploads on its own when archive.s3 is configured; these commands drain the \
            queue at once (after an outage, before a machine is retired) and report on it. \
            `exorec verify --remote` checks the bucket against the catalog.

            EXAMPLES:
              exorec archive upload --config exorec.yaml
              exorec archive upload --retry-failed --json
              exorec archive status --json
            """,
        subcommands: [ArchiveUpload.self, ArchiveStatusCommand.self]
    )
}

/// Runs `body` with the archive's client and the existing catalog.
func withObjectArchive<R: Sendable>(
    _ options: ConfigOptions,
    label: String,
    actor: String,
    _ body: (ObjectArchiveConfiguration, S3Client, Catalog, Logger) async throws -> R
) async throws -> R {
    let setup = try options.setup()
    let logger = options.logger(label: label, file: setup.file)
    let configuration = try setup.requireObjectArchive(actor: actor)
    let client = S3Client(configuration: configuration.s3, logger: logger)
    do {
        let result = try await setup.withExistingCatalog(logger: logger) { catalog in
            try await body(configuration, client, catalog, logger)
        }
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}

struct ArchiveUpload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upload",
        abstract: "Queue every finished file and upload the queue now; sync legal holds; evict if configured.",
        discussion: """
            Finished streams and recordings with their sidecars, and call.json of calls over for \
            archive.call_json_after, are queued and uploaded with their SHA-256 and Object Lock \
            retention (archive.s3.retention). Jobs another process holds are left to it; jobs waiting \
            for a retry are not due yet (use --retry-failed to put failed ones back). A progress line \
            goes to standard error when it is a terminal.

            EXIT CODES: 0 nothing left failing; 3 some uploads or hold syncs failed (listed; they are \
            retried with backoff); 1 could not run (no catalog, the store unreachable: it stops at \
            the first connection that fails, within 5 s); 64 usage error (no archive configured, a bad \
            archive key or missing credentials).

            EXAMPLES:
              exorec archive upload --config exorec.yaml
              exorec archive upload --retry-failed --json
            """
    )

    @OptionGroup var options: ConfigOptions

    @Flag(name: .long, help: "Put failed jobs back in the queue first.")
    var retryFailed = false

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    @Flag(name: [.short, .long], help: "No progress line.")
    var quiet = false

    func run() async throws {
        let bar = TerminalProgressBar(unlessQuiet: self.quiet)
        let report = try await withObjectArchive(self.options, label: "exorec.archive", actor: "cli") {
            configuration,
            client,
            catalog,
            logger in
            var configuration = configuration
            configuration.pollInterval = .zero
            if self.retryFailed { try await catalog.requeueFailedArchiveJobs() }
            let archiver = ObjectArchiver(
                configuration: configuration,
                catalog: catalog,
                client: client,
                logger: logger
            )
            // Queued first, so that the bar knows the total.
            let queued = try await archiver.enqueueFinished()
            let status = try await catalog.archiveStatus()
            let total = status.queued + status.running
            var report = try await bar.running {
                await archiver.drain { report in
                    let done = report.uploaded + report.adopted + report.failed
                    bar.show(done: done, of: max(total, done), "files, \(report.bytes / 1_000_000) MB")
                }
            }
            report.queued += queued
            return report
        }
        if let unreachable = report.storeUnreachable, report.uploaded + report.adopted == 0, !self.json {
            StandardError.line("exorec archive upload: \(unreachable)")
            throw ExitCode(1)
        }
        if self.json {
            try StandardOutput.json(report)
        } else {
            for error in report.errors { StandardOutput.line("problem: \(error)") }
            StandardOutput.line(
                "archive: \(report.uploaded) uploaded, \(report.adopted) found already uploaded, "
                    + "\(report.bytes) bytes, \(report.failed) failed, \(report.holdsSynced) legal holds synced, "
                    + "\(report.evicted) evicted"
            )
        }
        if report.storeUnreachable != nil, report.uploaded + report.adopted == 0 { throw ExitCode(1) }
        if report.failed > 0 || report.holdSyncFailures > 0 { throw ExitCode(3) }
    }
}

struct ArchiveStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the upload queue and what the bucket holds, from the catalog.",
        discussion: """
            Counts of queued, running, done and failed uploads, archived objects and bytes, legal \
            holds not yet in the store, evicted local copies, and the latest error. Reads only the \
            catalog (no request to the store).

            EXIT CODES: 0 shown; 1 failure; 64 usage error.

            EXAMPLES:
              exorec archive status
              exorec archive status --json | jq .queued
            """
    )

    @OptionGroup var options: ConfigOptions

    @Flag(name: .long, help: "Print the status as JSON.")
    var json = false

    func run() async throws {
        let status = try await self.options.withExistingCatalog(label: "exorec.archive") {
            try await $0.archiveStatus()
        }
        if self.json {
            try StandardOutput.json(status)
        } else {
            StandardOutput.line(
                "queue: \(status.queued) queued, \(status.running) running, \(status.done) done, \(status.failed) failed"
            )
            StandardOutput.line(
                "bucket: \(status.objects) objects, \(status.bytes) bytes; \(status.holdSyncPending) legal holds to sync; "
                    + "\(status.evicted) evicted locally"
            )
            if let error = status.lastError { StandardOutput.line("last error: \(error)") }
        }
    }
}
