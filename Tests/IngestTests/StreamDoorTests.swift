import ExorecTesting
import Foundation
import Glibc
import Ingest
import MediaStore
import Testing

/// The stream door's plain-HTTP side and its caps on connections that have not upgraded.
@Suite(.timeLimit(.minutes(2))) struct StreamDoorTests {
    /// `/healthz` is answered on a kept-alive connection; a request with a body gets its answer and
    /// the connection is closed without the body being read; HEAD answers with headers only.
    @Test func httpSideAnswersFromTheHeadAndNeverReadsABody() async throws {
        try await withTestIngest { ingest in
            try await onThread {
                let client = try TestHTTPClient(port: ingest.port)
                defer { client.close() }
                for _ in 0..<3 {
                    let health = try client.request("GET", "/healthz")
                    #expect(health.status == 200)
                    #expect(health.body.contains("\"status\":\"ok\""))
                }
                let upgradeRequired = try client.request("GET", "/v1/streams")
                #expect(upgradeRequired.status == 426)
                #expect(upgradeRequired.headers["upgrade"] == "websocket")
                #expect(try client.request("GET", "/v1/callbacks/status?token=x").status == 404)
                #expect(try client.request("GET", "/v1/events").status == 404)
                let posted = try client.request(
                    "POST",
                    "/nope",
                    contentType: "application/json",
                    body: Array(repeating: 0x61, count: 100)
                )
                #expect(posted.status == 404)
                #expect(posted.headers["connection"] == "close")
                #expect(client.waitForEOF(timeoutSeconds: 10), "a request with a body ends its connection")
            }
            try await onThread {
                // Chunked bodies are not read either.
                let client = try TestHTTPClient(port: ingest.port)
                defer { client.close() }
                try client.send("POST", "/healthz", headers: ["Transfer-Encoding: chunked"])
                try client.write(Array("5\r\nhello\r\n".utf8))
                let answer = try client.readResponse()
                #expect(answer.status == 405)
                #expect(client.waitForEOF(timeoutSeconds: 10))
            }
            try await onThread {
                // HEAD: the head of the answer, no body, and the connection ends.
                let fd = try TestWebSocketClient.connect(port: ingest.port)
                defer { close(fd) }
                let request = Array("HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
                _ = request.withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
                var answer: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
                    if n <= 0 { break }
                    answer += chunk[0..<n]
                }
                let text = String(decoding: answer, as: UTF8.self)
                #expect(text.hasPrefix("HTTP/1.1 200"))
                #expect(text.hasSuffix("\r\n\r\n"), "no body after the head: \(text)")
            }
        }
    }

    /// One source's idle connections are capped; /healthz and a stream from another source still get in.
    @Test func idleConnectionsFromOneSourceAreCapped() async throws {
        try await withTestIngest(configure: {
            $0.server.maxPendingPerSource = 8
            $0.server.handshakeTimeoutSeconds = 60
        }) { ingest in
            let idle = try (0..<30).map { _ in try TestWebSocketClient.connect(port: ingest.port, source: "127.0.0.2") }
            defer { idle.forEach { close($0) } }
            try await waitUntil("22 of 30 idle sockets are closed by the server") {
                idle.filter(isClosedByPeer).count == 22
            }
            #expect(idle.filter(isClosedByPeer).count == 22, "exactly the cap of 8 stays open")

            #expect(try ingest.get("/healthz").status == 200)
            let metrics = try await ingest.metricsText(containing: [
                #"exorec_ingest_refused_connections_total{reason="pending-per-source"} 22"#
            ])
            #expect(
                metrics.contains(#"exorec_ingest_refused_connections_total{reason="pending-per-source"} 22"#),
                "\(metrics)"
            )
            // The 8 idle ones, and perhaps the /healthz connection, have not upgraded.
            let pending = metrics.split(separator: "\n").first { $0.hasPrefix("exorec_ingest_pending_connections ") }
                .flatMap { Int($0.split(separator: " ").last ?? "") }
            #expect((8...10).contains(pending ?? -1), "\(metrics)")
            let script = StreamScript(streamSid: "bystander", seed: 5)
            try await sendWholeStream(script, frames: 20, port: ingest.port)
            let sidecar = try #require(try await ingest.waitForFinished(1).first)
            #expect(sidecar.frames == 20 * 800)
            let file = try SoundFile.open(readingFrom: ingest.wavPath(of: sidecar))
            defer { try? file.close() }
            #expect(file.readAll() == script.expected(frames: 20))
        }
    }

    /// Connections that have not upgraded are capped in total, whatever their sources.
    @Test func idleConnectionsAreCappedInTotal() async throws {
        try await withTestIngest(configure: {
            $0.server.maxPendingConnections = 10
            $0.server.handshakeTimeoutSeconds = 60
        }) { ingest in
            let sources = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
            let idle = try sources.flatMap { source in
                try (0..<5).map { _ in try TestWebSocketClient.connect(port: ingest.port, source: source) }
            }
            try await waitUntil("10 of 20 idle sockets are closed by the server") {
                idle.filter(isClosedByPeer).count == 10
            }
            #expect(idle.filter(isClosedByPeer).count == 10)
            idle.forEach { close($0) }
            // Once they are gone, the door takes connections again.
            try await waitUntil("/healthz answers again") { (try? ingest.get("/healthz").status) == 200 }
            // 10 of the idle sockets, and any /healthz poll that came before the server saw the rest go.
            // Published once per housekeeping round: wait for the round after the refusals.
            var refused = 0
            try await waitUntil("the refusals are published") {
                refused = Self.refusedPendingTotal(ingest.server.metricsText())
                return refused >= 10
            }
            #expect(refused >= 10, "\(ingest.server.metricsText())")
        }
    }

    private static func refusedPendingTotal(_ metrics: String) -> Int {
        metrics.split(separator: "\n").first {
            $0.hasPrefix(#"exorec_ingest_refused_connections_total{reason="pending-total"}"#)
        }
        .flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
    }
}

/// The arithmetic of the descriptor budget, and the limit raised at start.
@Suite struct DescriptorBudgetTests {
    @Test func streamsCostTwoDescriptorsAndTheReserveIsNeverGivenOut() {
        let budget = DescriptorBudget(limit: 1024, baseline: 40, reserve: 128)
        #expect(budget.forConnections == 856)
        #expect(budget.streamCapacity == 428)
        #expect(budget.admitsSocket(sockets: 855, streams: 0))
        #expect(!budget.admitsSocket(sockets: 856, streams: 0))
        #expect(!budget.admitsSocket(sockets: 428, streams: 428))
        #expect(budget.admitsStream(sockets: 428, streams: 427))
        #expect(!budget.admitsStream(sockets: 429, streams: 427))
        #expect(DescriptorBudget(limit: 100, baseline: 40, reserve: 128).forConnections == 0)
    }

    @Test func theSoftLimitIsRaisedToTheHardOne() {
        let (_, after) = DescriptorLimit.raiseToHard()
        #expect(after.soft == after.hard || after.soft >= 1 << 20)
        #expect((DescriptorLimit.openCount() ?? 0) > 2)
    }
}

/// Whether the server closed (or reset) this socket; never blocks.
func isClosedByPeer(_ fd: Int32) -> Bool {
    var byte: UInt8 = 0
    let n = recv(fd, &byte, 1, Int32(MSG_DONTWAIT | MSG_PEEK))
    if n == 0 { return true }
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK
}

/// Polls `condition` every 20 ms until it holds; fails after `timeout`.
func waitUntil(_ what: String, timeout: Duration = .seconds(60), _ condition: () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try !condition() {
        guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting until \(what)") }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// Sends `start`, `frames` media frames and `stop` on a new connection from 127.0.0.1.
func sendWholeStream(_ script: StreamScript, frames: Int, port: Int) async throws {
    let client = try TestWebSocketClient(port: port)
    try client.sendText(script.start())
    for frame in 0..<frames { try client.sendText(script.media(frame: frame)) }
    try client.sendText(script.stop())
    _ = try await client.closed()
}
