import ExorecTesting
import Foundation
import Glibc
import MediaStore
import Testing

/// `exorec serve` as a process under abuse of its stream door: idle sockets under `ulimit -n 1024`,
/// storms of refused upgrades and of plain HTTP on kept-alive connections. Each runs a good stream
/// alongside that must come out sample-exact and finalized, and bounds what the server logs.
@Suite(.serialized, .timeLimit(.minutes(4))) struct StreamDoorAbuseTests {
    private func serve(
        storage: String,
        extra: String = "",
        top: String = "",
        descriptorLimit: Int? = nil
    ) throws -> ExorecProcess {
        let path = makeTemporaryDirectory() + "/exorec.yaml"
        try """
        ingest:
          port: 0
        \(extra)
          auth:
            credentials:
              - username: test
                password: test-secret
        \(top)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return try ExorecProcess(
            [
                "serve", "--config", path, "--callbacks-port", "0", "--api-port", "0", "--storage", storage,
                "--log-level", "info",
            ],
            descriptorLimit: descriptorLimit
        )
    }

    /// A good stream: `start` and `frames` frames now; `finish` sends `more` frames and `stop`, then
    /// waits for the sidecar to be final and checks the WAV against what was sent.
    private struct GoodStream {
        let script: StreamScript
        let client: TestWebSocketClient
        let port: Int
        var sent = 0

        /// - Parameter server: the `serve` process; its internal door's `/metrics` says when the frames were read.
        init(port: Int, server: ExorecProcess, sid: String, frames: Int) async throws {
            self.port = port
            self.script = StreamScript(streamSid: sid, seed: 31)
            self.client = try TestWebSocketClient(port: port)
            try self.client.sendText(self.script.start())
            for frame in 0..<frames { try self.client.sendText(self.script.media(frame: frame)) }
            self.sent = frames
            try await TestIngest.waitForMediaFrames(frames, port: try await server.waitForDoor("internal"))
        }

        mutating func finish(more: Int, storage: String) async throws {
            for frame in self.sent..<(self.sent + more) { try self.client.sendText(self.script.media(frame: frame)) }
            self.sent += more
            try self.client.sendText(self.script.stop())
            _ = try await self.client.closed()
            let sid = self.script.streamSid
            var sidecarPath = ""
            var sidecar: StreamSidecar?
            try await waitUntil("the stream's sidecar is final") {
                guard let wav = FileSystem.files(under: storage, withSuffix: "stream-\(sid).wav").first else {
                    return false
                }
                sidecarPath = String(wav.dropLast(4)) + ".json"
                sidecar = try? StreamSidecar.load(from: sidecarPath)
                return sidecar.map { $0.state != .recording && $0.sha256 != nil } ?? false
            }
            let final = try #require(sidecar)
            let wav = String(sidecarPath.dropLast(5)) + ".wav"
            #expect(final.state == .complete)
            #expect(final.frames == Int64(self.sent * self.script.frameSamples))
            #expect(try FileSystem.sha256(of: wav) == final.sha256)
            var st = stat()
            #expect(stat(wav, &st) == 0 && st.st_mode & 0o222 == 0, "a finalized WAV is read-only")
            let file = try SoundFile.open(readingFrom: wav)
            defer { try? file.close() }
            #expect(file.readAll() == self.script.expected(frames: self.sent))
        }
    }

    private func lines(_ text: String) -> Int { text.split(separator: "\n").count }

    /// The server's `/metrics` on its internal door once it contains `line` (the stream door publishes
    /// its counters once per housekeeping round), or as it is after 30 s.
    private func metrics(_ server: ExorecProcess, containing line: String) async throws -> String {
        let api = try await server.waitForDoor("internal")
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let text = try TestIngest.get(port: api, "/metrics").body
            if text.contains(line) || ContinuousClock.now >= deadline { return text }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// The issue's flood: 1,500 sockets that send nothing, from one source, under a limit of 1,024
    /// descriptors. The per-source cap closes all but 64 at once; `/healthz` answers from another
    /// source, the stream alongside is finalized, and the log stays short.
    @Test func idleSocketFloodUnderALowDescriptorLimit() async throws {
        let storage = makeTemporaryDirectory()
        let server = try self.serve(storage: storage, extra: "  handshake_timeout: 60s", descriptorLimit: 1024)
        let port = try await server.waitForListening()
        #expect(server.standardError.contains("stream_capacity"), "start-up logs the stream capacity")
        var stream = try await GoodStream(port: port, server: server, sid: "bystander1", frames: 10)

        let idle = try await onThread {
            try (0..<1500).map { _ in try TestWebSocketClient.connect(port: port, source: "127.0.0.2") }
        }
        defer { idle.forEach { close($0) } }
        try await waitUntil("1,436 idle sockets are closed by the server") { idle.filter(isClosedByPeer).count >= 1436 }
        #expect(idle.filter(isClosedByPeer).count == 1436, "the per-source cap (64) stays open")
        #expect(try TestIngest.get(port: port, "/healthz").status == 200)
        let metrics = try await self.metrics(
            server,
            containing: #"exorec_ingest_refused_connections_total{reason="pending-per-source"} 1436"#
        )
        #expect(metrics.contains(#"exorec_ingest_refused_connections_total{reason="pending-per-source"} 1436"#))

        try await stream.finish(more: 20, storage: storage)
        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)
        #expect(
            self.lines(server.standardError) < 60,
            "log of \(self.lines(server.standardError)) lines:\n\(server.standardError.prefix(3000))"
        )
    }

    /// With the caps out of the way only the descriptor reserve stands between a flood and the
    /// limit: sockets beyond the budget are closed at once, and the open stream still finalizes
    /// (its sidecar, hash and read-only WAV need descriptors the flood may not take).
    @Test func descriptorReserveKeepsRoomToFinalizeUnderAFlood() async throws {
        let storage = makeTemporaryDirectory()
        let server = try self.serve(
            storage: storage,
            extra: "  max_pending_connections: 100000\n  max_pending_per_source: 100000\n  handshake_timeout: 60s",
            descriptorLimit: 1024
        )
        let port = try await server.waitForListening()
        var stream = try await GoodStream(port: port, server: server, sid: "bystander2", frames: 10)

        let idle = try await onThread {
            try (0..<1500).map { _ in try TestWebSocketClient.connect(port: port, source: "127.0.0.2") }
        }
        try await waitUntil("the sockets beyond the budget are closed") { idle.filter(isClosedByPeer).count >= 500 }
        try await stream.finish(more: 20, storage: storage)
        idle.forEach { close($0) }

        try await waitUntil("/healthz answers once the flood is gone") {
            (try? TestIngest.get(port: port, "/healthz").status) == 200
        }
        let metrics = try await self.metrics(
            server,
            containing: #"exorec_ingest_refused_connections_total{reason="descriptors"}"#
        )
        #expect(metrics.contains(#"exorec_ingest_refused_connections_total{reason="descriptors"}"#))
        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)
        #expect(!server.standardError.contains("Too many open files") || self.lines(server.standardError) < 60)
        #expect(
            self.lines(server.standardError) < 60,
            "log of \(self.lines(server.standardError)) lines:\n\(server.standardError.prefix(3000))"
        )
    }

    /// Descriptors taken behind the door's back (the limit lowered under the running server): `accept`
    /// fails, and instead of retrying in a busy loop the door pauses accepting (50 ms, doubling to
    /// 1 s) and logs libwebsockets' `accept:` line once per 10 s. Once descriptors are free again it
    /// accepts, and the stream alongside is finalized.
    @Test func acceptErrorsBackOffInsteadOfSpinning() async throws {
        let storage = makeTemporaryDirectory()
        let server = try self.serve(
            storage: storage,
            extra: "  max_pending_connections: 100000\n  max_pending_per_source: 100000\n  handshake_timeout: 60s",
            descriptorLimit: 1024
        )
        let port = try await server.waitForListening()
        var stream = try await GoodStream(port: port, server: server, sid: "bystander5", frames: 10)
        let open = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(server.pid)/fd").count
        let lowered = try await ExorecProcessLimit.set(pid: server.pid, soft: open + 40, hard: 1024)
        #expect(lowered)

        let sources = (2...11).map { "127.0.0.\($0)" }
        let idle = try await onThread {
            try sources.flatMap { source in
                try (0..<30).map { _ in try TestWebSocketClient.connect(port: port, source: source) }
            }
        }
        // A window to spin in: the door accepts what fits, then keeps failing for as long as this lasts.
        try await Task.sleep(for: .seconds(3))
        idle.forEach { close($0) }
        _ = try await ExorecProcessLimit.set(pid: server.pid, soft: 1024, hard: 1024)
        try await waitUntil("/healthz answers once descriptors are free") {
            (try? TestIngest.get(port: port, "/healthz").status) == 200
        }
        let metrics = try await self.metrics(
            server,
            containing: #"exorec_ingest_refused_connections_total{reason="accept-failed"}"#
        )
        let failures =
            metrics.split(separator: "\n").first {
                $0.hasPrefix(#"exorec_ingest_refused_connections_total{reason="accept-failed"}"#)
            }
            .flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
        #expect(failures > 0, "accept failed at least once")
        // Paused, an accept is only tried again when the pause ends or a connection closes (lws
        // then turns accepting back on, and the door turns it off at the next failure); a loop
        // that retries at once fails hundreds of thousands of times in these 3 s.
        #expect(failures < 2000, "\(failures) failed accepts in 3 s: the door retried in a loop")
        try await stream.finish(more: 20, storage: storage)
        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)
        #expect(
            self.lines(server.standardError) < 60,
            "log of \(self.lines(server.standardError)) lines:\n\(server.standardError.prefix(3000))"
        )
    }

    /// 2,000 refused upgrades (wrong credentials, wrong path): every one is counted, the log holds
    /// at most a line per reason per 10 s, and a stream alongside is untouched.
    @Test func refusedUpgradeStormIsCountedButBarelyLogged() async throws {
        let storage = makeTemporaryDirectory()
        let server = try self.serve(storage: storage)
        let port = try await server.waitForListening()
        var stream = try await GoodStream(port: port, server: server, sid: "bystander3", frames: 10)
        let started = ContinuousClock.now

        let statuses = try await onThread {
            try (0..<2000).map { i in
                i.isMultiple(of: 2)
                    ? try TestWebSocketClient.refusal(port: port, credentials: ("test", "wrong"))
                    : try TestWebSocketClient.refusal(port: port, path: "/elsewhere")
            }
        }
        #expect(statuses.filter { $0 == 401 }.count == 1000)
        #expect(statuses.filter { $0 == 404 }.count == 1000)
        let metrics = try await self.metrics(
            server,
            containing: #"exorec_ingest_rejected_upgrades_total{reason="auth"} 1000"#
        )
        #expect(metrics.contains(#"exorec_ingest_rejected_upgrades_total{reason="auth"} 1000"#))
        #expect(metrics.contains(#"exorec_ingest_rejected_upgrades_total{reason="path"} 1000"#))
        try await stream.finish(more: 20, storage: storage)
        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)

        let seconds = Int((ContinuousClock.now - started).components.seconds) + 1
        let refusalLines = server.standardError.split(separator: "\n").filter {
            $0.contains("refused") || $0.contains("denied")
        }
        // One line per reason (auth, path, and lws's "User code denied connection") per started 10 s.
        #expect(
            refusalLines.count <= 3 * (seconds / 10 + 1),
            "\(refusalLines.count) refusal lines in \(seconds) s: \(refusalLines)"
        )
        #expect(
            self.lines(server.standardError) < 60,
            "log of \(self.lines(server.standardError)) lines:\n\(server.standardError.prefix(3000))"
        )
    }

    /// The wedge of the issue, tried on the stream door: refused callback requests, then one
    /// kept-alive connection POSTing small bodies with a wrong token, then thousands of mixed
    /// requests (with bodies and without, wrong paths, some pipelined). Nothing spins: every request
    /// is answered, and the stream alongside, `/healthz` and SIGTERM all work afterwards.
    @Test func keepAliveStormCannotWedgeTheStreamDoor() async throws {
        let storage = makeTemporaryDirectory()
        let server = try self.serve(storage: storage, top: "callbacks:\n  token: storm-test-callback-token-0123")
        defer { server.signal(SIGKILL) }  // a wedged server ignores SIGTERM
        let port = try await server.waitForListening()
        var stream = try await GoodStream(port: port, server: server, sid: "bystander4", frames: 10)

        var answered = try await onThread { () -> Int in
            var answered = 0
            let body = "{\"CallSid\":\"CA1\",\"Status\":\"completed\"}"
            let post = { (token: String) in
                "POST /v1/callbacks/status?token=\(token) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            }
            // A handful of refused callback requests: no token, a wrong one, a GET.
            for request in [post(""), post("wrong"), "GET /v1/callbacks/status HTTP/1.1\r\nHost: x\r\n\r\n"] {
                let fd = try TestWebSocketClient.connect(port: port)
                defer { close(fd) }
                try sendAll(fd, Array(request.utf8))
                if try readOneAnswer(fd) != nil { answered += 1 }
            }
            // 300 POSTs with wrong tokens in one write on one connection: on a door that answers
            // before the body and keeps the connection, the next request arrives while the answer
            // is still going out (the issue's wedge: lws spinning in lws_service_do_ripe_rxflow).
            let burst = try TestWebSocketClient.connect(port: port)
            defer { close(burst) }
            try? sendAll(burst, Array((0..<300).map { post("burst-\($0)") }.joined().utf8))
            if try readOneAnswer(burst) != nil { answered += 1 }
            return answered
        }
        #expect(answered == 4)
        // Still serving: a wedged service thread answers nothing more.
        try #require(try TestIngest.get(port: port, "/healthz").status == 200)

        answered = try await onThread { () -> Int in
            var answered = 0
            let body = "{\"CallSid\":\"CA1\",\"Status\":\"completed\"}"
            let post = { (token: String) in
                "POST /v1/callbacks/status?token=\(token) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            }
            // One connection kept as long as the server keeps it, POSTing with a wrong token.
            var fd = try TestWebSocketClient.connect(port: port)
            defer { close(fd) }
            for i in 0..<4000 {
                let request: String
                switch i % 8 {
                case 5: request = "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                case 6: request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                case 7: request = "POST /v1/streams HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                default: request = post("wrong-token-\(i)")
                }
                try sendAll(fd, Array(request.utf8))
                let answer = try readOneAnswer(fd)
                if answer != nil { answered += 1 }
                if answer?.closes ?? true {
                    // The door closes a connection whose request had a body: carry on with a new one.
                    close(fd)
                    fd = try TestWebSocketClient.connect(port: port)
                }
            }
            // 500 pipelined requests in one write.
            let pipelined = String(repeating: "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", count: 500)
            try sendAll(fd, Array(pipelined.utf8))
            for _ in 0..<500 {
                if try readOneAnswer(fd) != nil { answered += 1 }
            }
            return answered
        }
        #expect(answered == 4500)
        #expect(try TestIngest.get(port: port, "/healthz").status == 200)
        try await stream.finish(more: 20, storage: storage)
        server.signal(SIGTERM)
        #expect(try await server.waitForExit(timeout: .seconds(30)) == 0)
    }
}

private func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
        guard n > 0 else { throw TestFailure("send: errno \(errno)") }
        offset += n
    }
}

/// Per-socket read buffers of `readOneAnswer` (pipelined answers arrive together).
nonisolated(unsafe) private var pending: [Int32: [UInt8]] = [:]

/// Reads one HTTP answer (head and `Content-Length` body): its status and whether it closes the
/// connection; nil at EOF (or when nothing came for 10 s).
private func readOneAnswer(_ fd: Int32) throws -> (status: Int, closes: Bool)? {
    var buffer = pending[fd] ?? []
    defer { pending[fd] = buffer }
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        if let end = buffer.indices.dropLast(3).first(where: {
            buffer[$0] == 13 && buffer[$0 + 1] == 10 && buffer[$0 + 2] == 13 && buffer[$0 + 3] == 10
        }) {
            let head = String(decoding: buffer[..<end], as: UTF8.self)
            let length =
                head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            if buffer.count >= end + 4 + length {
                buffer.removeFirst(end + 4 + length)
                let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
                return (status, head.lowercased().contains("connection: close"))
            }
        }
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
        if n <= 0 {
            buffer = []
            return nil
        }
        buffer += chunk[0..<n]
    }
}

/// Whether the server closed (or reset) this socket; never blocks.
private func isClosedByPeer(_ fd: Int32) -> Bool {
    var byte: UInt8 = 0
    let n = recv(fd, &byte, 1, Int32(MSG_DONTWAIT | MSG_PEEK))
    if n == 0 { return true }
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK
}

/// Polls `condition` every 20 ms until it holds; fails after `timeout`.
private func waitUntil(_ what: String, timeout: Duration = .seconds(90), _ condition: () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try !condition() {
        guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting until \(what)") }
        try await Task.sleep(for: .milliseconds(50))
    }
}

/// `prlimit --pid` on a running process.
enum ExorecProcessLimit {
    static func set(pid: Int32, soft: Int, hard: Int) async throws -> Bool {
        try await ChildProcess(
            executable: "/usr/bin/prlimit",
            arguments: ["--pid", "\(pid)", "--nofile=\(soft):\(hard)"],
            standardOutput: .nullDevice,
            standardError: .nullDevice
        ).waitForExit() == 0
    }
}
