import ArgumentParser

@main
struct Exorec: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exorec",
        abstract: "Record, ingest and catalog the audio of calls placed through Exotel.",
        discussion: """
            exorec ingests the platform's live audio streams into WAV files (exorec serve), \
            drives load against an ingest server (exorec loadgen), and shows the whole job \
            on the embedded default (exorec demo).

            EXIT CODES:
              0   success
              1   failure (the message says what failed)
              3   ran, but found problems (e.g. loadgen verification mismatches)
              64  usage error (bad flag or configuration value)
            """,
        version: ExorecVersion.string,
        subcommands: [Serve.self, Call.self, Campaign.self, CatalogCommand.self, Demo.self, Simulate.self, Loadgen.self, BenchParser.self]
    )
}

enum ExorecVersion {
    static let string = "0.1.0"
}
