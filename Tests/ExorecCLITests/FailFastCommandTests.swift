import ExorecTesting
import Foundation
import Testing

/// Commands that talk to a configured server fail within seconds, naming it, when nothing listens there
/// (issue 12: `watch` printed nothing forever, `call` was silent for two minutes).
@Suite(.timeLimit(.minutes(2))) struct FailFastCommandTests {
    /// Generous for a loaded two-core machine, far below the old 30 s (`--no-follow`), 120 s (`call`) and forever (`watch`).
    static let limit = Duration.seconds(20)

    @Test(arguments: [false, true]) func watchAgainstAStoppedServerFailsNamingIt(noFollow: Bool) async throws {
        let port = try PipelineProcess.freeLoopbackPort()
        let url = "http://127.0.0.1:\(port)"
        let started = ContinuousClock.now
        let result = try await ExorecProcess.run(
            ["watch", "--server", url, "--token", "some-token-0123456789"]
                + (noFollow ? ["--after", "0", "--no-follow"] : [])
        )
        let elapsed = started.duration(to: .now)
        #expect(result.status == 1, "stderr: \(result.errors)")
        #expect(elapsed < Self.limit, "took \(elapsed)")
        #expect(result.errors.contains("cannot reach the events feed at \(url)"), "stderr: \(result.errors)")
        #expect(result.errors.contains("connection refused"), "stderr: \(result.errors)")
        #expect(result.output.isEmpty)
    }

    @Test func callAgainstAStoppedPlatformFailsNamingIt() async throws {
        let port = try PipelineProcess.freeLoopbackPort()
        let directory = makeTemporaryDirectory()
        let config = directory + "/exorec.yaml"
        try """
        storage: \(directory)/storage
        ingest:
          auth:
            credentials:
              - username: exotel
                password: stream-secret-0123
        callbacks:
          token: callback-token-0123456789
        exotel:
          account_sid: acme1
          api_key: key1
          api_token: token1
          base_url: http://127.0.0.1:\(port)
          caller_id: "08030752400"
        calls:
          public_url: https://localhost:8443
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let started = ContinuousClock.now
        let result = try await ExorecProcess.run([
            "call", "--config", config, "--from", "09876543210", "--to", "09123456789",
        ])
        let elapsed = started.duration(to: .now)
        #expect(result.status != 0, "stdout: \(result.output)")
        #expect(elapsed < Self.limit, "took \(elapsed)")
        #expect(result.errors.contains("http://127.0.0.1:\(port)"), "stderr: \(result.errors)")
        #expect(result.errors.contains("connection refused"), "stderr: \(result.errors)")
        #expect(result.output.isEmpty)
    }

    /// A follower whose server goes away after it followed the feed keeps retrying, one line per attempt
    /// naming the URL and the wait before the next, and stops cleanly on SIGINT.
    @Test func watchRetriesALostServerWithALinePerAttempt() async throws {
        let config = makeTemporaryDirectory() + "/exorec.yaml"
        try """
        ingest:
          port: 0
          auth:
            credentials:
              - username: test
                password: test-secret
        api:
          port: 0
          token: fail-fast-token-0123456789
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let server = try ExorecProcess([
            "serve", "--config", config, "--storage", makeTemporaryDirectory(), "--callbacks-port", "0",
        ])
        defer { server.signal(SIGKILL) }
        _ = try await server.waitForListening()
        let url = "http://127.0.0.1:\(try await server.waitForDoor("internal"))"
        let watch = try ExorecProcess([
            "watch", "--server", url, "--token", "fail-fast-token-0123456789", "--log-level", "info",
        ])
        defer { watch.signal(SIGKILL) }
        try await Self.waitFor("following the events feed", in: watch)
        server.signal(SIGKILL)
        _ = try await server.waitForExit()
        try await Self.waitFor("lost the events feed", in: watch)
        try await Self.waitFor("still unreachable; retrying", in: watch)
        let retryLine = try #require(
            watch.standardError.split(separator: "\n").first { $0.contains("still unreachable; retrying") }
        )
        #expect(retryLine.contains(url) && retryLine.contains("next_attempt_in"), "\(retryLine)")
        watch.signal(SIGINT)
        #expect(try await watch.waitForExit() == 0, "stderr: \(watch.standardError)")
    }

    private static func waitFor(_ text: String, in process: ExorecProcess) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while !process.standardError.contains(text), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(process.standardError.contains(text), "no '\(text)' in: \(process.standardError)")
    }
}
