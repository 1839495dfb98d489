import ExorecTesting
import Foundation
import Glibc
import MediaStore
import Testing

/// The recording fetcher's confinement as an attacker meets it, with real processes: `exorec serve`
/// fetches RecordingUrls that a status callback names from outside HTTP servers
/// (tools/test-peers/scripted_origin.py, code exorec did not write). A chain that leaves the
/// allowed origin for a disallowed host and comes back, and another port on an allowed host, are
/// refused before the disallowed server is asked anything; each refusal is the download's error in
/// the catalog and an audit entry; a stream on the same server meanwhile comes out sample-exact.
@Suite(.timeLimit(.minutes(3))) struct RecordingRedirectProcessTests {
    static let account = "ACredir01"
    static let apiKey = "redir-key"
    static let apiToken = "redir-token"
    static let callbackToken = "redirect-test-callback-token-7"

    static let originScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("tools/test-peers/scripted_origin.py").path

    /// An outside HTTP server on `host`, answering as `script` (a JSON file) says; its output lists each request.
    final class Origin: Sendable {
        let process: ExorecProcess
        let port: Int
        let host: String

        init(host: String, script: String) async throws {
            self.host = host
            self.process = try ExorecProcess(
                executable: "/usr/bin/env",
                ["python3", RecordingRedirectProcessTests.originScript, host, script]
            )
            self.port = try await self.process.waitForListening()
        }

        func url(_ path: String) -> String { "http://\(self.host):\(self.port)\(path)" }
        /// The request lines it printed: `request PATH authorization=…`.
        var requests: [String] {
            self.process.standardOutput.split(separator: "\n").filter { $0.hasPrefix("request ") }.map(String.init)
        }
    }

    @Test func redirectChainsAndOtherPortsAreRefusedBeforeTheyAreRequested() async throws {
        let directory = makeTemporaryDirectory("exorec-redirect")
        let storage = "\(directory)/storage"
        let script = "\(directory)/origin.json"
        try "{}".write(toFile: script, atomically: true, encoding: .utf8)
        // The allowed origin (the recording host), another port on the same host, and an outsider.
        let allowed = try await Origin(host: "127.0.0.1", script: script)
        let otherPort = try await Origin(host: "127.0.0.1", script: script)
        let outsider = try await Origin(host: "127.0.0.2", script: script)
        // SIGKILL: a child inherits the test runner's blocked signals, so Python would not hear SIGTERM.
        defer { [allowed, otherPort, outsider].forEach { $0.process.signal(SIGKILL) } }
        try """
        {"/chain.mp3": {"redirect": "\(outsider.url("/hop"))"},
         "/hop": {"redirect": "\(allowed.url("/final.mp3"))"},
         "/final.mp3": {"audio": 4096},
         "/port.mp3": {"audio": 4096}}
        """.write(toFile: script, atomically: true, encoding: .utf8)

        let scenario = "\(directory)/scenario.json"
        try #"{"rules": [], "defaultRingSeconds": 1, "defaultTalkSeconds": 1, "defaultTimeOutSeconds": 30}"#
            .write(toFile: scenario, atomically: true, encoding: .utf8)
        // The platform places the calls but delivers no callback: the only terminal callbacks are the test's.
        let simulator = try ExorecProcess([
            "simulate", "--port", "0", "--speed", "4", "--scenario", scenario, "--recordings",
            "\(directory)/recordings",
            "--account-sid", Self.account, "--api-key", Self.apiKey, "--api-token", Self.apiToken, "--callback-drop",
        ])
        defer { simulator.signal(SIGTERM) }
        let simulatorPort = try await simulator.waitForListening()
        let config = "\(directory)/exorec.yaml"
        try """
        storage: \(storage)
        ingest:
          port: 0
          auth:
            credentials:
              - username: exotel
                password: redirect-stream-secret
        callbacks:
          port: 0
          token: \(Self.callbackToken)
        api:
          port: 0
        exotel:
          account_sid: \(Self.account)
          api_key: \(Self.apiKey)
          api_token: \(Self.apiToken)
          base_url: http://127.0.0.1:\(simulatorPort)
          caller_id: "08030752400"
          recording_hosts: ["http://\(allowed.host):\(allowed.port)"]
        calls:
          public_url: http://127.0.0.1:9
        reconciler:
          after: 30m
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let server = try ExorecProcess(["serve", "--config", config, "--log-level", "info"])
        defer { server.signal(SIGKILL) }
        let streamPort = try await server.waitForListening()
        let platformPort = try await server.waitForDoor("platform")

        // A good stream alongside the whole time.
        let good = StreamScript(streamSid: "alongside", seed: 17)
        let client = try TestWebSocketClient(port: streamPort, credentials: ("exotel", "redirect-stream-secret"))
        try client.sendText(good.start())
        for frame in 0..<5 { try client.sendText(good.media(frame: frame)) }

        var callSids: [String] = []
        for _ in 0..<2 {
            let placed = try await ExorecProcess.run([
                "call", "--config", config, "--from", "+919900000011", "--to", "+919900000012", "--json",
            ])
            #expect(placed.status == 0, "call: \(placed.errors)")
            let sid = try #require(placed.output.firstMatch(of: /"call_sid"\s*:\s*"([A-Za-z0-9_-]+)"/)?.1).description
            callSids.append(sid)
        }
        for (sid, url) in zip(callSids, [allowed.url("/chain.mp3"), otherPort.url("/port.mp3")]) {
            let body =
                #"{"CallSid":"\#(sid)","EventType":"terminal","Status":"completed","RecordingUrl":"\#(url)","DateUpdated":"2026-12-04 10:00:00"}"#
            let answer = try await PipelineProcess.run(
                "curl",
                [
                    "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/json",
                    "--data-binary", body,
                    "http://127.0.0.1:\(platformPort)/v1/callbacks/status?token=\(Self.callbackToken)",
                ]
            )
            #expect(answer == "200", "callback answered \(answer)")
        }

        let catalog = "\(storage)/catalog.sqlite"
        try await PipelineProcess.eventually("both downloads are refused", timeout: .seconds(60)) {
            try await PipelineProcess.query(catalog, "SELECT state FROM download_queue ORDER BY id") == [
                ["refused"], ["refused"],
            ]
        }
        for frame in 5..<10 { try client.sendText(good.media(frame: frame)) }
        try client.sendText(good.stop())
        #expect(try await client.closed()?.code == 1000)

        // The outsider and the other port were never asked, and no request carried credentials off the origin.
        #expect(outsider.requests.isEmpty, "a disallowed host was reached: \(outsider.requests)")
        #expect(otherPort.requests.isEmpty, "a port not in the allowlist was reached: \(otherPort.requests)")
        #expect(
            allowed.requests.count == 1 && allowed.requests.first?.hasPrefix("request /chain.mp3") == true,
            "\(allowed.requests)"
        )
        let errors = try await PipelineProcess.query(
            catalog,
            "SELECT call_sid, last_error FROM download_queue ORDER BY id"
        )
        #expect(errors.count == 2)
        #expect(
            errors.first?.last?.contains("127.0.0.2:\(outsider.port)") == true,
            "the chain's error names the refused hop: \(errors)"
        )
        #expect(
            errors.last?.last?.contains("127.0.0.1:\(otherPort.port)") == true,
            "the port's error names the origin: \(errors)"
        )
        let audited = try await PipelineProcess.query(
            catalog,
            "SELECT call_sid FROM audit_log WHERE action = 'download-refused' ORDER BY seq"
        )
        #expect(audited.map(\.first) == callSids.map(Optional.some), "one audit entry per refused download: \(audited)")
        #expect(try await PipelineProcess.query(catalog, "SELECT COUNT(*) FROM recordings") == [["0"]])

        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)
        let wav = try #require(FileSystem.files(under: storage, withSuffix: "stream-alongside.wav").first)
        #expect(try StreamSidecar.load(from: String(wav.dropLast(4)) + ".json").state == .complete)
        let file = try SoundFile.open(readingFrom: wav)
        defer { try? file.close() }
        #expect(file.readAll() == good.expected(frames: 10))
    }
}
