import ArgumentParser
import Catalog
import Foundation
import Glibc
import Logging
import MediaStore
import ObjectStore
import Orchestrator
import Synchronization

/// `exorec verify`: re-hashes the archive's files against the catalog (`docs/ARCHIVE.md`).
struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Re-hash media files against the catalog; report missing, changed and unexpected files.",
        discussion: """
            Every catalogued media file (or those selected with --call-sid, --since, --kind) is read \
            and its SHA-256 and size compared with the catalog and with its sidecar. Without a time or \
            kind selection, the media folders are also searched for files no catalog row names. The \
            outcome is written to the audit log (archive.verified, and archive.problem per problem). \
            A progress bar goes to standard error when it is a terminal.

            With --remote the object archive (archive.s3, docs/ARCHIVE.md) is checked instead: \
            every catalogued object must be in the bucket as the version exorec uploaded, with the \
            same checksum and size, locked until the recorded date, with the legal hold the catalog \
            wants; any newer version or delete marker over it, and any version under the prefix the \
            catalog does not know, is reported too (missing, changed, unlocked, legal-hold, \
            unexpected). Written to the audit log as archive.remote_verified.

            EXIT CODES: 0 every file checked out; 3 problems found (listed); 1 failed (catalog \
            unreadable, store unreachable, …); 64 usage error.

            EXAMPLES:
              exorec verify --config exorec.yaml
              exorec verify --remote --config exorec.yaml --json
              exorec verify --storage /srv/exorec --call-sid 1a2b3c --json
              exorec verify --since 7d --kind recording
            """
    )

    @OptionGroup var options: ConfigOptions

    @Option(name: .customLong("call-sid"), help: ArgumentHelp("Only this call's files (repeatable).", valueName: "sid"))
    var callSids: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Only files created since: 2026-11-24, 2026-11-24T09:30:00Z, or an age (90m, 24h, 7d).",
            valueName: "time"
        )
    )
    var since: String?

    @Option(name: .long, help: ArgumentHelp("Only files of this kind: stream or recording.", valueName: "kind"))
    var kind: String?

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    @Flag(name: [.short, .long], help: "No progress bar.")
    var quiet = false

    @Flag(name: .long, help: "Check the object archive's bucket against the catalog instead of the local files.")
    var remote = false

    func validate() throws {
        if let since, ArchiveVerifier.Selection.parseSince(since) == nil {
            throw ValidationError("--since must be yyyy-mm-dd, yyyy-mm-ddThh:mm:ssZ or an age such as 24h.")
        }
        if let kind, MediaKind(rawValue: kind) == nil { throw ValidationError("--kind must be stream or recording.") }
    }

    var selection: ArchiveVerifier.Selection {
        ArchiveVerifier.Selection(
            callSids: Set(self.callSids),
            since: self.since.flatMap { ArchiveVerifier.Selection.parseSince($0) },
            kind: self.kind.flatMap(MediaKind.init(rawValue:))
        )
    }

    func run() async throws {
        if self.remote { return try await self.runRemote() }
        let setup = try self.options.setup()
        let logger = self.options.logger(label: "exorec.verify", file: setup.file)
        let bar = TerminalProgressBar(unlessQuiet: self.quiet)
        let archive = try setup.objectArchiveConfiguration(actor: "cli")
        let report = try await bar.running {
            try await setup.withExistingCatalog(logger: logger) { catalog in
                var verifier = ArchiveVerifier(catalog: catalog, layout: setup.layout, actor: "cli", logger: logger)
                // Files the object archive evicted are checked in its bucket (docs/ARCHIVE.md).
                if let archive {
                    verifier.archive = ArchivedMediaSource(
                        catalog: catalog,
                        client: S3Client(configuration: archive.s3, logger: logger),
                        layout: setup.layout
                    )
                }
                return try await verifier.verify(self.selection) {
                    bar.show(files: $0.filesDone, of: $0.filesTotal, bytes: $0.bytesDone, of: $0.bytesTotal)
                }
            }
        }
        if self.json {
            try StandardOutput.json(report)
        } else {
            for line in report.problemTable { StandardOutput.line(line) }
            StandardOutput.line(report.summaryLine)
        }
        if !report.isClean { throw ExitCode(3) }
    }

    /// `--remote`: the bucket against the catalog.
    func runRemote() async throws {
        if !self.callSids.isEmpty || self.since != nil || self.kind != nil {
            throw ValidationError("--remote checks the whole archive; it takes no --call-sid, --since or --kind.")
        }
        let bar = TerminalProgressBar(unlessQuiet: self.quiet)
        let report = try await withObjectArchive(self.options, label: "exorec.verify", actor: "cli") {
            configuration,
            client,
            catalog,
            _ in
            let report = try await bar.running {
                try await RemoteArchiveVerifier(catalog: catalog, client: client, prefix: configuration.prefix).verify {
                    bar.show(done: $0, of: $0, "objects")
                }
            }
            var detail = [
                "bucket": report.bucket, "prefix": report.prefix, "checked": "\(report.checked)",
                "problems": "\(report.problems.count)",
            ]
            for kind in Set(report.problems.map(\.kind.rawValue)) {
                detail[kind] = "\(report.problems.filter { $0.kind.rawValue == kind }.count)"
            }
            try await catalog.appendAudit(
                AuditEvent(at: .now(), actor: "cli", action: "archive.remote_verified", detail: detail)
            )
            return report
        }
        if self.json {
            try StandardOutput.json(report)
        } else {
            for problem in report.problems {
                StandardOutput.line(
                    "\(problem.kind.rawValue)\t\(problem.path ?? "-")\t\(problem.key)\t\(problem.versionID ?? "-")\t\(problem.detail)"
                )
            }
            StandardOutput.line(
                "verify --remote: \(report.checked) objects checked in \(report.bucket), \(report.versionsListed) versions "
                    + "listed, \(report.problems.count) problems"
            )
        }
        if !report.ok { throw ExitCode(3) }
    }
}
