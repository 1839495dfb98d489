import ExorecTesting
import Foundation
import MediaStore
import Testing

/// `exorec serve` as a process: signals, crashes, configuration errors.
@Suite(.timeLimit(.minutes(2))) struct ServeCommandTests {
    private func writeConfig(_ text: String) throws -> String {
        let path = makeTemporaryDirectory() + "/exorec.yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func serveArguments(storage: String) throws -> [String] {
        let config = try self.writeConfig(
            """
            ingest:
              port: 0
              auth:
                credentials:
                  - username: test
                    password: test-secret
            """
        )
        return [
            "serve", "--config", config, "--storage", storage, "--log-level", "info", "--callbacks-port", "0",
            "--api-port", "0",
        ]
    }

    /// The server writes audio within 175 ms of its arrival (docs/INGEST.md). The test waits until all
    /// frames were read and then checks that every frame sent more than a second before the kill is on
    /// disk: a tighter bound would measure how busy the shared test machine is, not the server.
    @Test func killDashNineLosesOnlyTheLastMomentsAndRestartRepairsTheFile() async throws {
        let storage = makeTemporaryDirectory()
        let arguments = try self.serveArguments(storage: storage)
        let server = try ExorecProcess(arguments)
        let port = try await server.waitForListening()

        let script = StreamScript(streamSid: "crashed", callSid: "CAcrash", seed: 12)
        let client = try TestWebSocketClient(port: port)
        try client.sendText(script.start())
        var sentAt: [ContinuousClock.Instant] = []
        for i in 0..<25 {  // 2.5 s of audio, paced like the platform
            try client.sendText(script.media(frame: i))
            sentAt.append(.now)
            try await Task.sleep(for: .milliseconds(100))
        }
        try await TestIngest.waitForMediaFrames(25, port: try await server.waitForDoor("internal"))
        server.signal(SIGKILL)
        let killedAt = ContinuousClock.now
        _ = try await server.waitForExit()
        client.abort()

        let wav = try #require(FileSystem.files(under: storage, withSuffix: "stream-crashed.wav").first)
        let sidecarPath = String(wav.dropLast(4)) + ".json"
        #expect(try StreamSidecar.load(from: sidecarPath).state == .recording)

        // Restart: start-up repair makes the file valid and marks it interrupted.
        let restarted = try ExorecProcess(arguments)
        _ = try await restarted.waitForListening()
        restarted.signal(SIGTERM)
        #expect(try await restarted.waitForExit() == 0)

        let sidecar = try StreamSidecar.load(from: sidecarPath)
        #expect(sidecar.state == .interrupted)
        #expect(sidecar.closeReason == "interrupted")
        #expect(try FileSystem.sha256(of: wav) == sidecar.sha256)
        var st = stat()
        #expect(stat(wav, &st) == 0 && st.st_mode & 0o222 == 0, "a repaired file is read-only")
        let mustHave = sentAt.filter { killedAt - $0 >= .seconds(1) }.count
        #expect(mustHave >= 10)
        let file = try SoundFile.open(readingFrom: wav)
        defer { try? file.close() }
        let samples = file.readAll()
        #expect(
            samples.count >= mustHave * script.frameSamples,
            "kept \(samples.count / 800) frames, needed \(mustHave)"
        )
        #expect(Array(samples.prefix(mustHave * script.frameSamples)) == script.expected(frames: mustHave))
        let outside = try await OutsideReader.soundfile(wav)
        #expect(outside.frames == samples.count && outside.sampleRate == 8000)
    }

    @Test func sigtermFinishesOpenStreamsBeforeExit() async throws {
        let storage = makeTemporaryDirectory()
        let server = try ExorecProcess(try self.serveArguments(storage: storage))
        let port = try await server.waitForListening()
        let script = StreamScript(streamSid: "termed", seed: 13)
        let client = try TestWebSocketClient(port: port)
        try client.sendText(script.start())
        for i in 0..<3 { try client.sendText(script.media(frame: i)) }
        try await TestIngest.waitForMediaFrames(3, port: try await server.waitForDoor("internal"))
        server.signal(SIGTERM)
        #expect(try await client.closed()?.code == 1001)
        #expect(try await server.waitForExit() == 0)
        let wav = try #require(FileSystem.files(under: storage, withSuffix: "stream-termed.wav").first)
        let sidecar = try StreamSidecar.load(from: String(wav.dropLast(4)) + ".json")
        #expect(sidecar.state == .complete)
        #expect(sidecar.closeReason == "shutdown")
        #expect(sidecar.frames == 2400)
        #expect(server.standardError.contains("every stream is finalized"))
    }

    @Test func secondServerOnTheSameStorageIsRefused() async throws {
        let storage = makeTemporaryDirectory()
        let arguments = try self.serveArguments(storage: storage)
        let first = try ExorecProcess(arguments)
        _ = try await first.waitForListening()
        let second = try await ExorecProcess.run(arguments)
        #expect(second.status != 0)
        #expect(second.errors.contains("another exorec process holds"))
        first.signal(SIGTERM)
        _ = try await first.waitForExit()
    }

    @Test(arguments: [
        ("ingest:\n  prot: 80\n", "ingest.prot"),
        ("ingest:\n  port: eighty\n", "ingest.port"),
        ("ingest:\n  idle_timeout: soon\n", "ingest.idle_timeout"),
        ("ingest:\n  port: 0\n", "no credentials are configured"),
        ("recording:\n  header_update_interval: 5s\n", "recording.header_update_interval"),
        ("- not\n- a mapping\n", "expected a mapping"),
        ("ingest:\n  auth:\n    disabled: true\napi:\n  token: short\n", "api.token"),
        ("ingest:\n  auth:\n    disabled: true\napi:\n  max_wait: 500s\n", "api.max_wait"),
        ("ingest:\n  auth:\n    disabled: true\napi:\n  port: 70000\n", "api.port"),
        ("ingest:\n  auth:\n    disabled: true\napi:\n  host: localhost.example\n", "api.host"),
        ("ingest:\n  auth:\n    disabled: true\ncallbacks:\n  port: -1\n", "callbacks.port"),
        ("ingest:\n  auth:\n    disabled: true\ncallbacks:\n  idle_timeout: 1ms\n", "callbacks.idle_timeout"),
        (
            "ingest:\n  auth:\n    disabled: true\ncallbacks:\n  tls:\n    certificate: /nonexistent.pem\n",
            "callbacks.tls"
        ),
        (
            "ingest:\n  auth:\n    disabled: true\ncallbacks:\n  tls:\n    certificate: /nonexistent.pem\n    key: /nonexistent.key\n",
            "callbacks.tls.certificate"
        ),
        ("ingest:\n  auth:\n    disabled: true\ncallbacks:\n  max_connections: 0\n", "callbacks.max_connections"),
        ("api:\n  tokn: x\n", "api.tokn"),
        ("ingest:\n  port: 9000\n  auth:\n    disabled: true\napi:\n  port: 9000\n", "also ingest.port"),
    ])
    func badConfigurationIsAUsageErrorThatNamesTheKey(yaml: String, mentions: String) async throws {
        let config = try self.writeConfig(yaml)
        let result = try await ExorecProcess.run(["serve", "--config", config, "--storage", makeTemporaryDirectory()])
        #expect(result.status == 64)
        #expect(result.errors.contains(mentions), "stderr: \(result.errors)")
    }

    @Test func exampleConfigurationIsValidAndStarts() async throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("config/exorec.example.yaml").path
        let server = try ExorecProcess([
            "serve", "--config", example, "--port", "0", "--callbacks-port", "0", "--api-port", "0", "--storage",
            makeTemporaryDirectory(),
        ])
        let port = try await server.waitForListening()
        // README's order, whichever door binds first: "listening on" means every door is up.
        let doors = server.standardOutput.split(separator: "\n").map {
            $0.split(separator: " on ").first.map(String.init) ?? ""
        }
        #expect(
            doors == ["exorec: platform door", "exorec: internal door", "exorec: listening"],
            "\(server.standardOutput)"
        )
        let client = try TestWebSocketClient(port: port, credentials: ("exotel", "change-me"))
        client.close()
        server.signal(SIGINT)
        #expect(try await server.waitForExit() == 0)
    }

    @Test func badFlagsAreUsageErrors() async throws {
        let result = try await ExorecProcess.run(["serve", "--port", "70000"])
        #expect(result.status == 64)
        #expect(result.errors.contains("--port 70000"))
    }

    @Test func helpShowsExamples() async throws {
        for command in [["serve", "--help"], ["--help"]] {
            let result = try await ExorecProcess.run(command)
            #expect(result.status == 0)
            #expect(result.output.contains("EXAMPLES:") || result.output.contains("EXIT CODES:"))
        }
    }

    @Test func credentialsCanComeFromTheEnvironment() async throws {
        let storage = makeTemporaryDirectory()
        let server = try ExorecProcess(
            ["serve", "--port", "0", "--callbacks-port", "0", "--api-port", "0", "--storage", storage],
            environment: ["EXOREC_INGEST_USERNAME": "envuser", "EXOREC_INGEST_PASSWORD": "envpass"]
        )
        let port = try await server.waitForListening()
        let client = try TestWebSocketClient(port: port, credentials: ("envuser", "envpass"))
        client.close()
        #expect(throws: TestWebSocketClient.ClientError.self) { _ = try TestWebSocketClient(port: port) }
        server.signal(SIGTERM)
        let status = try await server.waitForExit()
        #expect(status == 0, "\(server.standardError)")
    }
}
