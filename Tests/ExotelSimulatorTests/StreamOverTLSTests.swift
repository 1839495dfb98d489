import ExorecTesting
import ExotelKit
import Foundation
import Ingest
import Logging
import MediaStore
import Testing

@testable import ExotelSimulator

/// The stream door terminating TLS itself (`ingest.tls`), and the simulator streaming over `wss://`
/// while trusting the door's self-signed certificate.
@Suite(.timeLimit(.minutes(2))) struct StreamOverTLSTests {
    /// A self-signed certificate for `localhost` / 127.0.0.1, made with the openssl CLI.
    static func selfSignedCertificate() async throws -> (certificate: String, key: String) {
        let folder = makeTemporaryDirectory("stream-tls")
        let certificate = folder + "/cert.pem"
        let key = folder + "/key.pem"
        let openssl = try ChildProcess(
            executable: "/usr/bin/openssl",
            arguments: [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate, "-days", "2",
                "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ],
            standardOutput: .nullDevice,
            standardError: .nullDevice
        )
        let status = try await openssl.waitForExit()
        guard status == 0 else { throw TestFailure("openssl req exited with \(status)") }
        return (certificate, key)
    }

    private static let authorization = "Basic " + Data("test:test-secret".utf8).base64EncodedString()

    /// The simulator's stream connector sends a scripted stream over wss://; the WAV is sample-exact.
    @Test func simulatorStreamsOverWSSTrustingTheGivenCertificate() async throws {
        let (certificate, key) = try await Self.selfSignedCertificate()
        try await withTestIngest(configure: { $0.server.tls = .init(certificatePath: certificate, privateKeyPath: key) }
        ) { ingest in
            let logger = Logger(label: "tls-test")
            let connector = WebSocketStreamConnector(
                logger: logger,
                tlsConfiguration: try SimulatorSeams.clientTLS(trustedCertificatesFile: certificate)
            )
            let script = StreamScript(streamSid: "secure", seed: 21)
            try await connector.withConnection(
                url: "wss://localhost:\(ingest.port)/v1/streams",
                headers: ["Authorization": Self.authorization]
            ) { connection in
                try await connection.send(text: script.start())
                for frame in 0..<50 { try await connection.send(text: script.media(frame: frame)) }
                try await connection.send(text: script.stop())
            }
            let sidecar = try #require(try await ingest.waitForFinished(1).first)
            #expect(sidecar.state == .complete)
            #expect(sidecar.frames == 50 * 800)
            let file = try SoundFile.open(readingFrom: ingest.wavPath(of: sidecar))
            defer { try? file.close() }
            #expect(file.readAll() == script.expected(frames: 50))

            // Without the certificate in its trust store a client refuses the door, and a plain
            // ws:// client gets no WebSocket from a TLS port.
            let untrusted = WebSocketStreamConnector(logger: logger)
            await #expect(throws: (any Error).self) {
                try await untrusted.withConnection(
                    url: "wss://localhost:\(ingest.port)/v1/streams",
                    headers: ["Authorization": Self.authorization]
                ) { _ in }
            }
            #expect(throws: (any Error).self) { _ = try TestWebSocketClient(port: ingest.port) }
        }
    }

    /// A whole simulated call, placed on the platform with a wss:// StreamUrl, arrives intact.
    @Test func simulatedCallStreamsOverWSS() async throws {
        let (certificate, key) = try await Self.selfSignedCertificate()
        try await withTestIngest(configure: { $0.server.tls = .init(certificatePath: certificate, privateKeyPath: key) }
        ) { ingest in
            let clock = ScaledClock(rate: 100)
            var configuration = SimulatorConfiguration(
                accounts: [EngineHarness.account],
                recordingsDirectory: makeTemporaryDirectory("engine-wss"),
                publicBaseURL: "http://127.0.0.1:9"
            )
            configuration.scenario = Scenario(defaultRingSeconds: 2, defaultTalkSeconds: 3)
            configuration.trustedCertificatesFile = certificate
            let logger = Logger(label: "engine-wss")
            let platform = SimulatedPlatform(
                configuration: configuration,
                clock: clock,
                seams: SimulatorSeams(
                    audioFetcher: FakeAudioFetcher(),
                    streamConnector: WebSocketStreamConnector(
                        logger: logger,
                        tlsConfiguration: try SimulatorSeams.clientTLS(trustedCertificatesFile: certificate)
                    ),
                    callbackPoster: FakeCallbackPoster()
                ),
                logger: logger
            )
            var request = twoNumberRequest()
            request.streamURL = "wss://test:test-secret@localhost:\(ingest.port)/v1/streams?sample-rate=16000"
            let placed = await platform.placeCall(accountSid: "acme", request: request)
            await platform.waitUntilIdle()
            let sidecar = try #require(try await ingest.waitForFinished(1).first)
            #expect(sidecar.callSid == placed.sid)
            #expect(sidecar.mediaMessages == 30)
            #expect(sidecar.gaps.isEmpty && sidecar.duplicates == 0 && sidecar.invalidMessages.isEmpty)
            let file = try SoundFile.open(readingFrom: ingest.wavPath(of: sidecar))
            defer { try? file.close() }
            #expect(file.info.frames == 3 * 16000)
        }
    }

    /// Missing or non-PEM files are a configuration error that names the key.
    @Test func unreadableCertificateIsAClearConfigurationError() async throws {
        var configuration = IngestConfiguration()
        configuration.authDisabled = true
        configuration.server.tls = .init(
            certificatePath: "/nonexistent/cert.pem",
            privateKeyPath: "/nonexistent/key.pem"
        )
        #expect(throws: IngestError.self) { try configuration.validate() }
        do { try configuration.validate() } catch { #expect("\(error)".contains("ingest.tls.certificate")) }

        let (certificate, _) = try await Self.selfSignedCertificate()
        configuration.server.tls = .init(certificatePath: certificate, privateKeyPath: certificate)
        do {
            try configuration.validate()
            Issue.record("a certificate given as the key was accepted")
        } catch {
            #expect("\(error)".contains("ingest.tls.key"))
        }
    }

    /// `exorec serve` with `ingest.tls`: the simulator's connector streams to the process over wss://.
    @Test func serveTerminatesTLSForTheSimulator() async throws {
        let (certificate, key) = try await Self.selfSignedCertificate()
        let storage = makeTemporaryDirectory()
        let config = makeTemporaryDirectory() + "/exorec.yaml"
        try """
        ingest:
          port: 0
          tls:
            certificate: \(certificate)
            key: \(key)
          auth:
            credentials:
              - username: test
                password: test-secret
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let server = try ExorecProcess([
            "serve", "--config", config, "--callbacks-port", "0", "--api-port", "0", "--storage", storage,
            "--log-level", "info",
        ])
        let port = try await server.waitForListening()
        #expect(server.standardError.contains("scheme=wss"))
        // /healthz over https, HTTP/1.1 only even when the client offers HTTP/2.
        let curl = try ChildProcess(
            executable: "/usr/bin/curl",
            arguments: [
                "-sS", "--max-time", "20", "--http2", "--cacert", certificate, "-o", "/dev/null", "-w",
                "%{http_version} %{http_code}",
                "https://localhost:\(port)/healthz",
            ],
            standardError: .nullDevice
        )
        _ = try await curl.waitForExit()
        let health = curl.standardOutput
        #expect(health == "1.1 200")
        let connector = WebSocketStreamConnector(
            logger: Logger(label: "tls-process"),
            tlsConfiguration: try SimulatorSeams.clientTLS(trustedCertificatesFile: certificate)
        )
        let script = StreamScript(streamSid: "secureproc", seed: 23)
        try await connector.withConnection(
            url: "wss://localhost:\(port)/v1/streams",
            headers: ["Authorization": Self.authorization]
        ) { connection in
            try await connection.send(text: script.start())
            for frame in 0..<30 { try await connection.send(text: script.media(frame: frame)) }
            try await connection.send(text: script.stop())
        }
        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)
        let wav = try #require(FileSystem.files(under: storage, withSuffix: "stream-secureproc.wav").first)
        #expect(try StreamSidecar.load(from: String(wav.dropLast(4)) + ".json").state == .complete)
        let file = try SoundFile.open(readingFrom: wav)
        defer { try? file.close() }
        #expect(file.readAll() == script.expected(frames: 30))
    }

    /// A key that does not belong to the certificate stops `serve` at start with a message that says so.
    @Test func serveRefusesAKeyThatDoesNotMatchTheCertificate() async throws {
        let (certificate, _) = try await Self.selfSignedCertificate()
        let (_, otherKey) = try await Self.selfSignedCertificate()
        let config = makeTemporaryDirectory() + "/exorec.yaml"
        try """
        ingest:
          port: 0
          tls:
            certificate: \(certificate)
            key: \(otherKey)
          auth:
            disabled: true
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let result = try await ExorecProcess.run([
            "serve", "--config", config, "--callbacks-port", "0", "--api-port", "0", "--storage",
            makeTemporaryDirectory(),
        ])
        #expect(result.status != 0)
        #expect(result.errors.contains("certificate and key"), "stderr: \(result.errors)")
    }

    /// `exorec simulate --ca-file` must name a readable PEM file of certificates.
    @Test func simulateRefusesAnUnreadableCAFile() async throws {
        let result = try await ExorecProcess.run([
            "simulate", "--port", "0", "--ca-file", "/nonexistent/ca.pem", "--recordings", makeTemporaryDirectory(),
        ])
        #expect(result.status == 64)
        #expect(result.errors.contains("--ca-file"), "stderr: \(result.errors)")
    }
}
