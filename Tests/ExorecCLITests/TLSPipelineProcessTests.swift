import ExorecTesting
import Foundation
import Glibc
import Testing

/// Both public doors terminating TLS themselves, with real processes: `exorec simulate --ca-file`
/// streams a call's audio to `exorec serve` over `wss://` and posts its status callbacks over
/// `https://`, trusting the server's self-signed certificate; the call ends up catalogued with its
/// stream complete and its callbacks stored, and nothing reached the server in plain text.
@Suite(.timeLimit(.minutes(3))) struct TLSPipelineProcessTests {
    static let account = "ACtls01"
    static let apiKey = "tls-key"
    static let apiToken = "tls-token"
    static let callbackToken = "tls-test-callback-token-42"

    /// A certificate for 127.0.0.1 (and localhost), made by the openssl CLI.
    static func selfSignedCertificate(in folder: String) async throws -> (certificate: String, key: String) {
        let certificate = folder + "/cert.pem"
        let key = folder + "/key.pem"
        _ = try await PipelineProcess.run(
            "openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate, "-days", "2",
                "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ]
        )
        return (certificate, key)
    }

    @Test func simulatorStreamsOverWSSAndPostsCallbacksOverHTTPS() async throws {
        let directory = makeTemporaryDirectory("exorec-tls")
        let storage = "\(directory)/storage"
        let (certificate, key) = try await Self.selfSignedCertificate(in: directory)
        let scenario = "\(directory)/scenario.json"
        try #"{"rules": [], "defaultRingSeconds": 1, "defaultTalkSeconds": 3, "defaultTimeOutSeconds": 30}"#
            .write(toFile: scenario, atomically: true, encoding: .utf8)
        let simulator = try ExorecProcess([
            "simulate", "--port", "0", "--speed", "2", "--scenario", scenario, "--recordings",
            "\(directory)/recordings",
            "--account-sid", Self.account, "--api-key", Self.apiKey, "--api-token", Self.apiToken, "--ca-file",
            certificate,
            "--log-level", "info",
        ])
        defer { simulator.signal(SIGTERM) }
        let simulatorPort = try await simulator.waitForListening()
        let streamPort = try PipelineProcess.freeLoopbackPort()
        let callbacksPort = try PipelineProcess.freeLoopbackPort()
        let config = "\(directory)/exorec.yaml"
        try """
        storage: \(storage)
        ingest:
          host: 127.0.0.1
          port: \(streamPort)
          tls:
            certificate: \(certificate)
            key: \(key)
          auth:
            credentials:
              - username: exotel
                password: tls-stream-secret
        callbacks:
          host: 127.0.0.1
          port: \(callbacksPort)
          token: \(Self.callbackToken)
          tls:
            certificate: \(certificate)
            key: \(key)
        api:
          port: 0
        exotel:
          account_sid: \(Self.account)
          api_key: \(Self.apiKey)
          api_token: \(Self.apiToken)
          base_url: http://127.0.0.1:\(simulatorPort)
          caller_id: "08030752400"
        calls:
          public_url: https://localhost:\(streamPort)
          callback_url: https://localhost:\(callbacksPort)
          recording_channels: dual
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let server = try ExorecProcess(["serve", "--config", config, "--log-level", "info"])
        _ = try await server.waitForListening()
        _ = try await server.waitForDoor("platform")

        let placed = try await ExorecProcess.run([
            "call", "--config", config, "--from", "+919900000001", "--to", "+919900000002", "--json",
        ])
        #expect(placed.status == 0, "call: \(placed.errors)")
        let streamURL = try await PipelineProcess.query("\(storage)/catalog.sqlite", "SELECT stream_url FROM calls")
            .first?.first
        #expect(streamURL?.hasPrefix("wss://") == true, "the StreamUrl given to the platform: \(streamURL ?? "none")")

        // The terminal callback arrives over https and the stream over wss; both are stored.
        try await PipelineProcess.eventually("the call is completed and its stream complete", timeout: .seconds(90)) {
            let calls = try await PipelineProcess.query("\(storage)/catalog.sqlite", "SELECT status FROM calls")
            let streams = try await PipelineProcess.query("\(storage)/catalog.sqlite", "SELECT state FROM streams")
            return calls == [["completed"]] && streams == [["complete"]]
        }
        let callbacks = try await PipelineProcess.query(
            "\(storage)/catalog.sqlite",
            "SELECT COUNT(*) FROM callbacks WHERE event_type = 'terminal' OR event_type IS NULL"
        )
        #expect((Int(callbacks.first?.first ?? "0") ?? 0) >= 1, "the terminal callback was stored")
        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)
        #expect(
            !simulator.standardError.contains("certificate verify failed"),
            "\(simulator.standardError.suffix(2000))"
        )
    }
}
