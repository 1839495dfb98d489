import ExorecTesting
import Foundation
import Glibc
import MediaStore
import Testing

/// Issue 11's abuse, against a real `exorec serve` with its three doors: each attack runs while a good
/// stream is recorded on the stream door, and that stream must come out sample-exact and finalized.
@Suite(.timeLimit(.minutes(3))) struct DoorAbuseProcessTests {
    static let callbackToken = "abuse-callback-token-0123"
    static let apiToken = "abuse-api-token-0123456789"

    struct Server {
        var process: ExorecProcess
        var storage: String
        var streamPort: Int
        var platformPort: Int
        var internalPort: Int
    }

    /// - Parameter idleTimeout: the doors' `idle_timeout`: short for the slowloris test; the default
    ///   otherwise, so that a loaded machine's pauses are not mistaken for an idle client.
    private func start(idleTimeout: String = "10s") async throws -> Server {
        let directory = makeTemporaryDirectory()
        let config = directory + "/exorec.yaml"
        try """
        ingest:
          port: 0
          auth:
            credentials:
              - username: test
                password: test-secret
        callbacks:
          port: 0
          token: \(Self.callbackToken)
          max_body_bytes: 1048576
          idle_timeout: \(idleTimeout)
          body_timeout: 1s
        api:
          port: 0
          token: \(Self.apiToken)
          idle_timeout: \(idleTimeout)
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let storage = directory + "/storage"
        let process = try ExorecProcess(["serve", "--config", config, "--storage", storage, "--log-level", "info"])
        let streamPort = try await process.waitForListening()
        return Server(
            process: process,
            storage: storage,
            streamPort: streamPort,
            platformPort: try await process.waitForDoor("platform"),
            internalPort: try await process.waitForDoor("internal")
        )
    }

    /// Sends a whole stream of `frames` frames, paced, from a thread of its own.
    private func goodStream(_ script: StreamScript, frames: Int, port: Int) -> Task<UInt16?, any Error> {
        Task {
            try await onThread {
                let client = try TestWebSocketClient(port: port, credentials: ("test", "test-secret"))
                try client.sendText(script.start())
                for i in 0..<frames {
                    try client.sendText(script.media(frame: i))
                    Thread.sleep(forTimeInterval: 0.02)
                }
                try client.sendText(script.stop())
                return try client.awaitClose()?.code
            }
        }
    }

    /// The stream's WAV is finalized (hashed, complete) and holds exactly what was sent.
    private func expectSampleExact(_ script: StreamScript, frames: Int, storage: String) throws {
        let wav = try #require(FileSystem.files(under: storage, withSuffix: "stream-\(script.streamSid).wav").first)
        let sidecar = try StreamSidecar.load(from: String(wav.dropLast(4)) + ".json")
        #expect(sidecar.state == .complete)
        #expect(sidecar.frames == Int64(frames * script.frameSamples))
        #expect(try FileSystem.sha256(of: wav) == sidecar.sha256, "finalized: hashed")
        let file = try SoundFile.open(readingFrom: wav)
        defer { try? file.close() }
        #expect(file.readAll() == script.expected(frames: frames), "sample-exact")
    }

    /// The refused-request storm of issue 11 (no token, a GET, then thousands of wrong tokens on one
    /// keep-alive connection) against the platform door, a stream alongside, `/healthz` and SIGTERM after.
    @Test func aRefusedRequestStormWedgesNothing() async throws {
        let server = try await self.start()
        let script = StreamScript(streamSid: "besidethestorm", callSid: "CAstorm", seed: 41)
        let stream = self.goodStream(script, frames: 50, port: server.streamPort)
        let platform = server.platformPort
        let body = Array(#"{"CallSid":"CAstorm"}"#.utf8)
        let client = try TestHTTPClient(port: platform)
        // Pipelined: a writer sends every request without waiting for answers (what wedged the
        // libwebsockets endpoint: /healthz stopped answering and SIGTERM was ignored), a reader counts them.
        let writer = Task {
            try await onThread {
                try client.send("POST", "/v1/callbacks/status", contentType: "application/json", body: body)
                try client.send("GET", "/v1/callbacks/status")
                for i in 0..<3000 {
                    try client.send(
                        "POST",
                        "/v1/callbacks/status?token=wrong-token-\(i % 7)-000000000",
                        contentType: "application/json",
                        body: body
                    )
                }
            }
        }
        let statuses = try await onThread { () throws -> [Int: Int] in
            var statuses: [Int: Int] = [:]
            for _ in 0..<3002 { statuses[try client.readResponse().status, default: 0] += 1 }
            return statuses
        }
        try await writer.value
        #expect(statuses == [401: 2, 403: 3000], "\(statuses)")
        #expect(try await stream.value == 1000)
        #expect(try TestIngest.get(port: server.streamPort, "/healthz").status == 200)
        let metrics = try await onThread { [internalPort = server.internalPort] in
            try TestHTTPClient(port: internalPort).request(
                "GET",
                "/metrics",
                headers: ["Authorization: Bearer \(Self.apiToken)"]
            )
        }
        #expect(metrics.status == 200)
        #expect(
            metrics.body.contains(#"exorec_ingest_callbacks_rejected_total{reason="token-wrong"} 3000"#),
            "\(metrics.body)"
        )
        server.process.signal(SIGTERM)
        #expect(try await server.process.waitForExit() == 0)
        try self.expectSampleExact(script, frames: 50, storage: server.storage)
    }

    /// Slowloris on both HTTP doors (heads trickling a byte every 250 ms), an oversized body and a deeply
    /// nested one on the platform door, a GET with a body on the internal door; all while a stream records.
    @Test func slowHeadsAndHostileBodiesOnBothDoors() async throws {
        let server = try await self.start(idleTimeout: "1s")
        let script = StreamScript(streamSid: "besideslowloris", callSid: "CAslow", seed: 42)
        let stream = self.goodStream(script, frames: 50, port: server.streamPort)

        @Sendable func trickle(port: Int, path: String) throws -> Int {
            let client = try TestHTTPClient(port: port)
            let head = Array(
                "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: \(String(repeating: "a", count: 200))".utf8
            )
            for (index, byte) in head.enumerated() {
                guard (try? client.write([byte])) != nil else { return index }
                if client.isClosedNow() { return index }
                Thread.sleep(forTimeInterval: 0.25)
            }
            return head.count
        }
        let platform = server.platformPort
        let api = server.internalPort
        async let platformSent = onThread { try trickle(port: platform, path: "/v1/callbacks/status") }
        async let internalSent = onThread { try trickle(port: api, path: "/v1/events") }
        // 1 s idle timeout: cut off after a few bytes; never the whole 200-byte head (50 s).
        #expect(try await platformSent < 200)
        #expect(try await internalSent < 200)

        let callbackPath = "/v1/callbacks/status?token=\(Self.callbackToken)"
        let (oversized, closed) = try await onThread { () throws -> (Int, Bool) in
            let client = try TestHTTPClient(port: platform)
            try client.send(
                "POST",
                callbackPath,
                contentType: "application/json",
                headers: ["Content-Length: 2000000000"]
            )
            try client.write([UInt8](repeating: UInt8(ascii: "["), count: 64 << 10))
            let status = try client.readResponse().status
            return (status, client.waitForEOF(timeoutSeconds: 20))
        }
        #expect(oversized == 413)
        #expect(closed)
        let depth = 100_000
        let nested = Array((String(repeating: "[", count: depth) + String(repeating: "]", count: depth)).utf8)
        let nestedAnswer = try await TestHTTPClient.request(
            port: platform,
            "POST",
            callbackPath,
            contentType: "application/json",
            body: nested
        )
        #expect(nestedAnswer.status == 400)
        let withBody = try await TestHTTPClient.request(
            port: api,
            "GET",
            "/v1/events?wait=0",
            body: Array("x".utf8),
            headers: ["Authorization: Bearer \(Self.apiToken)", "Content-Length: 1"]
        )
        #expect(withBody.status == 400)
        let events = try await TestHTTPClient.request(
            port: api,
            "GET",
            "/v1/events?wait=0",
            headers: ["Authorization: Bearer \(Self.apiToken)"]
        )
        #expect(events.status == 200)

        #expect(try await stream.value == 1000)
        server.process.signal(SIGTERM)
        #expect(try await server.process.waitForExit() == 0)
        try self.expectSampleExact(script, frames: 50, storage: server.storage)
    }

    /// `callbacks.tls`: `exorec serve` terminates TLS on the platform door with the configured
    /// certificate (self-signed here, trusted by curl), stores what arrives, and speaks no plain http there.
    @Test func thePlatformDoorSpeaksHTTPSWithTheConfiguredCertificate() async throws {
        let directory = makeTemporaryDirectory()
        let certificate = directory + "/callbacks.crt"
        let key = directory + "/callbacks.key"
        let openssl = try await ExorecProcess.runTool(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate, "-days", "1",
                "-subj", "/CN=localhost",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ]
        )
        try #require(openssl.status == 0, "\(openssl.errors)")
        let config = directory + "/exorec.yaml"
        try """
        ingest:
          port: 0
          auth:
            credentials:
              - username: test
                password: test-secret
        callbacks:
          port: 0
          token: \(Self.callbackToken)
          tls:
            certificate: \(certificate)
            key: \(key)
        api:
          port: 0
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let server = try ExorecProcess([
            "serve", "--config", config, "--storage", directory + "/storage", "--log-level", "info",
        ])
        _ = try await server.waitForListening()
        let port = try await server.waitForDoor("platform")
        let curl = try await ExorecProcess.runTool(
            "/usr/bin/curl",
            [
                "-s", "-o", "-", "-w", "\n%{http_code}", "--cacert", certificate, "-H",
                "Content-Type: application/json", "--data",
                #"{"CallSid":"CAtlsprocess","Status":"completed","EventType":"terminal"}"#,
                "https://127.0.0.1:\(port)/v1/callbacks/status?token=\(Self.callbackToken)",
            ]
        )
        #expect(curl.output.hasSuffix("\n200"), "\(curl.output) \(curl.errors)")
        #expect(curl.output.contains(#""call_sid":"CAtlsprocess""#))
        let untrusted = try await ExorecProcess.runTool(
            "/usr/bin/curl",
            ["-s", "-o", "/dev/null", "-w", "%{http_code}", "https://127.0.0.1:\(port)/healthz"]
        )
        #expect(untrusted.status != 0, "curl must refuse a certificate it was not told to trust")
        let plain = try await ExorecProcess.runTool(
            "/usr/bin/curl",
            ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", "http://127.0.0.1:\(port)/healthz"]
        )
        #expect(plain.output != "200", "plain http on the TLS door")
        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)
    }
}
