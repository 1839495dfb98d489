import ExorecTesting
import ExotelKit
import Foundation
import MediaStore
import Testing

/// `exorec pause` and `exorec resume` against a real `exorec serve` process, with a stream over a real
/// WebSocket: the paused stretch is silence, its dtmf is kept nowhere, and the interval reaches the sidecar
/// and the catalog.
@Suite(.timeLimit(.minutes(3))) struct PauseCommandTests {
    static let token = "pause-test-token-0123456789"

    @Test func pauseAndResumeAgainstARunningServer() async throws {
        let directory = makeTemporaryDirectory()
        let storage = directory + "/storage"
        let config = directory + "/exorec.yaml"
        try """
        ingest:
          port: 0
          auth:
            credentials:
              - username: test
                password: test-secret
        api:
          port: 0
          token: \(Self.token)
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let server = try ExorecProcess(
            [
                "serve", "--config", config, "--storage", storage, "--log-level", "info", "--callbacks-port", "0",
                "--api-port", "0",
            ])
        defer { server.signal(SIGKILL) }
        let port = try await server.waitForListening()
        let apiPort = try await server.waitForDoor("internal")
        let url = "http://127.0.0.1:\(apiPort)"
        func exorec(_ arguments: [String]) async throws -> (status: Int32, output: String, errors: String) {
            try await ExorecProcess.run(arguments + ["--config", config, "--server", url])
        }

        // Before any stream: a CallSid never seen is exit 4; a malformed one is a usage error.
        let unknown = try await exorec(["pause", "CAnobody"])
        #expect(unknown.status == 4, "stderr: \(unknown.errors)")
        #expect(
            unknown.errors.contains("\(url)/v1/calls/CAnobody/pause") && unknown.errors.contains("404"),
            "stderr: \(unknown.errors)"
        )
        #expect(try await exorec(["pause", "CA/../x"]).status == 64)

        let script = StreamScript(streamSid: "STcli1", callSid: "CAcli1", seed: 51)
        let client = try TestWebSocketClient(port: port)
        try client.sendText(script.start())
        for i in 0..<5 { try client.sendText(script.media(frame: i)) }
        try await TestIngest.waitForMediaFrames(5, port: apiPort, token: Self.token)

        let paused = try await exorec(["pause", "CAcli1", "--by", "agent-7", "--reason", "card number", "--json"])
        #expect(paused.status == 0, "stderr: \(paused.errors)")
        let answer = try #require(
            try JSONSerialization.jsonObject(with: Data(paused.output.utf8)) as? [String: Any],
            "\(paused.output)"
        )
        #expect(answer["paused"] as? Bool == true)
        #expect(answer["live_streams"] as? Int == 1)
        let again = try await exorec(["pause", "CAcli1"])
        #expect(again.status == 0)
        #expect(again.output.contains("already paused"), "\(again.output)")
        #expect(try await exorec(["pause", "CAcli1", "-q"]).output.isEmpty)

        for i in 5..<10 {
            try client.sendText(script.media(frame: i))
            if i == 7 {
                try client.sendText(
                    script.encoder.dtmf(streamSid: script.streamSid, sequenceNumber: 70, digit: "4", durationMs: 100)
                )
            }
        }
        try await TestIngest.waitForMediaFrames(10, port: apiPort, token: Self.token)
        let resumed = try await exorec(["resume", "CAcli1"])
        #expect(resumed.status == 0, "stderr: \(resumed.errors)")
        #expect(resumed.output.hasPrefix("resumed CAcli1"), "\(resumed.output)")
        for i in 10..<15 { try client.sendText(script.media(frame: i)) }
        try client.sendText(script.stop())
        _ = try await client.closed(timeoutSeconds: 10)
        client.close()

        // The catalog has the interval once the stream is final.
        var rows: [[String]] = []
        try await PipelineProcess.eventually("the stream is catalogued as complete") {
            rows = try await PipelineProcess.query(
                storage + "/catalog.sqlite",
                "SELECT state, pauses_json, path FROM streams WHERE call_sid = 'CAcli1'"
            )
            return rows.first?.first == "complete"
        }
        let row = try #require(rows.first)
        let pauses = try JSONDecoder().decode([StreamSidecar.Pause].self, from: Data(row[1].utf8))
        let frame = Int64(script.frameSamples)
        #expect(pauses.map(\.startFrame) == [5 * frame] && pauses.map(\.endFrame) == [10 * frame])
        #expect(pauses.first?.by == "agent-7")
        let file = try SoundFile.open(readingFrom: storage + "/" + row[2])
        let samples = file.readAll()
        try? file.close()
        let n = script.frameSamples
        let expected = script.expected(frames: 15)
        #expect(samples.count == expected.count)
        #expect(Array(samples[..<(5 * n)]) == Array(expected[..<(5 * n)]))
        #expect(samples[(5 * n)..<(10 * n)].allSatisfy { $0 == 0 })
        #expect(Array(samples[(10 * n)...]) == Array(expected[(10 * n)...]))
        let sidecar = try StreamSidecar.load(from: storage + "/" + String(row[2].dropLast(4)) + ".json")
        #expect(sidecar.dtmf.isEmpty)
        let audit = try await PipelineProcess.query(
            storage + "/catalog.sqlite",
            "SELECT action FROM audit_log WHERE call_sid = 'CAcli1' ORDER BY seq"
        )
        #expect(audit.map { $0.first ?? "" }.filter { $0.hasPrefix("call.") } == ["call.paused", "call.resumed"])
    }

    @Test(arguments: ["pause", "resume"]) func againstAStoppedServerItFailsNamingTheURL(command: String) async throws {
        let port = try PipelineProcess.freeLoopbackPort()
        let url = "http://127.0.0.1:\(port)"
        let started = ContinuousClock.now
        let result = try await ExorecProcess.run([command, "CA123", "--server", url, "--token", Self.token])
        let elapsed = started.duration(to: .now)
        #expect(result.status == 1, "stderr: \(result.errors)")
        #expect(elapsed < .seconds(20), "took \(elapsed)")
        #expect(result.errors.contains("cannot reach \(url)/v1/calls/CA123/\(command)"), "stderr: \(result.errors)")
        #expect(result.errors.contains("connection refused"), "stderr: \(result.errors)")
        #expect(result.output.isEmpty)
    }
}
