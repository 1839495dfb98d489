import ArgumentParser
import Catalog
import Foundation
import Glibc
import MediaStore
import ObjectStore
import Orchestrator
import Synchronization

/// `exorec export`: the selected calls' media and metadata to a folder or a BagIt bag (`docs/EXPORT.md`).
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Copy or convert the selected calls' media, with their metadata, to a folder or a BagIt bag.",
        discussion: """
            Selects calls with the filters of 'exorec catalog ls/search' (all that match unless --limit is \
            given; with no filter, every call) and writes, per call, CALLSID/call-detail.json (the call, its \
            status history, callbacks and media files as the catalog has them) and its media files: copied as \
            archived (--format original) or converted through libsndfile to wav (16-bit), flac, mp3 or ogg \
            (Vorbis). --split-legs writes a dual (2-channel) file as one mono file per leg (-leg1, -leg2). \
            export.json at the top maps every file to its source and the source's checksum, and lists what was \
            not exported. With --unattached it exports streams whose start named no call instead (kept under \
            media/_streams/): _streams/STREAM_SID/stream-detail.json and the stream's files, selected by their \
            start time (--from-time, --to-time) and --limit.

            Every source file is checked against the catalog (size and SHA-256) first: a missing or altered \
            source is reported and not exported. With --bag, DEST is a BagIt 1.0 bag (RFC 8493): payload in \
            data/, manifest-sha256.txt and manifest-sha512.txt, bag-info.txt, tag manifests; any BagIt tool \
            validates it (e.g. python -m bagit --validate DEST).

            DEST must not exist, or be an empty folder: nothing is ever overwritten. An interrupted export \
            (killed, disk full) leaves a journal in DEST; rerunning the same command resumes it and yields the \
            same export. A progress bar goes to standard error when it is a terminal. The export is recorded \
            in the audit log (export.completed, and export.problem per problem).

            EXIT CODES: 0 exported, no problems; 1 failed (no catalog, DEST not empty, I/O error, …); 3 done \
            with problems (source files missing, altered or unreadable: listed, not exported); 4 no call \
            matched the filters (nothing written); 64 usage error.

            EXAMPLES:
              exorec export /mnt/audit/nov --from-time 2026-11-01 --to-time 2026-11-30 --limit 10000 --bag
              exorec export out --call-sid CA1234567890abcdef --format flac --split-legs
              exorec export out --status completed --kind recording --format wav --json --quiet
              exorec export /mnt/audit/case-42 --custom-field case_42 --bag --source-organization "Acme Ltd"
              exorec export /mnt/audit/loose-streams --unattached --from-time 2026-11-01 --bag
            """
    )

    @OptionGroup var options: ConfigOptions
    @OptionGroup var filters: CatalogQueryFilters

    @Argument(
        help: ArgumentHelp(
            "The folder to create (or an empty one, or the same command's unfinished export).",
            valueName: "dest"
        )
    )
    var destination: String

    @Option(name: .long, help: ArgumentHelp("original (copy as archived), wav, flac, mp3 or ogg.", valueName: "format"))
    var format = "original"

    @Flag(
        name: .long,
        help: "Write each dual (2-channel) file as one mono file per leg; needs a --format other than original."
    )
    var splitLegs = false

    @Flag(name: .long, help: "Write a BagIt bag (RFC 8493) with SHA-256 and SHA-512 manifests.")
    var bag = false

    @Option(name: .long, help: ArgumentHelp("Source-Organization in bag-info.txt (with --bag).", valueName: "text"))
    var sourceOrganization: String?

    @Option(
        name: .customLong("description"),
        help: ArgumentHelp("External-Description in bag-info.txt (with --bag).", valueName: "text")
    )
    var bagDescription: String?

    @Flag(name: .long, help: "Print the export's report (files, problems, totals) as one JSON object instead of lines.")
    var json = false

    @Flag(name: [.short, .long], help: "No progress bar.")
    var quiet = false

    /// Ends the process, as a kill would, once this run has exported this many files (tests of a killed export).
    @Option(name: .long, help: .hidden)
    var faultAfterFiles: Int?

    func validate() throws {
        if let faultAfterFiles, faultAfterFiles < 1 { throw ValidationError("--fault-after-files must be at least 1.") }
        guard let format = ExportFormat(rawValue: self.format.lowercased()) else {
            throw ValidationError("--format must be original, wav, flac, mp3 or ogg.")
        }
        if !self.bag && (self.sourceOrganization != nil || self.bagDescription != nil) {
            throw ValidationError("--source-organization and --description describe a bag: add --bag.")
        }
        if let reason = try self.request(format: format).invalidReason { throw ValidationError("\(reason).") }
    }

    func request(format: ExportFormat) throws -> ExportRequest {
        // An export takes every matching call unless told otherwise: stopping at a listing's page size
        // would hand an auditor a silently partial set.
        let search = try self.filters.search(defaultLimit: nil)
        return ExportRequest(
            destination: self.destination,
            search: search,
            kind: search.mediaKind,
            format: format,
            splitLegs: self.splitLegs,
            bag: self.bag,
            sourceOrganization: self.sourceOrganization,
            externalDescription: self.bagDescription
        )
    }

    func run() async throws {
        let request = try self.request(format: ExportFormat(rawValue: self.format.lowercased()) ?? .original)
        let setup = try self.options.setup()
        let logger = self.options.logger(label: "exorec.export", file: setup.file)
        let bar = TerminalProgressBar(unlessQuiet: self.quiet)
        let report: ExportReport
        do {
            report = try await bar.running {
                try await setup.withExistingCatalog(logger: logger) { catalog in
                    var exporter = MediaExporter(
                        catalog: catalog,
                        layout: setup.layout,
                        actor: "cli",
                        exorecVersion: ExorecVersion.string,
                        logger: logger
                    )
                    // Files the object archive evicted are read back from its bucket (docs/ARCHIVE.md).
                    if let archive = try setup.objectArchiveConfiguration(actor: "cli") {
                        exporter.archive = ArchivedMediaSource(
                            catalog: catalog,
                            client: S3Client(configuration: archive.s3, logger: logger),
                            layout: setup.layout
                        )
                    }
                    if let limit = self.faultAfterFiles {
                        exporter.faultInjection = { exported in
                            guard exported >= limit else { return }
                            StandardError.line(
                                "fault injected after \(exported) exported files: exiting as a kill would"
                            )
                            _exit(137)
                        }
                    }
                    return try await exporter.export(request) {
                        bar.show(files: $0.filesDone, of: $0.filesTotal, bytes: $0.bytesDone, of: $0.bytesTotal)
                    }
                }
            }
        } catch ExportError.nothingMatched {
            if self.json { StandardOutput.line(#"{"calls":0}"#) }
            StandardError.line(
                self.filters.unattached
                    ? "no streams without a call matched; nothing was exported"
                    : "no calls matched; nothing was exported"
            )
            throw ExportExit.nothingMatched
        }
        if self.json {
            try StandardOutput.json(report)
        } else {
            for problem in report.problems {
                StandardOutput.line("\(problem.kind.rawValue)\t\(problem.path)\t\(problem.detail)")
            }
            StandardOutput.line(report.summaryLine)
        }
        if report.reachedLimit {
            StandardError.line(
                "the selection stopped at --limit \(self.filters.limit ?? 0) calls; more may match (raise --limit to export them)"
            )
        }
        if !report.isClean { throw ExportExit.problems }
    }
}

/// Exit codes of `exorec export`, also listed in its help.
enum ExportExit {
    /// Exported, but some source files were missing, altered or unreadable.
    static let problems = ExitCode(3)
    /// No call matched the filters.
    static let nothingMatched = ExitCode(4)
}
