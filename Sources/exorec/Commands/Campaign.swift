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
            The file is read whole before anything is placed: CSV (RFC 4180: quoted cells with commas, \
            quotes and line breaks; CRLF or LF; a UTF-8 byte-order mark as Excel writes it) with a header \
            line, the delimiter (comma, semicolon or tab) detected from it unless --delimiter is given; \
            or JSON lines. Every problem is listed with its line (bad numbers, missing cells, a file \
            without rows) and then nothing is placed. Numbers are E.164 (+ and 8-15 digits, e.g. \
            +919876543210); national numbers (09876543210) need --country-code. Then every row is \
            checked against the settings and prompt audio, and the calls are placed, at most \
            --concurrency at a time and within the platform's 200 requests a minute, each row claimed \
            in the catalog before its request is sent.

            The campaign is known by its rows' content (an id like c-3f2a9b01c4d5e6f7, printed in the \
            summary), not by the file's name: a copy or a renamed file continues the same campaign, so \
            rows already placed are skipped, and a row a crash left half-done (the platform may have \
            placed it) is reported as uncertain, not placed again; --retry releases failed and \
            uncertain rows. An edited file (a row added or changed) is a new campaign unless --id names \
            the old one; its unchanged rows are then skipped. If rows of the file were claimed by \
            another campaign, nothing is placed and the campaign is named (--again places them anyway).

            FILE columns (CSV header or JSON keys): from, to | flow, id, custom_field, wait_url, \
            time_limit, stream_begin (leg1|leg2), recording_channels (single|dual), callback_format \
            (multipart|json). Other columns (a CRM's name, account_id, ...) are the call's metadata: \
            kept in the catalog, call.json and the call.placed audit entry, shown by 'catalog show', \
            found by 'catalog search --meta name=value'; they are not sent to the platform. At most 32 \
            such columns; names up to 64 bytes (lowercased); values up to 1024 bytes, no control \
            characters but tab and line breaks; empty cells are left out. A row's key is its id, else \
            its content.

            Progress goes to standard error (one line per row; --quiet for none); the summary to \
            standard output (--json for one JSON document).

            EXIT CODES: 0 every row placed (now or before); 3 some rows failed or are uncertain; \
            64 usage, configuration or file error (nothing placed).

            EXAMPLES:
              exorec campaign --config exorec.yaml calls.csv
              exorec campaign --config exorec.yaml --check calls.jsonl
              exorec campaign --config exorec.yaml --delimiter ';' --country-code 91 --check crm-export.csv
              exorec campaign --config exorec.yaml --id spring-2026 --concurrency 20 --json calls.csv
            """
    )

    @Argument(help: ArgumentHelp("CSV (with a header) or JSON-lines file.", valueName: "file"))
    var file: String

    @OptionGroup var options: ConfigOptions

    @Option(
        name: .long,
        help: ArgumentHelp("Campaign id (default: one made from the rows' content, c-<hash>).", valueName: "id")
    )
    var id: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "CSV cell separator: ',', ';', 'tab' or another single symbol (default: detected from the header).",
            valueName: "c"
        )
    )
    var delimiter: String?

    @Option(
        name: .customLong("country-code"),
        help: ArgumentHelp(
            "Country calling code for numbers written without +, e.g. 91 (09876543210 becomes +919876543210).",
            valueName: "digits"
        )
    )
    var countryCode: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Calls placed at once (default from calls.concurrency, else 10).", valueName: "n")
    )
    var concurrency: Int?

    @Flag(name: .long, help: "Only check the file and its prompt audio; place nothing.")
    var check = false

    @Flag(name: .long, help: "Place again rows that failed or were left uncertain by an earlier run.")
    var retry = false

    @Flag(name: .long, help: "Place rows even if another campaign (another --id) already claimed the same rows.")
    var again = false

    @Flag(name: .long, help: "Print the summary as JSON.")
    var json = false

    @Flag(name: .shortAndLong, help: "No progress lines.")
    var quiet = false

    func validate() throws {
        if let concurrency, !(1...200).contains(concurrency) { throw ValidationError("--concurrency must be 1-200.") }
        _ = try self.fileOptions()
    }

    func fileOptions() throws -> CampaignFileOptions {
        var options = CampaignFileOptions()
        if let delimiter {
            switch delimiter.lowercased() {
            case "tab", "\\t", "\t": options.delimiter = "\t"
            default:
                guard delimiter.unicodeScalars.count == 1, let scalar = delimiter.unicodeScalars.first, scalar.isASCII,
                    scalar.properties.isPatternSyntax || scalar == "\t", scalar != "\""
                else {
                    throw ValidationError(
                        "--delimiter must be one symbol such as ',' or ';', or 'tab' (got '\(delimiter)')."
                    )
                }
                options.delimiter = scalar
            }
        }
        if let countryCode {
            let digits = countryCode.hasPrefix("+") ? String(countryCode.dropFirst()) : countryCode
            guard (1...3).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }), digits.first != "0"
            else {
                throw ValidationError("--country-code must be 1-3 digits, e.g. 91 (got '\(countryCode)').")
            }
            options.countryCode = digits
        }
        return options
    }

    /// The file's name without extension: the id campaigns had before they were known by content.
    var fileNameId: String {
        ((self.file as NSString).lastPathComponent as NSString).deletingPathExtension
    }

    func run() async throws {
        let setup = try self.options.setup()
        let logger = self.options.logger(label: "exorec.campaign", file: setup.file)
        let rows: [CampaignRow]
        let fileOptions = try self.fileOptions()
        do throws(CampaignFileProblems) {
            rows = try CampaignFile.load(path: self.file, options: fileOptions)
        } catch {
            for problem in error.problems { StandardError.line("\(self.file): \(problem)") }
            let count = error.problems.count(where: { $0.line != nil })
            throw ValidationError(
                count == 0
                    ? "\(self.file) has no rows to place; nothing was placed."
                    : "\(count) problem\(count == 1 ? "" : "s") in \(error.rows) rows; nothing was placed."
            )
        }
        let client = try setup.client(logger: logger)
        _ = try setup.placementSettings()  // every missing setting named before anything is opened
        let catalog = try await setup.openCatalog(logger: logger)
        let runner = CampaignRunner(
            placer: try setup.placer(catalog: catalog, client: client, logger: logger),
            catalog: catalog,
            concurrency: self.concurrency ?? setup.file.pipeline.concurrency,
            logger: logger
        )
        let problems = await runner.check(rows)
        guard problems.isEmpty else {
            try await catalog.close()
            for problem in problems { StandardError.line("\(self.file): \(problem)") }
            throw ValidationError("\(problems.count) of \(rows.count) rows cannot be placed; nothing was placed.")
        }
        if self.check {
            try await catalog.close()
            StandardOutput.line(
                self.json
                    ? "{\"rows\":\(rows.count),\"problems\":0}"
                    : "\(rows.count) \(rows.count == 1 ? "row" : "rows") checked, no problems."
            )
            return
        }
        let campaignId = try await self.campaignId(rows: rows, catalog: catalog)
        if !self.again {
            // Content keys only: an `id` column's values may repeat across unrelated campaigns.
            let claims = try await catalog.campaignRowClaims(
                rowKeys: rows.map(\.key).filter { $0.hasPrefix("row:") },
                excluding: campaignId
            )
            if !claims.isEmpty {
                try await catalog.close()
                let lines = Dictionary(rows.map { ($0.key, $0.line) }, uniquingKeysWith: { first, _ in first })
                let campaigns = Set(claims.map(\.campaignId)).sorted()
                let shownLines = Set(claims.compactMap { lines[$0.rowKey] }).sorted().prefix(20).map(String.init)
                    .joined(separator: ", ")
                throw ValidationError(
                    "\(Set(claims.map(\.rowKey)).count) rows (lines \(shownLines)) were already claimed by campaign \(campaigns.joined(separator: ", ")); "
                        + "nothing was placed. --id \(campaigns[0]) continues that campaign; --again places them again."
                )
            }
        }
        if self.retry { try await runner.release(rows, campaignId: campaignId) }
        let done = Mutex(0)
        let quiet = self.quiet
        let total = rows.count
        let summary: CampaignSummary
        do {
            summary = try await runner.run(campaignId: campaignId, rows: rows) { row, outcome in
                let count = done.withLock {
                    $0 += 1
                    return $0
                }
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
                    + "\(summary.uncertain) uncertain, \(summary.failed) failed"
            )
        }
        if summary.failed > 0 || summary.uncertain > 0 { throw ExitCode(3) }
    }

    /// `--id`, else the rows' content id; a campaign an earlier exorec ran under the file's name
    /// (rows with these keys claimed under it) goes on under that name, so no row is placed twice.
    func campaignId(rows: [CampaignRow], catalog: Catalog) async throws -> String {
        if let id { return id }
        let earlier = try await catalog.campaignRows(campaignId: self.fileNameId)
        if !earlier.isEmpty, Set(earlier.map(\.rowKey)).isDisjoint(with: rows.map(\.key)) == false {
            if !self.quiet {
                StandardError.line(
                    "continuing campaign '\(self.fileNameId)', which an earlier run started under the file's name"
                )
            }
            return self.fileNameId
        }
        return CampaignFile.contentId(of: rows)
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
        commandName: "catalog",
        abstract: "Work with the catalog (the index of calls and media).",
        subcommands: [CatalogList.self, CatalogSearch.self, CatalogShow.self, CatalogRebuild.self, CatalogMigrate.self]
    )
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
            """
    )

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
                "rebuilt \(report.catalogPath): \(report.calls) calls (\(report.elsewhereCalls) placed elsewhere), \(report.callbacks) callbacks, \(report.streams) streams, "
                    + "\(report.recordings) recordings, \(report.mediaFiles) media files, \(report.requeuedDownloads) downloads requeued, "
                    + "\(report.auditEntriesCarried) audit entries carried over"
            )
            for problem in report.problems { StandardOutput.line("problem: \(problem)") }
        }
        if !report.problems.isEmpty { throw ExitCode(3) }
    }
}
