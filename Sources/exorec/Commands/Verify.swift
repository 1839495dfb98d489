import ArgumentParser
import Catalog
import Foundation
import Glibc
import Logging
import MediaStore
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

            EXIT CODES: 0 every file checked out; 3 problems found (listed); 1 failed (catalog \
            unreadable, …); 64 usage error.

            EXAMPLES:
              exorec verify --config exorec.yaml
              exorec verify --storage /srv/exorec --call-sid 1a2b3c --json
              exorec verify --since 7d --kind recording
            """)

    @OptionGroup var options: ConfigOptions

    @Option(name: .customLong("call-sid"), help: ArgumentHelp("Only this call's files (repeatable).", valueName: "sid"))
    var callSids: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp("Only files created since: 2026-11-24, 2026-11-24T09:30:00Z, or an age (90m, 24h, 7d).", valueName: "time"))
    var since: String?

    @Option(name: .long, help: ArgumentHelp("Only files of this kind: stream or recording.", valueName: "kind"))
    var kind: String?

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    @Flag(name: .long, help: "No progress bar.")
    var quiet = false

    func validate() throws {
        if let since, ArchiveVerifier.Selection.parseSince(since) == nil {
            throw ValidationError("--since must be yyyy-mm-dd, yyyy-mm-ddThh:mm:ssZ or an age such as 24h.")
        }
        if let kind, MediaKind(rawValue: kind) == nil { throw ValidationError("--kind must be stream or recording.") }
    }

    var selection: ArchiveVerifier.Selection {
        ArchiveVerifier.Selection(
            callSids: Set(self.callSids), since: self.since.flatMap { ArchiveVerifier.Selection.parseSince($0) },
            kind: self.kind.flatMap(MediaKind.init(rawValue:)))
    }

    func run() async throws {
        let setup = try self.options.setup()
        let logger = self.options.logger(label: "exorec.verify", file: setup.file)
        let catalog = try await setup.openExistingCatalog(logger: logger)
        let bar = !self.quiet && isatty(2) == 1 ? VerifyProgressBar() : nil
        let report: ArchiveVerificationReport
        do {
            report = try await ArchiveVerifier(catalog: catalog, layout: setup.layout, actor: "cli", logger: logger)
                .verify(self.selection) { progress in bar?.show(progress) }
        } catch {
            bar?.finish()
            try? await catalog.close()
            throw error
        }
        bar?.finish()
        try await catalog.close()
        if self.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            StandardOutput.line(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            for line in report.problemTable { StandardOutput.line(line) }
            StandardOutput.line(report.summaryLine)
        }
        if !report.isClean { throw ExitCode(3) }
    }
}

/// `[#####.....] 12/40 files, 1.2/3.4 MB` on standard error, redrawn in place (at most every 100 ms).
final class VerifyProgressBar: Sendable {
    private let lastDraw = Mutex<ContinuousClock.Instant?>(nil)

    func show(_ progress: ArchiveVerifier.Progress) {
        let now = ContinuousClock.now
        let due = self.lastDraw.withLock { last in
            guard progress.filesDone == progress.filesTotal || last.map({ now - $0 >= .milliseconds(100) }) ?? true else {
                return false
            }
            last = now
            return true
        }
        guard due else { return }
        let width = 30
        let fraction = progress.filesTotal == 0 ? 1 : Double(progress.filesDone) / Double(progress.filesTotal)
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        func megabytes(_ bytes: Int64) -> String { String(format: "%.1f", Double(bytes) / 1_000_000) }
        Self.write(
            "\r[\(bar)] \(progress.filesDone)/\(progress.filesTotal) files, "
                + "\(megabytes(progress.bytesDone))/\(megabytes(progress.bytesTotal)) MB")
    }

    func finish() { Self.write("\n") }

    private static func write(_ text: String) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 { return }
                offset += n
            }
        }
    }
}

/// A check of a storage root that has no catalog fails (exit 1) instead of creating an empty one and passing:
/// a mistyped `--storage` must not look like a clean archive.
struct NoCatalogToVerify: Error, CustomStringConvertible {
    let path: String
    var description: String { "no catalog at \(self.path): check --storage or --config (nothing was verified)" }
}

extension PipelineSetup {
    /// The catalog, which must exist already (`verify` and `audit` read it, never create it).
    func openExistingCatalog(logger: Logger) async throws -> Catalog {
        guard FileSystem.exists(self.catalogPath) else { throw NoCatalogToVerify(path: self.catalogPath) }
        return try await self.openCatalog(logger: logger)
    }
}
