import ExorecTesting
import Foundation
import Testing

/// `exorec watch` against a running `exorec serve` process with the consumer API on.
@Suite(.timeLimit(.minutes(2))) struct WatchCommandTests {
    static let token = "watch-test-token-0123456789"

    private func startServer(catalogURL: String? = nil) async throws -> (server: ExorecProcess, port: Int) {
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
          token: \(Self.token)
          heartbeat: 1s
        """.appending(catalogURL.map { "\ncatalog:\n  url: \"\($0)\"\n" } ?? "")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let server = try ExorecProcess(
            [
                "serve", "--config", config, "--storage", makeTemporaryDirectory(), "--log-level", "info",
                "--callbacks-port", "0",
            ])
        return (server, try await server.waitForListening())
    }

    /// The internal door's base URL, where `exorec watch` reads the events feed.
    private func apiURL(_ server: ExorecProcess) async throws -> String {
        "http://127.0.0.1:\(try await server.waitForDoor("internal"))"
    }

    private func sendStream(port: Int, streamSid: String, callSid: String) async throws {
        let script = StreamScript(streamSid: streamSid, callSid: callSid)
        let client = try TestWebSocketClient(port: port)
        try client.sendText(script.start())
        for frame in 0..<10 { try client.sendText(script.media(frame: frame)) }
        try client.sendText(script.stop())
        _ = try await client.closed(timeoutSeconds: 10)
        client.close()
    }

    private static func objects(_ output: String) throws -> [[String: Any]] {
        try output.split(separator: "\n").map { line in
            try #require(
                try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                "not a JSON object: \(line)"
            )
        }
    }

    /// What the feed holds, printed once (`--no-follow`); then a follower started after it prints the next
    /// stream's start and stops at `--count`; a SIGINT ends a follower with 0.
    /// On SQLite and on PostgreSQL (`catalog.url`).
    @Test(arguments: CatalogTestBackend.all)
    func printsTheFeedAsJSONLinesAndFollowsIt(backend: CatalogTestBackend) async throws {
        switch backend {
        case .sqlite: try await self.printsTheFeed(catalogURL: nil)
        case .postgres: try await TestPostgres.withSchema { try await self.printsTheFeed(catalogURL: $0) }
        }
    }

    private func printsTheFeed(catalogURL: String?) async throws {
        let (server, port) = try await self.startServer(catalogURL: catalogURL)
        defer { server.signal(SIGKILL) }
        let url = try await self.apiURL(server)
        try await self.sendStream(port: port, streamSid: "STw1", callSid: "CAw1")

        // The finished event comes after finalizing: poll until the feed has it.
        var events: [[String: Any]] = []
        let deadline = ContinuousClock.now + .seconds(20)
        while !events.contains(where: { $0["type"] as? String == "stream.finished" }), ContinuousClock.now < deadline {
            let result = try await ExorecProcess.run([
                "watch", "--server", url, "--token", Self.token, "--after", "0", "--no-follow",
            ])
            #expect(result.status == 0, "stderr: \(result.errors)")
            events = try Self.objects(result.output)
            try await Task.sleep(for: .milliseconds(100))
        }
        let types = events.compactMap { $0["type"] as? String }
        #expect(types.first == "stream.started")
        #expect(types.last == "stream.finished")
        #expect(
            events.allSatisfy {
                $0["call_sid"] as? String == "CAw1" && ($0["media_id"] as? String)?.count == 16 && $0["path"] is String
            }
        )
        let ids = events.compactMap { ($0["id"] as? NSNumber)?.int64Value }
        #expect(ids == ids.sorted() && Set(ids).count == ids.count)
        let lastID = try #require(ids.last)

        // A follower from the last id, for one stream.started: it prints the next stream's, then exits 0.
        let follower = try ExorecProcess([
            "watch", "--server", url, "--token", Self.token, "--after", "\(lastID)", "--types", "stream.started",
            "--count", "1",
        ])
        try await self.sendStream(port: port, streamSid: "STw2", callSid: "CAw2")
        #expect(try await follower.waitForExit() == 0, "stderr: \(follower.standardError)")
        let next = try Self.objects(follower.standardOutput)
        #expect(next.count == 1)
        #expect(next.first?["type"] as? String == "stream.started")
        #expect(next.first?["call_sid"] as? String == "CAw2")

        // SIGINT ends a follower cleanly.
        let idle = try ExorecProcess(["watch", "--server", url, "--token", Self.token, "--log-level", "info"])
        let connected = ContinuousClock.now + .seconds(20)
        while !idle.standardError.contains("following the events feed"), ContinuousClock.now < connected {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(idle.standardError.contains("following the events feed"), "stderr: \(idle.standardError)")
        idle.signal(SIGINT)
        #expect(try await idle.waitForExit() == 0)

        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)
    }

    @Test func refusalsAndUsageErrorsHaveTheirExitCodes() async throws {
        let (server, _) = try await self.startServer()
        defer { server.signal(SIGKILL) }
        let url = try await self.apiURL(server)
        let wrong = try await ExorecProcess.run([
            "watch", "--server", url, "--token", "not-the-token-0123456789", "--after", "0",
        ])
        #expect(wrong.status == 1)
        #expect(wrong.errors.contains("HTTP 403"), "stderr: \(wrong.errors)")

        for arguments in [
            ["watch", "--server", url, "--token", Self.token, "--no-follow"],
            ["watch", "--server", url, "--token", Self.token, "--types", "stream.exploded"],
            ["watch", "--server", "ftp://example", "--token", Self.token],
            ["watch", "--server", url, "--token", Self.token, "--count", "0"],
        ] {
            let result = try await ExorecProcess.run(arguments)
            #expect(result.status == 64, "\(arguments): \(result.errors)")
        }
        let help = try await ExorecProcess.run(["watch", "--help"])
        #expect(help.status == 0 && help.output.contains("EXAMPLES"))
        server.signal(SIGTERM)
        _ = try await server.waitForExit()
    }
}
