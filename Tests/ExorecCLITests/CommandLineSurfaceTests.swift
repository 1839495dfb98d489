import ExorecTesting
import Foundation
import Testing

/// Help and usage errors as a user meets them (issue 12, "smaller" points).
struct CommandLineSurfaceTests {
    /// `export --help` listed `--jsonl` (the listing filters' flag) although export refuses it.
    @Test func exportHelpListsOnlyWhatExportDoes() async throws {
        let help = try await ExorecProcess.run(["export", "--help"])
        #expect(help.status == 0)
        #expect(!help.output.contains("--jsonl"), "\(help.output)")
        #expect(help.output.contains("--json"))
        #expect(help.output.contains("report"))
        let listing = try await ExorecProcess.run(["catalog", "ls", "--help"])
        #expect(listing.output.contains("--jsonl") && listing.output.contains("--json"))
    }

    /// Every command that prints progress or chatter takes `-q`.
    @Test(arguments: [
        ["export"], ["verify"], ["retention", "apply"], ["loadgen"], ["serve"], ["watch"], ["simulate"], ["demo"],
        ["pause"], ["resume"],
    ])
    func quietHasItsShortFlag(command: [String]) async throws {
        let help = try await ExorecProcess.run(command + ["--help"])
        #expect(help.status == 0)
        #expect(help.output.contains("-q, --quiet"), "\(command): \(help.output)")
    }

    /// A usage error found while running (here: no API token anywhere) ends with the subcommand's usage and
    /// its help hint, not the top-level `exorec <subcommand>` usage.
    @Test func aRunTimeUsageErrorShowsTheSubcommandsUsage() async throws {
        let config = makeTemporaryDirectory() + "/exorec.yaml"
        try "api:\n  port: 8082\n".write(toFile: config, atomically: true, encoding: .utf8)
        let result = try await ExorecProcess.run(
            ["watch", "--config", config, "--server", "http://127.0.0.1:9"])
        #expect(result.status == 64, "stderr: \(result.errors)")
        #expect(result.errors.contains("Error: no API token"), "stderr: \(result.errors)")
        #expect(result.errors.contains("Usage: exorec watch "), "stderr: \(result.errors)")
        #expect(result.errors.contains("See 'exorec watch --help'"), "stderr: \(result.errors)")
        #expect(!result.errors.contains("<subcommand>"), "stderr: \(result.errors)")
    }
}
