import ArgumentParser
import Catalog
import ExotelKit
import Foundation
import Orchestrator
import Synchronization

struct Campaign: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Place many recorded calls from a CSV or JSON-lines file; a rerun never places a row twice.",
        discussion: """
            Every row is checked first (numbers, parameters, prompt audio): if one is bad, nothing is \
            placed and every problem is listed with its line. Then the calls are placed, at most \
            --concurrency at a time and within the platform's 200 requests a minute, each row claimed \
            in the catalog before its request is sent. Running the same campaign again places only the \
            rows no run has claimed: rows already placed are skipped, and a row a crash left half-done \
            (the platform may have placed it) is reported as uncertain, not placed again; --retry \
            releases failed and uncertain rows.

            FILE columns (CSV header or JSON keys): from, to | flow, id, custom_field, wait_url, \
            time_limit, stream_begin (leg1|leg2), recording_channels (single|dual), callback_format \
            (multipart|json). A row's key is its id, else its content.

            Progress goes to standard error (one line per row; --quiet for none); the summary to \
            standard output (--json for one JSON document).

            EXIT CODES: 0 every row placed (now or before); 3 some rows failed or are uncertain; \
            64 usage, configuration or file error (nothing placed).

            EXAMPLES:
              exorec campaign --config exorec.yaml calls.csv
              exorec campaign --config exorec.yaml --check calls.jsonl
              exorec campaign --config exorec.yaml --id spring-2026 --concurrency 20 --json calls.csv
            """)

    @Argument(help: ArgumentHelp("CSV (with a header) or JSON-lines file.", valueName: "file"))
    var file: String

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: ArgumentHelp("Campaign id (default: the file's name without extension).", valueName: "id"))
    var id: String?

    @Option(name: .long, help: ArgumentHelp("Calls placed at once (default from calls.concurrency, else 10).", valueName: "n"))
    var concurrency: Int?

    @Flag(name: .long, help: "Only check the file and its prompt audio; place nothing.")
    var check = false

    @Flag(name: .long, help: "Place again rows that failed or were left uncertain by an earlier run.")
    var retry = false

    @Flag(name: .long, help: "Print the summary as JSON.")
    var json = false

    @Flag(name: .shortAndLong, help: "No progress lines.")
    var quiet = false

    func validate() throws {
        if let concurrency, !(1...200).contains(concurrency) { throw ValidationError("--concurrency must be 1-200.") }
    }

    var campaignId: String {
        self.id ?? ((self.file as NSString).lastPathComponent as NSString).deletingPathExtension
    }

    func run() async throws {
        let setup = try self.options.setup()
        let logger = self.options.logger(label: "exorec.campaign", file: setup.file)
        let rows: [CampaignRow]
        do {
            rows = try CampaignFile.load(path: self.file)
        } catch {
            throw ValidationError("\(self.file): \(error)")
        }
        let client = try setup.client(logger: logger)
        _ = try setup.placementSettings()  // every missing setting named before anything is opened
        let catalog = try await setup.openCatalog(logger: logger)
        let runner = CampaignRunner(
            placer: try setup.placer(catalog: catalog, client: client, logger: logger), catalog: catalog,
            concurrency: self.concurrency ?? setup.file.pipeline.concurrency, logger: logger)
        let problems = await runner.check(rows)
        guard problems.isEmpty else {
            try await catalog.close()
            for problem in problems { StandardError.line("\(self.file): \(problem)") }
            throw ValidationError("\(problems.count) of \(rows.count) rows cannot be placed; nothing was placed.")
        }
        if self.check {
            try await catalog.close()
            StandardOutput.line(self.json ? "{\"rows\":\(rows.count),\"problems\":0}" : "\(rows.count) rows checked, no problems.")
            return
        }
        if self.retry { try await runner.release(rows, campaignId: self.campaignId) }
        let done = Mutex(0)
        let quiet = self.quiet
        let total = rows.count
        let summary: CampaignSummary
        do {
            summary = try await runner.run(campaignId: self.campaignId, rows: rows) { row, outcome in
                let count = done.withLock { $0 += 1; return $0 }
                guard !quiet else { return }
                StandardError.line("[\(count)/\(total)] line \(row.line): \(Self.describe(outcome))")
            }
        } catch {
            try? await catalog.close()
            throw error
        }
        try await catalog.close()
        if self.json {
            try StandardOutput.json(summary)
        } else {
            StandardOutput.line(
                "campaign \(summary.campaignId): \(summary.rows) rows, \(summary.placed) placed now, \(summary.alreadyPlaced) placed before, "
                    + "\(summary.uncertain) uncertain, \(summary.failed) failed")
        }
        if summary.failed > 0 || summary.uncertain > 0 { throw ExitCode(3) }
    }

    static func describe(_ outcome: CampaignRowOutcome) -> String {
        switch outcome {
        case .placed(let sid): "placed \(sid)"
        case .alreadyPlaced(let sid): "placed before\(sid.map { " (\($0))" } ?? "")"
        case .uncertain: "uncertain: an earlier run may have placed it (--retry places it again)"
        case .failed(let reason): "failed: \(reason)"
        case .maybePlaced(let reason): "uncertain: \(reason)"
        }
    }
}

struct CatalogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog", abstract: "Work with the catalog (the index of calls and media).",
        subcommands: [CatalogList.self, CatalogSearch.self, CatalogShow.self, CatalogRebuild.self])
}

struct CatalogRebuild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Recreate the catalog from the files and sidecars on disk.",
        discussion: """
            The files and their sidecars (call.json, stream-*.json, recording.json) are the record; \
            the catalog is an index of them. This builds a new catalog from storage/media, then \
            swaps it in atomically (the old one is kept as catalog.sqlite.before-rebuild-<time>); \
            the audit log and campaign rows, which no file holds, are carried over from the old \
            catalog. Run it with the server stopped (it takes the storage lock).

            EXIT CODES: 0 rebuilt without problems; 3 rebuilt, with problems listed; 1 failed (the \
            old catalog is untouched).

            EXAMPLES:
              exorec catalog rebuild --config exorec.yaml
              exorec catalog rebuild --storage /srv/exorec --verify-hashes --json
            """)

    @OptionGroup var options: ConfigOptions

    @Flag(name: .long, help: "Re-hash every file against its sidecar (slow on large archives).")
    var verifyHashes = false

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    func run() async throws {
        let setup = try self.options.setup()
        let logger = self.options.logger(label: "exorec.catalog", file: setup.file)
        let rebuilder = CatalogRebuilder(layout: setup.layout, catalogPath: setup.catalogPath, logger: logger)
        let report = try await rebuilder.rebuild(options: .init(verifyHashes: self.verifyHashes))
        if self.json {
            try StandardOutput.json(report)
        } else {
            StandardOutput.line(
                "rebuilt \(report.catalogPath): \(report.calls) calls, \(report.callbacks) callbacks, \(report.streams) streams, "
                    + "\(report.recordings) recordings, \(report.mediaFiles) media files, \(report.requeuedDownloads) downloads requeued, "
                    + "\(report.auditEntriesCarried) audit entries carried over")
            for problem in report.problems { StandardOutput.line("problem: \(problem)") }
        }
        if !report.problems.isEmpty { throw ExitCode(3) }
    }
}
