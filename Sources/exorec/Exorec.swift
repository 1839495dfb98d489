import ArgumentParser

@main
struct Exorec: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exorec",
        abstract: "Record, ingest and catalog the audio of calls placed through Exotel.",
        discussion: """
            exorec places recorded calls (exorec call, exorec campaign), runs the server that takes \
            their live audio streams, status callbacks and recordings (exorec serve), finds and \
            proves what it stored (exorec catalog, exorec verify, exorec audit), exports calls' \
            media and metadata to a folder or a BagIt bag (exorec export), runs the platform \
            simulator (exorec simulate), drives load against a server (exorec loadgen), and shows \
            the whole job on the embedded simulator (exorec demo). Legal holds keep calls (exorec \
            hold); retention deletes calls older than an age, never held ones (exorec retention). \
            Live consumers follow the server's events feed (exorec watch).

            EXIT CODES:
              0   success
              1   failure (the message says what failed)
              3   ran, but found problems (e.g. loadgen verification mismatches)
              4   not found (catalog show: no such call; hold: no such call, or no active hold)
              64  usage error (bad flag or configuration value)
            """,
        version: ExorecVersion.string,
        subcommands: [
            Serve.self, Call.self, Campaign.self, CatalogCommand.self, Verify.self, Export.self, AuditCommand.self, Hold.self, Retention.self, Watch.self, Demo.self, Simulate.self,
            Loadgen.self, BenchParser.self,
        ]
    )
}

enum ExorecVersion {
    static let string = "0.1.0"
}
