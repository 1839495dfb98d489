import Doors
import ExorecTesting
import ExotelKit
import Foundation
import Glibc
import Ingest
import Logging
import MediaStore
import Synchronization
import Testing

/// What an attacker can send the platform door without credentials, or with a body built to hurt:
/// none of it wedges the door, exhausts it, or touches a stream on the stream door.
@Suite(.timeLimit(.minutes(3))) struct DoorAbuseTests {
    /// Issue 11's wedge: refused requests (no token, wrong token, a GET), then one keep-alive
    /// connection POSTing with a wrong token thousands of times. The old libwebsockets endpoint spun
    /// its service thread; now each is answered, `/healthz` answers, and a stream alongside comes out
    /// sample-exact and finalized.
    @Test func aRefusedRequestStormOnOneKeepAliveConnectionWedgesNothing() async throws {
        let sink = RecordingSink()
        try await withCallbackIngest(sink: sink) { doors in
            let port = doors.port
            let streamPort = doors.streamPort
            let body = Array(#"{"CallSid":"CAstorm"}"#.utf8)
            let client = try TestHTTPClient(port: port)
            // Pipelined: every request is sent without waiting for the answers, which a reader counts.
            let writer = Task {
                try await onThread {
                    for _ in 0..<5 {
                        try client.send("POST", "/v1/callbacks/status", contentType: "application/json", body: body)
                        try client.send("GET", callbackPath)
                    }
                    for i in 0..<3000 {
                        try client.send(
                            "POST",
                            "/v1/callbacks/status?token=wrong-token-\(i % 7)-0000000000",
                            contentType: "application/json",
                            body: body
                        )
                    }
                }
            }
            let storm = Task {
                try await onThread { () throws -> [Int: Int] in
                    var statuses: [Int: Int] = [:]
                    for _ in 0..<3010 { statuses[try client.readResponse().status, default: 0] += 1 }
                    return statuses
                }
            }
            // A whole stream, and health checks, while the storm blows.
            let script = StreamScript(streamSid: "besidestorm", seed: 31)
            let close = try await onThread {
                let client = try TestWebSocketClient(port: streamPort)
                try client.sendText(script.start())
                for i in 0..<20 { try client.sendText(script.media(frame: i)) }
                try client.sendText(script.stop())
                return try client.awaitClose()?.code
            }
            #expect(close == 1000)
            #expect(try TestIngest.get(port: streamPort, "/healthz").status == 200)
            let statuses = try await storm.value
            try await writer.value
            #expect(statuses[403] == 3000, "\(statuses)")
            #expect(statuses[401] == 5, "\(statuses)")
            #expect(statuses[405] == 5, "\(statuses)")
            let sidecar = try #require(try await doors.waitForFinished(1).first)
            #expect(sidecar.frames == 16000)
            #expect(sidecar.state == .complete)
            let path = doors.ingest.wavPath(of: sidecar)
            #expect(try FileSystem.sha256(of: path) == sidecar.sha256, "finalized: hashed")
            let file = try SoundFile.open(readingFrom: path)
            defer { try? file.close() }
            #expect(file.readAll() == script.expected(frames: 20), "sample-exact")
            #expect(sink.stored.isEmpty)
            // The door still takes a good callback.
            let (contentType, good) = StatusCallback(callSid: "CAafterstorm").encoded(as: .json)
            #expect(
                try await TestHTTPClient.request(port: port, "POST", callbackPath, contentType: contentType, body: good)
                    .status == 200
            )
        }
    }

    /// Slowloris: a request head sent one byte at a time is cut off after the idle timeout, however
    /// long the client keeps trickling.
    @Test func aTricklingRequestHeadIsCutOff() async throws {
        try await withCallbackIngest(sink: RecordingSink(), configure: { $0.callbacks.limits.idleTimeoutMs = 1000 }) {
            doors in
            let port = doors.port
            let sent = try await onThread { () throws -> Int in
                let client = try TestHTTPClient(port: port)
                let head = Array(
                    "POST \(callbackPath) HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: \(String(repeating: "a", count: 200))"
                        .utf8
                )
                for (index, byte) in head.enumerated() {
                    // A closed connection fails the write (EPIPE) or shows EOF.
                    guard (try? client.write([byte])) != nil else { return index }
                    if client.isClosedNow() { return index }
                    Thread.sleep(forTimeInterval: 0.25)
                }
                return head.count
            }
            // 1 s idle timeout; ~4 bytes a second: cut off within ~60 bytes even on a busy machine, never the whole head.
            #expect(sent < 200, "the door kept a trickling head open for \(sent) bytes")
        }
    }

    /// Slowloris on the body: a body that trickles in is answered 408 after the body timeout.
    @Test func aTricklingBodyIsAnswered408AndTheConnectionClosed() async throws {
        try await withCallbackIngest(sink: RecordingSink(), configure: { $0.callbacks.limits.bodyTimeoutMs = 1000 }) {
            doors in
            let port = doors.port
            let response = try await onThread { () throws -> TestHTTPResponse in
                let client = try TestHTTPClient(port: port)
                try client.send(
                    "POST",
                    callbackPath,
                    contentType: "application/json",
                    headers: ["Content-Length: 1000"]
                )
                let trickle = Thread {
                    for _ in 0..<60 {
                        guard (try? client.write([UInt8(ascii: " ")])) != nil else { return }
                        Thread.sleep(forTimeInterval: 0.2)
                    }
                }
                trickle.start()
                return try client.readResponse()
            }
            #expect(response.status == 408)
        }
    }

    /// A refused request whose (small) body trickles in: answered at once, and the drain of its body
    /// is cut off at the body deadline instead of holding the connection.
    @Test func aTricklingRefusedBodyIsNotDrainedForEver() async throws {
        try await withCallbackIngest(sink: RecordingSink(), configure: { $0.callbacks.limits.bodyTimeoutMs = 1000 }) {
            doors in
            let port = doors.port
            let (status, sent) = try await onThread { () throws -> (Int, Int) in
                let client = try TestHTTPClient(port: port)
                try client.send(
                    "POST",
                    "/v1/callbacks/status?token=wrong-token-000000000",
                    contentType: "application/json",
                    headers: ["Content-Length: 1000"]
                )
                let status = try client.readResponse().status
                for index in 0..<1000 {
                    guard (try? client.write([UInt8(ascii: " ")])) != nil else { return (status, index) }
                    if client.isClosedNow() { return (status, index) }
                    Thread.sleep(forTimeInterval: 0.1)
                }
                return (status, 1000)
            }
            #expect(status == 403)
            // 1 s body timeout + 2 s grace ≈ 30 bytes at 10 a second; a generous bound for a busy machine.
            #expect(sent < 300, "the door drained a trickling refused body for \(sent) bytes")
            #expect(doors.door.connections.cutAtDeadlineCount == 1, "the cut is counted for /metrics")
        }
    }

    /// A body far over the limit is refused from its Content-Length and never read.
    @Test func anOversizedBodyIs413AndNotRead() async throws {
        let sink = RecordingSink()
        try await withCallbackIngest(sink: sink) { doors in
            let port = doors.port
            let (status, closed) = try await onThread { () throws -> (Int, Bool) in
                let client = try TestHTTPClient(port: port)
                try client.send(
                    "POST",
                    callbackPath,
                    contentType: "application/json",
                    headers: ["Content-Length: 2000000000"]
                )
                try client.write(Array(repeating: UInt8(ascii: "["), count: 64 << 10))
                let response = try client.readResponse()
                return (response.status, client.waitForEOF(timeoutSeconds: 20))
            }
            #expect(status == 413)
            #expect(closed, "the connection is closed instead of draining 2 GB")
            #expect(sink.stored.isEmpty && sink.quarantined.isEmpty)
        }
    }

    /// 100,000 nested arrays: 400 and quarantined, never a crash (a recursive parser would overflow its stack).
    @Test func aDeeplyNestedBodyIs400NotACrash() async throws {
        let sink = RecordingSink()
        try await withCallbackIngest(sink: sink, configure: { $0.callbacks.maxBodyBytes = 1 << 20 }) { doors in
            let depth = 100_000
            for opening in ["[", "{\"CallSid\":"] {
                let body = Array(
                    (opening + String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
                        + (opening == "[" ? "]" : "}")).utf8
                )
                let response = try await TestHTTPClient.request(
                    port: doors.port,
                    "POST",
                    callbackPath,
                    contentType: "application/json",
                    body: body
                )
                #expect(response.status == 400)
                #expect(response.body.contains("nests"))
            }
            #expect(sink.quarantined.count == 2)
            let (contentType, good) = StatusCallback(callSid: "CAafternesting").encoded(as: .json)
            #expect(
                try await TestHTTPClient.request(
                    port: doors.port,
                    "POST",
                    callbackPath,
                    contentType: contentType,
                    body: good
                ).status == 200
            )
        }
    }

    /// With `callbacks.tls`, the platform door speaks https with the configured certificate.
    @Test func thePlatformDoorTerminatesTLS() async throws {
        let directory = makeTemporaryDirectory("exorec-tls")
        let certificate = "\(directory)/cert.pem"
        let key = "\(directory)/key.pem"
        let openssl = try await ChildProcess(
            executable: "/usr/bin/openssl",
            arguments: [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate, "-days", "1",
                "-subj", "/CN=localhost",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ],
            standardOutput: .nullDevice,
            standardError: .nullDevice
        ).waitForExit()
        try #require(openssl == 0)
        let sink = RecordingSink()
        try await withCallbackIngest(
            sink: sink,
            configure: { $0.callbacks.tls = DoorTLS(certificatePath: certificate, keyPath: key) }
        ) { doors in
            let output = try await curl([
                "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", certificate, "-H",
                "Content-Type: application/json",
                "--data", #"{"CallSid":"CAtls01","Status":"completed"}"#,
                "https://127.0.0.1:\(doors.port)\(callbackPath)",
            ])
            #expect(output == "200")
            #expect(sink.stored.first?.callback.callSid == "CAtls01")
            // Plain http on the TLS door is not answered as a callback.
            let plain = try? await TestHTTPClient.request(
                port: doors.port,
                "POST",
                callbackPath,
                contentType: "application/json",
                body: Array("{}".utf8)
            )
            #expect(plain?.status != 200)
        }
    }

    /// `callbacks.max_connections`: connections beyond the cap are not served until one closes, so a
    /// flood of idle sockets costs the door a bounded number of descriptors.
    @Test func connectionsBeyondTheCapWaitUntilOneCloses() async throws {
        try await withCallbackIngest(
            sink: RecordingSink(),
            configure: {
                $0.callbacks.limits.maxConnections = 2
                $0.callbacks.limits.idleTimeoutMs = 60_000
            }
        ) { doors in
            let port = doors.port
            let (early, late) = try await onThread { () throws -> (Int?, Int) in
                let first = try TestHTTPClient(port: port)
                let second = try TestHTTPClient(port: port)
                // Both are served, so both are accepted.
                _ = try first.request("GET", "/healthz")
                _ = try second.request("GET", "/healthz")
                let third = try TestHTTPClient(port: port)
                try third.send("GET", "/healthz")
                // Not served while two connections are open (a busy machine only makes this wait longer).
                let early = (try? third.readResponse(timeoutSeconds: 1))?.status
                first.close()
                let late = try third.readResponse().status
                second.close()
                return (early, late)
            }
            #expect(early == nil, "a third connection was served beyond the cap of 2")
            #expect(late == 200)
        }
    }

    /// Control characters in a request's path (raw: ESC, DEL; or percent-encoded line breaks) never reach
    /// the log as such: the HTTP parser refuses the raw ones (400), and what the door logs of a path is
    /// escaped (`loggable`).
    @Test func controlCharactersInAPathNeverReachTheLog() async throws {
        let logs = CapturedLogs()
        try await withCallbackIngest(sink: RecordingSink(), logger: logs.logger) { doors in
            let port = doors.port
            let statuses = try await onThread { () throws -> [Int] in
                var statuses: [Int] = []
                for path in ["/v1/x\u{1B}[31mred\u{7F}", "/v1/x%0A2026-12-04T00:00:00Z%20critical%20forged%0D"] {
                    let client = try TestHTTPClient(port: port)
                    try client.write(Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
                    statuses.append(try client.readResponse().status)
                }
                return statuses
            }
            #expect(statuses.allSatisfy { $0 == 400 || $0 == 404 }, "\(statuses)")
        }
        for record in logs.all {
            #expect(!record.line.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(record.line)")
        }
    }

    /// `callbacks.max_connections_per_source`: one source beyond its share is closed at once, and gets
    /// its place back when one of its connections closes.
    @Test func oneSourceCannotTakeEveryPlace() async throws {
        try await withCallbackIngest(
            sink: RecordingSink(),
            configure: {
                $0.callbacks.limits.maxConnectionsPerSource = 2
                $0.callbacks.limits.idleTimeoutMs = 60_000
            }
        ) { doors in
            let port = doors.port
            let (refused, afterwards) = try await onThread { () throws -> (Bool, Int) in
                let first = try TestHTTPClient(port: port)
                let second = try TestHTTPClient(port: port)
                _ = try first.request("GET", "/healthz")
                _ = try second.request("GET", "/healthz")
                let third = try TestHTTPClient(port: port)
                let refused = third.waitForEOF(timeoutSeconds: 20)
                first.close()
                // The place comes back once the door has seen the close.
                var status = 0
                for _ in 0..<100 {
                    let next = try TestHTTPClient(port: port)
                    if let response = try? next.request("GET", "/healthz") {
                        status = response.status
                        break
                    }
                    Thread.sleep(forTimeInterval: 0.1)
                }
                second.close()
                return (refused, status)
            }
            #expect(refused, "a third connection from one source was kept beyond the limit of 2")
            #expect(afterwards == 200)
            #expect(doors.door.connections.refusedPerSourceCount >= 1, "the refusal is counted for /metrics")
            #expect(
                doors.door.connections.prometheusText(header: true).contains(
                    #"exorec_door_closed_connections_total{door="platform",reason="per-source"}"#
                )
            )
        }
    }

    /// A TLS key that cannot be read is a configuration error naming the key, not a crash.
    @Test func anUnreadableTLSKeyNamesTheKey() throws {
        var configuration = PlatformDoorConfiguration()
        configuration.port = 0
        configuration.tls = DoorTLS(certificatePath: "/nonexistent/cert.pem", keyPath: "/nonexistent/key.pem")
        #expect(throws: IngestError.self) {
            _ = try PlatformDoor(configuration: configuration, sink: nil, logger: .init(label: "t"))
        }
        do {
            _ = try PlatformDoor(configuration: configuration, sink: nil, logger: .init(label: "t"))
            Issue.record("an unreadable certificate was accepted")
        } catch {
            #expect(error.description.contains("callbacks.tls.certificate"))
        }
    }
}
