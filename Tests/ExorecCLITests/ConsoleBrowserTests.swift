import ExorecTesting
import Foundation
import MediaStore
import Testing

/// Issue 16's acceptance in a real headless Chromium: the simulator and `exorec serve` with a few calls
/// (one with a dual-channel stream), then `tools/browser/console_test.py` (Selenium with Debian's
/// chromium-driver) signs in as each role, searches, plays each leg, holds, exports a bag and validates
/// it with bagit, and writes screenshots to `.build/console-screenshots/`.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct ConsoleBrowserTests {
    static let account = "consolebrowser"
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    @Test func everyRoleInARealBrowser() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver") else {
            Issue.record("chromium-driver is not installed (make deps installs it)")
            return
        }
        let directory = makeTemporaryDirectory("exorec-console-browser")
        let storage = "\(directory)/storage"
        let scenario = "\(directory)/scenario.json"
        try #"{"rules": [], "defaultRingSeconds": 1, "defaultTalkSeconds": 3, "defaultTimeOutSeconds": 30}"#
            .write(toFile: scenario, atomically: true, encoding: .utf8)
        let simulator = try ExorecProcess([
            "simulate", "--port", "0", "--speed", "2", "--scenario", scenario, "--recordings",
            "\(directory)/recordings", "--account-sid", Self.account, "--api-key", "console-key",
            "--api-token", "console-token",
        ])
        defer { simulator.signal(SIGKILL) }
        let simulatorPort = try await simulator.waitForListening()
        let streamPort = try PipelineProcess.freeLoopbackPort()
        let users = [
            "viewer": ["vera", "viewer-password-1"], "auditor": ["audrey", "auditor-password-1"],
            "admin": ["adam", "admin-password-1"],
        ]
        var userLines = ""
        for role in ["viewer", "auditor", "admin"] {
            let (name, password) = (users[role]![0], users[role]![1])
            userLines +=
                "    - name: \(name)\n      role: \(role)\n      password_hash: \"\(try await ConsolePasswordHash.of(password))\"\n"
        }
        let config = "\(directory)/exorec.yaml"
        try """
        storage: \(storage)
        ingest:
          host: 127.0.0.1
          port: \(streamPort)
          auth:
            credentials:
              - username: exotel
                password: console-stream-secret
        callbacks:
          port: 0
          token: console-callback-token-0123456789
        api:
          port: 0
        exotel:
          account_sid: \(Self.account)
          api_key: console-key
          api_token: console-token
          base_url: http://127.0.0.1:\(simulatorPort)
          caller_id: "08030752400"
        calls:
          public_url: http://127.0.0.1:\(streamPort)
          stream_tracks: both
        reconciler:
          after: 30m
        console:
          users:
        \(userLines)
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let server = try ExorecProcess([
            "serve", "--config", config, "--callbacks-port", "0", "--api-port", "0", "--log-level", "info",
        ])
        defer { server.signal(SIGKILL) }
        #expect(try await server.waitForListening() == streamPort)
        let apiPort = try await server.waitForDoor("internal")

        var sids: [String] = []
        for (from, to) in [("+919900000021", "+919900000022"), ("+919811100031", "+919811100032")] {
            let placed = try await ExorecProcess.run(["call", "--config", config, "--from", from, "--to", to, "--json"])
            #expect(placed.status == 0, "call: \(placed.errors)")
            sids.append(
                try #require(placed.output.firstMatch(of: /"call_sid"\s*:\s*"([A-Za-z0-9_-]+)"/)?.1).description
            )
        }
        let dual = sids[0]
        var wav = ""
        try await PipelineProcess.eventually("the first call's stream is finalized", timeout: .seconds(120)) {
            let found = FileSystem.files(under: "\(storage)/media", withSuffix: ".json").first { path in
                guard (path as NSString).lastPathComponent.hasPrefix("stream-"),
                    let sidecar = try? StreamSidecar.load(from: path)
                else { return false }
                return sidecar.callSid == dual && sidecar.state == .complete
            }
            wav = found.map { String($0.dropLast(5)) + ".wav" } ?? ""
            return found != nil
        }
        // Catalogued too (the console reads the catalog): its media is listed by the console's JSON API only after sign-in, so wait on the catalog command.
        try await PipelineProcess.eventually("the stream is catalogued as complete", timeout: .seconds(60)) {
            let shown = try await ExorecProcess.run(["catalog", "show", "--config", config, dual, "--json"])
            return shown.status == 0 && shown.output.contains("\"complete\"")
        }
        let file = try SoundFile.open(readingFrom: wav)
        let seconds = Double(file.info.frames) / Double(file.info.sampleRate)
        #expect(file.info.channels == 2)
        try? file.close()

        let usersFile = "\(directory)/users.json"
        try JSONSerialization.data(withJSONObject: users).write(to: URL(fileURLWithPath: usersFile))
        let screenshots = "\(Self.packageRoot)/.build/console-screenshots"
        let browser = try ExorecProcess(
            executable: "/usr/bin/env",
            [
                "python3", "\(Self.packageRoot)/tools/browser/console_test.py", "--url", "http://127.0.0.1:\(apiPort)",
                "--users", usersFile, "--dual-call", dual, "--dual-duration", String(seconds),
                "--number", "+91 99000 00021", "--screenshots", screenshots,
            ],
            environment: ["SE_OFFLINE": "true"]
        )
        let status = try await browser.waitForExit(timeout: .seconds(480))
        print(browser.standardOutput)
        #expect(status == 0, "the browser checks failed:\n\(browser.standardOutput)\n\(browser.standardError)")
        print("console screenshots: \(screenshots)")
        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)
    }
}
