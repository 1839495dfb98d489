import ArgumentParser
import Catalog
import ExotelKit
import Foundation
import MediaStore
import Orchestrator

struct Call: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Place one recorded call: two numbers, or a number and a call flow.",
        discussion: """
            Places the call through the platform's Calls/connect with Record=true, the configured \
            recording channels and format, a StreamUrl to this server (its stream credentials in the \
            URL) and StatusCallback to this server (terminal and answered events). WaitUrl and \
            StartPlaybackValueNew are fetched first: they must be WAV under 2 MB, and get a version \
            parameter from their content, so changed audio is never played stale. The call is \
            recorded in the catalog and in call.json, with its --meta pairs (at most 32; keys up to \
            64 bytes, lowercased; values up to 1024 bytes); `exorec serve` takes its stream, callbacks \
            and recording.

            Prints the CallSid (with --json, the call as JSON).

            EXIT CODES: 0 placed; 3 the platform refused it; 4 prompt audio unusable; 5 placed but \
            not catalogued (its callbacks are still kept); 64 usage or configuration error.

            EXAMPLES:
              exorec call --config exorec.yaml --from 09876543210 --to 09123456789
              exorec call --config exorec.yaml --from 09876543210 --flow http://my.exotel.com/acme/exoml/start/123
              exorec call --config exorec.yaml --from 09876543210 --to 09123456789 --custom-field order-42 --json
              exorec call --config exorec.yaml --from 09876543210 --to 09123456789 --meta crm_id=A-1 --meta "name=Doe, Jane"
            """
    )

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: ArgumentHelp("The number dialled first.", valueName: "number"))
    var from: String

    @Option(name: .long, help: ArgumentHelp("The number connected to it.", valueName: "number"))
    var to: String?

    @Option(name: .long, help: ArgumentHelp("A call-flow URL instead of --to.", valueName: "url"))
    var flow: String?

    @Option(
        name: .long,
        help: ArgumentHelp("CustomField (at most 128 characters), echoed in the terminal callback.", valueName: "text")
    )
    var customField: String?

    @Option(name: .long, help: ArgumentHelp("WaitUrl for this call (WAV, under 2 MB).", valueName: "url"))
    var waitURL: String?

    @Option(
        name: .customLong("meta"),
        help: ArgumentHelp(
            "Metadata for the call, key=value (repeatable): kept in the catalog and call.json, found with 'catalog search --meta'.",
            valueName: "key=value"
        )
    )
    var meta: [String] = []

    @Flag(name: .long, help: "Print the placed call as JSON.")
    var json = false

    func validate() throws {
        guard (self.to == nil) != (self.flow == nil) else {
            throw ValidationError("give exactly one of --to and --flow.")
        }
        _ = try self.metadata()
    }

    /// The `--meta` pairs, each checked (``CallMetadata``); a key given twice is a usage error.
    func metadata() throws -> [String: String] {
        try MetadataArguments.pairs(self.meta, option: "--meta", limit: CallMetadata.maximumEntries)
    }

    func run() async throws {
        let setup = try self.options.setup()
        let logger = self.options.logger(label: "exorec.call", file: setup.file)
        let client = try setup.client(logger: logger)
        _ = try setup.placementSettings()  // every missing setting named before anything is opened
        let catalog = try await setup.openCatalog(logger: logger)
        let placer = try setup.placer(catalog: catalog, client: client, logger: logger)
        let metadata = try self.metadata()
        let order = CallOrder(
            from: self.from,
            destination: self.to.map { .number($0) } ?? .flow(self.flow ?? ""),
            customField: self.customField,
            waitURL: self.waitURL
        )
        let result: Result<PlacedCall, PlacementError>
        do {
            result = .success(try await placer.place(order, metadata: metadata))
        } catch {
            result = .failure(error)
        }
        try await catalog.close()
        switch result {
        case .success(let placed):
            if self.json {
                StandardOutput.line(
                    "{\"call_sid\":\(JSONText.quoted(placed.callSid)),\"account_sid\":\(JSONText.quoted(placed.accountSid)),"
                        + "\"status\":\(JSONText.quoted(placed.platformCall.status)),\"placed_at\":\(JSONText.quoted(placed.placedAt.description))}"
                )
            } else {
                StandardOutput.line(placed.callSid)
            }
        case .failure(let error):
            StandardError.line("exorec call: \(error)")
            switch error {
            case .invalid: throw ExitCode(64)
            case .prompt: throw ExitCode(4)
            case .platform: throw ExitCode(3)
            case .notCatalogued: throw ExitCode(5)
            }
        }
    }
}
