import ExorecTesting
import ExotelKit
import Foundation
import Ingest
import MediaStore
import Testing

@Suite(.timeLimit(.minutes(1))) struct IngestServerTests {
    @Test(
        arguments: [
            (nil, "missing"), (("test", "wrong"), "wrong password"), (("nobody", "test-secret"), "wrong user"),
        ] as [((String, String)?, String)]
    )
    func upgradeWithoutTheRightCredentialsIsRefused(credentials: (String, String)?, label: String) async throws {
        try await withTestIngest { ingest in
            for _ in 0..<2 {
                #expect(try TestWebSocketClient.refusal(port: ingest.port, credentials: credentials) == 401, "\(label)")
            }
            let metrics = try await ingest.metricsText(containing: [
                #"exorec_ingest_rejected_upgrades_total{reason="auth"} 2"#
            ])
            #expect(metrics.contains(#"exorec_ingest_rejected_upgrades_total{reason="auth"} 2"#))
            #expect(FileSystem.files(under: ingest.storageRoot, withSuffix: ".json").isEmpty)
        }
    }

    @Test func authCanBeSwitchedOffOnlyExplicitly() async throws {
        var configuration = IngestConfiguration()
        configuration.credentials = []
        #expect(throws: IngestError.self) { try configuration.validate() }
        configuration.authDisabled = true
        try configuration.validate()
        try await withTestIngest(configure: {
            $0.credentials = []
            $0.authDisabled = true
        }) { ingest in
            let client = try TestWebSocketClient(port: ingest.port, credentials: nil)
            client.close()
        }
    }

    @Test func wrongPathIsRefused() async throws {
        try await withTestIngest { ingest in
            let status = try TestWebSocketClient.refusal(port: ingest.port, path: "/v1/other")
            #expect(status == 404)
        }
    }

    @Test func connectionsBeyondTheLimitAreRefusedAndTheOthersCarryOn() async throws {
        try await withTestIngest(configure: { $0.maxStreams = 3 }) { ingest in
            let clients = try (0..<3).map { _ in try TestWebSocketClient(port: ingest.port) }
            for _ in 0..<5 {
                #expect(try TestWebSocketClient.refusal(port: ingest.port) == 503)
            }
            let script = StreamScript(streamSid: "withinlimit", seed: 3)
            try clients[0].sendText(script.start())
            try clients[0].sendText(script.media(frame: 0))
            try clients[0].sendText(script.stop())
            #expect(try await clients[0].closed()?.code == 1000)
            #expect(try await ingest.waitForFinished(1).first?.frames == 800)
        }
    }

    @Test func slowClientDoesNotHoldUpOthers() async throws {
        try await withTestIngest(configure: { $0.server.handshakeTimeoutSeconds = 1 }) { ingest in
            // A client that sends half an upgrade request and then nothing.
            let slow = try TestWebSocketClient.rawConnection(port: ingest.port)
            try slow.sendRaw(Array("GET /v1/streams HTTP/1.1\r\nHost: x\r\n".utf8))
            let script = StreamScript(streamSid: "fast", seed: 4)
            let client = try TestWebSocketClient(port: ingest.port)
            try client.sendText(script.start())
            for i in 0..<3 { try client.sendText(script.media(frame: i)) }
            try client.sendText(script.stop())
            #expect(try await client.closed()?.code == 1000)
            #expect(try await ingest.waitForFinished(1).first?.frames == 2400)
            #expect(
                try slow.waitForEOF(timeoutSeconds: 5),
                "the server drops a client that never finishes its handshake"
            )
        }
    }

    @Test func gracefulShutdownFinalizesOpenStreams() async throws {
        let root = makeTemporaryDirectory()
        let script = StreamScript(streamSid: "openatstop", seed: 6)
        let ingestRef = try await withTestIngest(storageRoot: root) { ingest in
            let client = try TestWebSocketClient(port: ingest.port)
            try client.sendText(script.start())
            for i in 0..<4 { try client.sendText(script.media(frame: i)) }
            try await ingest.waitForStarted(1)
            try await Task.sleep(for: .milliseconds(100))
            ingest.server.stop()
            #expect(try await client.closed()?.code == 1001)
            return ingest
        }
        // withTestIngest returned: the server has stopped and every stream is finalized.
        let sidecar = try #require(ingestRef.finishedStreams.first)
        #expect(sidecar.state == .complete)
        #expect(sidecar.closeReason == "shutdown")
        let path = ingestRef.wavPath(of: sidecar)
        #expect(try FileSystem.sha256(of: path) == sidecar.sha256)
        let file = try SoundFile.open(readingFrom: path)
        defer { try? file.close() }
        #expect(file.readAll() == script.expected(frames: 4))
    }

    @Test func growingFileIsAValidWavWhileTheStreamIsOpen() async throws {
        try await withTestIngest { ingest in
            let script = StreamScript(streamSid: "growing", seed: 9)
            let client = try TestWebSocketClient(port: ingest.port)
            try client.sendText(script.start())
            for i in 0..<10 { try client.sendText(script.media(frame: i)) }
            try await ingest.waitForStarted(1)
            // The header is refreshed about once a second (later on a busy machine): poll for it.
            let path = try #require(FileSystem.files(under: ingest.storageRoot, withSuffix: "stream-growing.wav").first)
            let deadline = ContinuousClock.now + .seconds(15)
            var outside = try await OutsideReader.soundfile(path)
            while outside.frames < 8000, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(250))
                outside = try await OutsideReader.soundfile(path)
            }
            #expect(outside.frames == 8000, "the header covers what was written")
            let file = try SoundFile.open(readingFrom: path)
            #expect(file.readAll() == script.expected(frames: 10))
            try file.close()
            try client.sendText(script.stop())
            _ = try await client.closed()
            _ = try await ingest.waitForFinished(1)
        }
    }

    @Test func healthAndMetricsAreServedOnTheSamePort() async throws {
        try await withTestIngest { ingest in
            let script = StreamScript(streamSid: "metered", seed: 2)
            let client = try TestWebSocketClient(port: ingest.port)
            try client.sendText(script.start())
            for i in 0..<4 { try client.sendText(script.media(frame: i)) }
            try client.sendText("{oops")
            try client.sendText(script.stop())
            _ = try await client.closed()
            _ = try await ingest.waitForFinished(1)

            let health = try ingest.get("/healthz")
            #expect(health.status == 200)
            #expect(health.body.contains(#""status":"ok""#))
            // /metrics moved to the internal door; the stream door answers it 404. The counters are the same.
            #expect(try ingest.get("/metrics").status == 404)
            let expected = [
                "exorec_ingest_media_frames_total 4", "exorec_ingest_audio_bytes_total 6400",
                "exorec_ingest_active_streams 0",
                #"exorec_ingest_errors_total{kind="json"} 1"#, "exorec_ingest_streams_started_total 1",
                #"exorec_ingest_streams_finished_total{reason="stop"} 1"#,
            ]
            let metrics = try await ingest.metricsText(containing: expected)
            for line in expected {
                #expect(metrics.contains(line + "\n"), "missing: \(line)")
            }
            #expect(try ingest.get("/nope").status == 404)
        }
    }

    @Test func loopbackMeansLoopback() async throws {
        try await withTestIngest { ingest in
            // /proc/net/tcp lists listening sockets (state 0A) as hex address:port; 0100007F is 127.0.0.1.
            // Read to EOF: procfs reports size 0, and a busy machine's table spans many pages.
            let table = String(decoding: try FileSystem.read("/proc/net/tcp"), as: UTF8.self)
            let hex = String(ingest.port, radix: 16, uppercase: true)
            let portHex = String(repeating: "0", count: max(0, 4 - hex.count)) + hex
            let listeners = table.split(separator: "\n").filter { $0.contains(":\(portHex) ") && $0.contains(" 0A ") }
            #expect(!listeners.isEmpty)
            #expect(listeners.allSatisfy { $0.contains("0100007F:\(portHex)") })
            let table6 = String(decoding: (try? FileSystem.read("/proc/net/tcp6")) ?? [], as: UTF8.self)
            #expect(
                !table6.contains(":\(portHex) 00000000000000000000000000000000:0000 0A"),
                "not listening on every IPv6 address"
            )
        }
    }
}
