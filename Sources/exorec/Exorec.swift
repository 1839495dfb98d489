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
            Serve.self, Call.self, Campaign.self, CatalogCommand.self, Verify.self, Export.self, AuditCommand.self,
            Hold.self, ArchiveCommand.self, Retention.self, Watch.self, PauseCommand.self, ResumeCommand.self,
            Nodes.self, Demo.self, Simulate.self, ConsoleCommand.self,
            Loadgen.self, BenchParser.self,
        ]
    )

    /// As ArgumentParser's own `main`, except that a usage error a subcommand throws while running (a bad
    /// configuration value, a missing token) ends with that subcommand's usage, not the top-level one:
    /// ArgumentParser only knows the subcommand while parsing.
    static func main() async {
        let command: any ParsableCommand
        do {
            command = try Self.parseAsRoot()
        } catch {
            Self.exit(withError: error)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var command = command
                try command.run()
            }
        } catch let error as ValidationError {
            let subcommand = type(of: command)
            guard subcommand != Self.self else { Self.exit(withError: error) }
            StandardError.line(Self.usageError(error.message, subcommand: subcommand))
            Self.exit(withError: ExitCode.validationFailure)
        } catch {
            Self.exit(withError: error)
        }
    }

    /// "Error: …", the subcommand's usage and where its help is, as ArgumentParser prints a usage error.
    static func usageError(_ message: String, subcommand: any ParsableCommand.Type) -> String {
        let usage = Self.usageString(for: subcommand)
        let names = usage.split(separator: " ").prefix {
            !$0.hasPrefix("[") && !$0.hasPrefix("<") && !$0.hasPrefix("-")
        }
        return
            "Error: \(message)\nUsage: \(usage)\n  See '\(names.joined(separator: " ")) --help' for more information."
    }
}

enum ExorecVersion {
    static let string = "0.1.0"
}
