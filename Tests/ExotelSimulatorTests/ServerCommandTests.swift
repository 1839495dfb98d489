import ExorecTesting
import ExotelKit
import ExotelSimulator
import Foundation
import NIOHTTP1
import Testing

/// `exorec simulate` as users run it: the built binary, its announcement, its flags and its signals.
@Suite(.serialized) struct ServerCommandTests {
    /// The `http://HOST:PORT` of the "simulator listening on" line.
    static func listeningURL(_ process: ExorecProcess) async throws -> String {
        _ = try await process.waitForListening()
        let line = try #require(
            process.standardOutput.split(separator: "\n").first { $0.hasPrefix("simulator listening on ") }
        )
        return String(line.dropFirst("simulator listening on ".count))
    }

    @Test func servesTheDefaultAccountAndStopsOnSIGTERM() async throws {
        let recordings = try temporaryDirectory("cli-recordings")
        let process = try ExorecProcess(["simulate", "--port", "0", "--speed", "100", "--recordings", recordings])
        let url = try await Self.listeningURL(process)
        #expect(url.hasPrefix("http://127.0.0.1:"))
        // The default credentials from --help.
        let client = WireClient(baseURL: url)
        let account = SimulatedAccount(sid: "exorec-sim", apiKey: "sim-key", apiToken: "sim-token")
        let placed = try await client.connect(twoNumberForm(["Record": "true"]), account: account)
        #expect(placed.status == 200, "\(placed.text)")
        let sid = try PlatformCall.decode(placed.body).sid
        #expect(try await client.details(sid, account: account).status == 200)
        #expect(
            try await client.details(
                sid,
                account: SimulatedAccount(sid: "exorec-sim", apiKey: "sim-key", apiToken: "x")
            ).status == 401
        )

        process.signal(SIGTERM)
        #expect(try await process.waitForExit() == 0, "\(process.standardError)")
    }

    @Test func jsonAnnouncesCredentialsFromTheEnvironmentAndStopsOnSIGINT() async throws {
        let process = try ExorecProcess(
            ["simulate", "--port", "0", "--json", "--quiet", "--recordings", try temporaryDirectory("cli-json")],
            environment: [
                "EXOREC_SIMULATOR_ACCOUNT_SID": "ACenv", "EXOREC_SIMULATOR_API_KEY": "env-key",
                "EXOREC_SIMULATOR_API_TOKEN": "env-token",
            ]
        )
        let deadline = ContinuousClock.now + .seconds(20)
        while !process.standardOutput.contains("\n"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let line = try #require(process.standardOutput.split(separator: "\n").first, "\(process.standardError)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(document["accountSid"] as? String == "ACenv")
        #expect(document["apiKey"] as? String == "env-key")
        #expect(document["apiToken"] as? String == "env-token")
        let url = try #require(document["url"] as? String)
        #expect(document["port"] as? Int == Int(url.split(separator: ":").last ?? ""))

        let account = SimulatedAccount(sid: "ACenv", apiKey: "env-key", apiToken: "env-token")
        let placed = try await WireClient(baseURL: url).connect(twoNumberForm(), account: account)
        #expect(placed.status == 200, "\(placed.text)")

        process.signal(SIGINT)
        #expect(try await process.waitForExit() == 0)
        // --quiet leaves standard output to the one JSON document.
        #expect(process.standardOutput.split(separator: "\n").count == 1)
    }

    @Test func helpShowsHowToPointClientsAtIt() async throws {
        let (status, output, _) = try await ExorecProcess.run(["simulate", "--help"])
        #expect(status == 0)
        for needle in [
            "--speed", "--scenario", "--recordings", "--recording-delay", "--json", "curl -X POST", "pyexotel",
            "call_ep", "ExotelEndpoint(baseURL:", "EXOREC_SIMULATOR_API_TOKEN", "SIGTERM",
        ] {
            #expect(output.contains(needle), "help lacks \(needle)")
        }
    }

    @Test(arguments: [
        ["--speed", "0"], ["--port", "70000"], ["--recording-delay", "-1"],
        ["--scenario", "/nonexistent/scenario.json"],
    ])
    func badFlagsAreUsageErrors(_ flags: [String]) async throws {
        let (status, _, errors) = try await ExorecProcess.run(["simulate", "--port", "0"] + flags)
        #expect(status == 64, "\(flags): \(errors)")
    }

    @Test func scenarioFileDecidesOutcomes() async throws {
        let directory = try temporaryDirectory("cli-scenario")
        let scenario = "\(directory)/scenario.json"
        try Data(#"{"rules":[{"number":"0990000009*","outcome":"busy"}]}"#.utf8).write(
            to: URL(fileURLWithPath: scenario)
        )
        let process = try ExorecProcess([
            "simulate", "--port", "0", "--speed", "200", "--scenario", scenario, "--recordings", directory,
        ])
        let client = WireClient(baseURL: try await Self.listeningURL(process))
        let account = SimulatedAccount(sid: "exorec-sim", apiKey: "sim-key", apiToken: "sim-token")
        let sid = try PlatformCall.decode(
            try await client.connect(twoNumberForm(from: "09900000001", to: "09900000099"), account: account).body
        ).sid
        var status = ""
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            status = try PlatformCall.decode(try await client.details(sid, account: account).body).status
            if status != "in-progress", status != "queued", status != "ringing" { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(status == "busy")
        process.signal(SIGTERM)
        _ = try await process.waitForExit()
    }
}
