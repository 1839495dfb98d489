import ArgumentParser
import Catalog
import Foundation
import Logging
import MediaStore

/// Exit codes of the catalog's read commands, also listed in their help.
enum CatalogQueryExit {
    /// No call matched the filters (`ls`, `search`).
    static let nothingMatched = ExitCode(3)
    /// No call with that CallSid (`show`).
    static let notFound = ExitCode(4)

    static let help = """
        EXIT CODES: 0 found something; 1 error (no catalog, unreadable, schema too old or too new); \
        3 nothing matched (ls, search); 4 no such CallSid (show); 64 usage (bad option or value).
        """
}

/// How `ls` and `search` print the calls they find (`export` prints a report instead: its own `--json`).
struct CallListingOptions: ParsableArguments {
    @Flag(name: .long, help: "Print one JSON array.")
    var json = false

    @Flag(name: .long, help: "Print one JSON object per line.")
    var jsonl = false

    func validate() throws {
        if self.json && self.jsonl { throw ValidationError("--json and --jsonl exclude each other.") }
    }

    var format: CallListingFormat { self.json ? .json : self.jsonl ? .jsonl : .table }
}

/// The filters `ls`, `search` and `export` share.
struct CatalogQueryFilters: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp("Placed at or after this time: YYYY-MM-DD or ISO 8601 (UTC if no zone).", valueName: "time")
    )
    var fromTime: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Placed before this time; a bare date includes that whole day.", valueName: "time")
    )
    var toTime: String?

    @Option(
        name: .long,
        help: ArgumentHelp("From, To or CallerId, typed any way (normalised to E.164, see below).", valueName: "number")
    )
    var number: String?

    @Option(name: .long, help: ArgumentHelp("Country code for numbers typed without one.", valueName: "digits"))
    var countryCode = "91"

    @Option(name: .long, help: ArgumentHelp("This CallSid.", valueName: "sid"))
    var callSid: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Current status (completed, failed, busy, no-answer, canceled, in-progress, …).",
            valueName: "status"
        )
    )
    var status: String?

    @Option(name: .long, help: ArgumentHelp("The call's CustomField, exactly.", valueName: "text"))
    var customField: String?

    @Option(
        name: .customLong("meta"),
        help: ArgumentHelp(
            "Calls whose metadata has this pair, exactly (repeatable: all must match; keys are lowercased).",
            valueName: "key=value"
        )
    )
    var meta: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp("Calls with at least one media file of this kind: stream or recording.", valueName: "kind")
    )
    var kind: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Who placed the call: exorec, or elsewhere (another tool that pointed its stream and callbacks at exorec).",
            valueName: "origin"
        )
    )
    var origin: String?

    @Flag(name: .long, help: "Calls with a downloaded recording (not missing).")
    var hasRecording = false

    @Flag(name: .long, help: "Calls with an interrupted stream (its writer died; audio up to then kept).")
    var interrupted = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "At most this many calls, newest first (ls and search: 50 unless given; export: all).",
            valueName: "n"
        )
    )
    var limit: Int?

    @Flag(
        name: .long,
        help:
            "Streams whose start named no call (kept under media/_streams/), instead of calls; with --from-time/--to-time (their start) and --limit only."
    )
    var unattached = false

    func validate() throws {
        let search = try self.search()
        if self.unattached {
            let callOnly =
                search.number != nil || search.callSid != nil || search.status != nil || search.customField != nil
                || search.mediaKind != nil || search.hasRecording || search.interrupted
            if callOnly {
                throw ValidationError(
                    "--unattached lists streams without a call: only --from-time, --to-time and --limit apply."
                )
            }
        }
    }

    /// The filters as a search; every bad value is a usage error naming its option. Without `--limit`, at
    /// most `defaultLimit` calls (nil: all of them).
    func search(defaultLimit: Int? = 50) throws -> CallSearch {
        var search = CallSearch()
        if let text = self.fromTime {
            guard let time = QueryTime.parse(text) else {
                throw ValidationError("--from-time '\(text)' is not YYYY-MM-DD or ISO 8601.")
            }
            search.placedFrom = time
        }
        if let text = self.toTime {
            guard let time = QueryTime.parse(text, endOfDay: true) else {
                throw ValidationError("--to-time '\(text)' is not YYYY-MM-DD or ISO 8601.")
            }
            search.placedBefore = time
        }
        search.normaliser = PhoneNumberNormaliser(countryCode: self.countryCode)
        guard search.normaliser.isValid else { throw ValidationError("--country-code must be 1 to 3 digits.") }
        if let number = self.number {
            guard !search.normaliser.normalise(number).isEmpty else { throw ValidationError("--number is empty.") }
            search.number = number
        }
        search.callSid = self.callSid
        search.status = self.status
        search.customField = self.customField
        search.metadata = try MetadataArguments.pairs(self.meta, option: "--meta", limit: CallMetadata.maximumEntries)
        if let kind = self.kind {
            guard let parsed = MediaKind(rawValue: kind.lowercased()) else {
                throw ValidationError("--kind must be stream or recording.")
            }
            search.mediaKind = parsed
        }
        if let origin = self.origin {
            guard let parsed = CallOrigin(rawValue: origin.lowercased()) else {
                throw ValidationError("--origin must be exorec or elsewhere.")
            }
            search.origin = parsed
        }
        search.hasRecording = self.hasRecording
        search.interrupted = self.interrupted
        search.unattached = self.unattached
        if let limit = self.limit {
            guard limit > 0 else { throw ValidationError("--limit must be at least 1.") }
            search.limit = limit
        } else {
            search.limit = defaultLimit ?? Int(Int32.max)
        }
        return search
    }
}

/// The catalog of a read command, opened as it is: no migration.
///
/// A read command never writes the file: migrating it could change the schema under a running, older
/// `exorec serve`. A catalog that needs migrating is reported (`catalog.schema-too-old`, exit 1) and
/// `exorec serve` or `catalog rebuild` migrates it; a missing catalog is reported, not created.
enum CatalogQueryAccess {
    static func withCatalog<R: Sendable>(
        _ options: ConfigOptions,
        _ body: (Catalog) async throws -> R
    ) async throws -> R {
        try await options.withExistingCatalog(label: "exorec.catalog", migrate: false, body)
    }

    /// Runs `search`, prints the calls found (or, with `--unattached`, the streams without a call), and exits 3
    /// when there are none.
    static func list(
        _ options: ConfigOptions,
        _ filters: CatalogQueryFilters,
        _ listing: CallListingOptions
    ) async throws {
        let search = try filters.search()
        if filters.unattached {
            let streams = try await Self.withCatalog(options) {
                try await $0.unattachedStreams(
                    startedFrom: search.placedFrom,
                    startedBefore: search.placedBefore,
                    limit: search.limit
                )
            }
            if streams.isEmpty {
                if listing.format == .json { StandardOutput.line("[]") }
                StandardError.line("no streams without a call matched")
                throw CatalogQueryExit.nothingMatched
            }
            for line in try StreamListingFormat.lines(for: streams, format: listing.format) {
                StandardOutput.line(line)
            }
            return
        }
        let calls = try await Self.withCatalog(options) { try await search.run(on: $0) }
        if calls.isEmpty {
            if listing.format == .json { StandardOutput.line("[]") }
            StandardError.line("no calls matched")
            throw CatalogQueryExit.nothingMatched
        }
        for line in try listing.format.lines(for: calls) { StandardOutput.line(line) }
    }
}

private let numberRule = """
    NUMBERS: --number matches From, To or CallerId, both sides normalised the same way: spaces, dashes, \
    dots and parentheses removed; +… kept; 00… becomes +…; 0 followed by 10 digits becomes +<country>…; \
    <country> followed by 10 digits becomes +…; 10 digits become +<country>…; anything else is compared as \
    typed. --country-code sets <country> (default 91).
    """

struct CatalogList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List recent calls (the last 50, newest first), optionally filtered.",
        discussion: """
            Columns: CallSid, when it was placed (UTC), From, To, current status, conversation duration, \
            media (streams s / recordings r), flags (interrupted: a stream's writer died; unknown: no \
            terminal status yet; elsewhere: placed by another tool, PLACED is when exorec first saw it). Takes the same filters as search; with none it lists the newest calls.

            \(numberRule)

            \(CatalogQueryExit.help)

            EXAMPLES:
              exorec catalog ls --storage /srv/exorec
              exorec catalog ls --limit 200 --status failed
              exorec catalog ls --from-time 2026-11-23 --jsonl | jq .call.call_sid
            """
    )

    @OptionGroup var options: ConfigOptions
    @OptionGroup var filters: CatalogQueryFilters
    @OptionGroup var listing: CallListingOptions

    func run() async throws {
        try await CatalogQueryAccess.list(self.options, self.filters, self.listing)
    }
}

struct CatalogSearch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract:
            "Find calls by time, number, CallSid, status, CustomField, metadata, origin or media (at least one filter).",
        discussion: """
            Every filter given must match. Time, CallSid, status, CustomField, metadata and kind are looked up in \
            the catalog's indexes (and --origin); the number, --has-recording and --interrupted are checked on the calls \
            those return (narrow with a time range on large catalogs). Same output as ls.

            \(numberRule)

            \(CatalogQueryExit.help)

            EXAMPLES:
              exorec catalog search --number "098765 43210"
              exorec catalog search --from-time 2026-11-23T09:00:00+05:30 --to-time 2026-11-23 --kind recording
              exorec catalog search --custom-field order_12345 --json
              exorec catalog search --meta crm_id=A-1 --meta "name=Doe, Jane"
              exorec catalog search --interrupted --has-recording --jsonl
              exorec catalog search --origin elsewhere --from-time 2026-11-23
              exorec catalog search --unattached --from-time 2026-11-23

            STREAMS WITHOUT A CALL: a stream whose start named no call_sid (a test client, a gateway) is \
            kept under media/_streams/<yyyy>/<mm>/<dd>/<stream_sid>/; --unattached lists those (STREAM SID, \
            STARTED, STATE, CH, DURATION, PATH) and 'exorec catalog show STREAM_SID' shows one.
            """
    )

    @OptionGroup var options: ConfigOptions
    @OptionGroup var filters: CatalogQueryFilters
    @OptionGroup var listing: CallListingOptions

    func validate() throws {
        guard try self.filters.search().hasFilters || self.filters.unattached else {
            throw ValidationError("search needs at least one filter (use 'exorec catalog ls' to list recent calls).")
        }
    }

    func run() async throws {
        try await CatalogQueryAccess.list(self.options, self.filters, self.listing)
    }
}

struct CatalogShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one call: metadata, parameters, status history, callbacks, media files and downloads.",
        discussion: """
            The call's metadata (a campaign row's extra columns, exorec call --meta) is printed with \
            line breaks and other control characters escaped (\\r\\n); --json gives it as it is stored.

            Given a stream_sid instead of a CallSid (a stream without a call, under media/_streams/, or any \
            stream), shows that stream: its state, format, length, close reason, file and checksum.

            A call another tool placed with exorec's StreamUrl and StatusCallback shows "origin \
            elsewhere" and when exorec first saw it (in --json: "origin": "elsewhere", placed_at \
            being that first sight); what the platform did not say (its request, an account no \
            stream or callback named) is empty.

            \(CatalogQueryExit.help)

            EXAMPLES:
              exorec catalog show CA1234567890abcdef --storage /srv/exorec
              exorec catalog show CA1234567890abcdef --json | jq '.media_files[].path'
              exorec catalog show 6f048d2e897a0d2d4029560f3f541947
            """
    )

    @OptionGroup var options: ConfigOptions

    @Argument(help: ArgumentHelp("The call's CallSid, or a stream's stream_sid.", valueName: "sid"))
    var callSid: String

    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    func run() async throws {
        let (detail, streams) = try await CatalogQueryAccess.withCatalog(self.options) { catalog in
            let detail = try await CallDetail.load(callSid: self.callSid, from: catalog)
            return (detail, detail == nil ? try await catalog.streams(streamSid: self.callSid) : [])
        }
        if detail == nil, !streams.isEmpty {
            for line in try StreamListingFormat.lines(describing: streams, json: self.json) {
                StandardOutput.line(line)
            }
            return
        }
        guard let detail else {
            StandardError.line("no call or stream \(self.callSid) in the catalog")
            throw CatalogQueryExit.notFound
        }
        for line in try (self.json ? CallListingFormat.json : .table).lines(for: detail) { StandardOutput.line(line) }
    }
}
