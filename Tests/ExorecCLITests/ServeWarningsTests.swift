import ExorecTesting
import Foundation
import Glibc
import MediaStore
import Testing

/// What `serve` warns about at start, and the modes and group of what it stores.
@Suite(.timeLimit(.minutes(2))) struct ServeWarningsTests {
    private func writeConfig(_ text: String) throws -> String {
        let path = makeTemporaryDirectory() + "/exorec.yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Starts `serve` with `config`, waits until it listens, stops it; returns its standard error.
    private func startAndStop(_ config: String) async throws -> String {
        let storage = makeTemporaryDirectory()
        let server = try ExorecProcess([
            "serve", "--config", try self.writeConfig(config), "--callbacks-port", "0", "--api-port", "0", "--storage",
            storage, "--log-level", "info",
        ])
        _ = try await server.waitForListening()
        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)
        return server.standardError
    }

    @Test func exampleCredentialsAndPlainHTTPPublicURLAreWarnedAbout() async throws {
        let errors = try await self.startAndStop(
            """
            ingest:
              port: 0
              auth:
                credentials:
                  - username: exotel
                    password: change-me
            callbacks:
              token: 3f9c1e7a5b2d48c0a6e4f1b9d7c3a5e2
            calls:
              public_url: http://recorder.example.com
            """
        )
        #expect(errors.contains("example password"), "\(errors)")
        #expect(errors.contains("callbacks.token is the example token"), "\(errors)")
        #expect(errors.contains("calls.public_url is plain http://"), "\(errors)")
        #expect(!errors.contains("ingest.auth.disabled is true"))
    }

    @Test func disabledAuthIsWarnedAbout() async throws {
        let errors = try await self.startAndStop(
            """
            ingest:
              port: 0
              auth:
                disabled: true
            """
        )
        #expect(errors.contains("ingest.auth.disabled is true"), "\(errors)")
    }

    /// An object archive reached over plain http beyond loopback is warned about (the media cross in clear).
    @Test func plainHTTPArchiveEndpointIsWarnedAbout() async throws {
        let errors = try await self.startAndStop(
            """
            ingest:
              port: 0
              auth:
                disabled: true
            archive:
              s3:
                endpoint: http://minio.example.com:9000
                bucket: acme-archive
                access_key_id: AKIDEXAMPLE
                secret_access_key: example-secret-0123
            """
        )
        #expect(errors.contains("archive.s3.endpoint is plain http:// for minio.example.com"), "\(errors)")
        #expect(!errors.contains("example-secret-0123"), "the secret is never logged")
    }

    @Test func aSoundConfigurationGetsNoWarning() async throws {
        let errors = try await self.startAndStop(
            """
            ingest:
              port: 0
              auth:
                credentials:
                  - username: test
                    password: a-real-secret-of-our-own
            calls:
              public_url: http://127.0.0.1:8080
            """
        )
        #expect(!errors.contains("example password"))
        #expect(!errors.contains("calls.public_url is plain"))
        #expect(!errors.contains("ingest.auth.disabled"))
    }

    /// Allowlist entries are read at start: a bad one is a configuration error naming its key.
    @Test(arguments: [
        ("exotel", "recording_hosts", "recordings.example.com:http"),
        ("calls", "prompt_hosts", "ftp://cdn.example.com"),
    ])
    func unreadableAllowlistEntriesAreConfigurationErrors(
        _ section: String,
        _ key: String,
        _ entry: String
    ) async throws {
        let config = try self.writeConfig(
            """
            ingest:
              port: 0
              auth:
                credentials:
                  - username: test
                    password: test-secret
            \(section):
              \(key):
                - "\(entry)"
            """
        )
        let result = try await ExorecProcess.run([
            "serve", "--config", config, "--callbacks-port", "0", "--api-port", "0", "--storage",
            makeTemporaryDirectory(),
        ])
        #expect(result.status == 64, "\(result.errors)")
        #expect(result.errors.contains("\(section).\(key)[0]"), "\(result.errors)")
    }

    /// `storage: {root, group}`: a stream's folder and files get the group; folders 0750 (setgid), the
    /// finished WAV 0440, the sidecar and catalog not world-readable.
    @Test func storedFilesGetTheReaderGroupAndNoWorldAccess() async throws {
        let storage = makeTemporaryDirectory()
        let group = getegid()
        let config = try self.writeConfig(
            """
            storage:
              root: \(storage)
              group: "\(group)"
            ingest:
              port: 0
              auth:
                credentials:
                  - username: test
                    password: test-secret
            """
        )
        let server = try ExorecProcess([
            "serve", "--config", config, "--callbacks-port", "0", "--api-port", "0", "--log-level", "info",
        ])
        let port = try await server.waitForListening()
        let script = StreamScript(streamSid: "moded", seed: 5)
        let client = try TestWebSocketClient(port: port)
        try client.sendText(script.start())
        for i in 0..<3 { try client.sendText(script.media(frame: i)) }
        try client.sendText(script.stop())
        #expect(try await client.closed()?.code == 1000)
        try await TestIngest.waitForMediaFrames(3, port: try await server.waitForDoor("internal"))
        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)

        let wav = try #require(FileSystem.files(under: storage, withSuffix: "stream-moded.wav").first)
        var info = stat()
        #expect(stat(wav, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o440, "finished WAV: \(String(info.st_mode & 0o777, radix: 8))")
        #expect(info.st_gid == group)
        let sidecar = String(wav.dropLast(4)) + ".json"
        #expect(stat(sidecar, &info) == 0 && info.st_mode & 0o007 == 0)
        let folder = String(wav[..<wav.lastIndex(of: "/")!])
        #expect(stat(folder, &info) == 0)
        #expect(
            info.st_mode & 0o777 == 0o750 && info.st_mode & S_ISGID != 0,
            "folder: \(String(info.st_mode & 0o7777, radix: 8))"
        )
        #expect(stat("\(storage)/catalog.sqlite", &info) == 0 && info.st_mode & 0o007 == 0)
    }
}
