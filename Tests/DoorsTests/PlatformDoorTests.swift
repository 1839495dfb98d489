import Doors
import ExorecTesting
import ExotelKit
import Foundation
import Ingest
import Logging
import MediaStore
import Synchronization
import Testing

/// `POST /v1/callbacks/status` over real sockets: every outcome of docs/INGEST.md's table.
@Suite(.timeLimit(.minutes(1))) struct StatusCallbackEndpointTests {
    static func terminal(_ callSid: String = "80bfbec2d78bbbf10fb851f4fa165211") -> StatusCallback {
        var callback = StatusCallback(callSid: callSid)
        callback.eventType = "terminal"
        callback.status = "completed"
        callback.dateUpdated = "2024-01-15 14:30:45"
        callback.conversationDuration = 320
        callback.recordingURL = "https://recordings.example/abc123.mp3"
        callback.legs = [
            .init(onCallDuration: 335, status: "completed", answeredBy: "NA"),
            .init(onCallDuration: 320, status: "busy", answeredBy: "Human"),
        ]
        return callback
    }

    /// The same callback in each of the three encodings the endpoint takes. The form ones carry
    /// `Legs` flattened (`Legs[1][Status]=busy`).
    static func encoded(_ callback: StatusCallback, as kind: String) -> (contentType: String, body: [UInt8]) {
        switch kind {
        case "json": return callback.encoded(as: .json)
        case "multipart": return callback.encoded(as: .multipart)
        default:
            let (_, multipart) = callback.encoded(as: .multipart)
            let fields = try! MultipartForm.decode(
                multipart,
                contentType: MultipartForm.contentType(boundary: StatusCallback.defaultBoundary)
            )
            return (URLEncodedForm.contentType, Array(URLEncodedForm.encode(fields).utf8))
        }
    }

    /// The platform door's counters, as the internal door's `/metrics` serves them.
    static func metrics(_ doors: CallbackDoors) async throws -> String {
        doors.door.counters.prometheusText()
    }

    // MARK: - Stored

    @Test(arguments: ["json", "multipart", "urlencoded"])
    func eachContentTypeIsStoredAndAnswered200(kind: String) async throws {
        let sink = RecordingSink()
        try await withCallbackIngest(sink: sink) { ingest in
            let callback = Self.terminal()
            let (contentType, body) = Self.encoded(callback, as: kind)
            if kind == "urlencoded" {
                #expect(String(decoding: body, as: UTF8.self).contains("Legs%5B1%5D%5BStatus%5D=busy"))
            }
            let response = try await TestHTTPClient.request(
                port: ingest.port,
                "POST",
                callbackPath,
                contentType: contentType,
                body: body
            )
            #expect(response.status == 200)
            #expect(response.headers["content-type"] == "application/json")
            #expect(response.body == #"{"status":"stored","call_sid":"80bfbec2d78bbbf10fb851f4fa165211"}"# + "\n")

            let stored = try #require(sink.stored.first)
            #expect(sink.stored.count == 1)
            #expect(stored.callback == callback)
            #expect(stored.callback.legs[1].status == "busy")
            #expect(stored.body == body)
            #expect(stored.contentType == contentType)
            #expect(stored.remoteAddress == "127.0.0.1")
            #expect(abs(stored.receivedAt.millisecondsSinceEpoch - Timestamp.now().millisecondsSinceEpoch) < 10_000)
            #expect(sink.quarantined.isEmpty)

            let metrics = try await Self.metrics(ingest)
            #expect(metrics.contains("exorec_ingest_callbacks_received_total 1\n"))
            #expect(metrics.contains(#"exorec_ingest_callbacks_stored_total{outcome="stored"} 1"# + "\n"))
        }
    }

    @Test func curlMultipartWithFlattenedLegsIsStored() async throws {
        let sink = RecordingSink()
        try await withCallbackIngest(sink: sink) { ingest in
            let output = try await curl([
                "-o", "/dev/null", "-w", "%{http_code}", "-F", "CallSid=CAcurl01", "-F", "EventType=answered", "-F",
                "Status=in-progress",
                "-F", "Legs[0][Status]=in-progress", "-F", "Legs[1][Status]=",
                "http://127.0.0.1:\(ingest.port)\(callbackPath)",
            ])
            #expect(output == "200")
            let stored = try #require(sink.stored.first)
            #expect(stored.callback.callSid == "CAcurl01")
            #expect(stored.callback.legs == [.init(status: "in-progress"), .init()])
            #expect(stored.contentType.hasPrefix("multipart/form-data; boundary="))
        }
    }

    @Test func aTrailingSlashIsTheSameEndpoint() async throws {
        let sink = RecordingSink()
        try await withCallbackIngest(sink: sink) { ingest in
            let (contentType, body) = Self.encoded(Self.terminal(), as: "json")
            let response = try await TestHTTPClient.request(
                port: ingest.port,
                "POST",
                "/v1/callbacks/status/?token=\(testCallbackToken)",
                contentType: contentType,
                body: body
            )
            #expect(response.status == 200)
            #expect(sink.stored.count == 1)
        }
    }

    @Test func duplicatesAreBothAnswered200AndBothHandedToTheSink() async throws {
        let sink = RecordingSink()
        try await withCallbackIngest(sink: sink) { ingest in
            let (contentType, body) = Self.encoded(Self.terminal(), as: "multipart")
            let port = ingest.port
            let statuses = try await onThread {
                let client = try TestHTTPClient(port: port)  // one keep-alive connection, as a retrying client would
                return try (0..<2).map { _ in
                    try client.request("POST", callbackPath, contentType: contentType, body: body).status
                }
            }
            #expect(statuses == [200, 200])
            #expect(sink.stored.count == 2)
            #expect(sink.stored.map(\.body) == [body, body])
        }
    }

    @Test func aCallbackForAnUnknownCallSidIsKeptAndFlagged() async throws {
        let sink = RecordingSink(unknownCallSids: ["CAnobodyknows"])
        try await withCallbackIngest(sink: sink) { ingest in
            let (contentType, body) = Self.encoded(Self.terminal("CAnobodyknows"), as: "json")
            let response = try await TestHTTPClient.request(
                port: ingest.port,
                "POST",
                callbackPath,
                contentType: contentType,
                body: body
            )
            #expect(response.status == 200)
            #expect(response.body.contains(#""flag":"unknown-call""#))
            #expect(sink.stored.map(\.callback.callSid) == ["CAnobodyknows"])
            #expect(
                try await Self.metrics(ingest).contains(
                    #"exorec_ingest_callbacks_stored_total{outcome="unknown-call"} 1"#
                )
            )
        }
    }

    // MARK: - Refused before the body

    @Test func aMissingOrWrongTokenIsRefusedAndLoggedWithoutTheToken() async throws {
        let sink = RecordingSink()
        let logs = CapturedLogs()
        try await withCallbackIngest(sink: sink, logger: logs.logger) { ingest in
            let (contentType, body) = Self.encoded(Self.terminal(), as: "json")
            let missing = try await TestHTTPClient.request(
                port: ingest.port,
                "POST",
                "/v1/callbacks/status",
                contentType: contentType,
                body: body
            )
            #expect(missing.status == 401)
            #expect(missing.body.contains("missing token"))
            let wrong = try await TestHTTPClient.request(
                port: ingest.port,
                "POST",
                "/v1/callbacks/status?token=guessed-token-0000000000",
                contentType: contentType,
                body: body
            )
            #expect(wrong.status == 403)
            #expect(wrong.body.contains("wrong token"))
            let almost = try await TestHTTPClient.request(
                port: ingest.port,
                "POST",
                "/v1/callbacks/status?token=\(testCallbackToken.dropLast())",
                contentType: contentType,
                body: body
            )
            #expect(almost.status == 403)
            #expect(sink.stored.isEmpty && sink.quarantined.isEmpty)

            let metrics = try await Self.metrics(ingest)
            #expect(metrics.contains(#"exorec_ingest_callbacks_rejected_total{reason="token-missing"} 1"#))
            #expect(metrics.contains(#"exorec_ingest_callbacks_rejected_total{reason="token-wrong"} 2"#))
        }
        let refusals = logs.all.filter { $0.message == "refused status callback" }
        #expect(refusals.map(\.metadata["reason"]) == ["token-missing", "token-wrong"], "once per reason within 10 s")
        #expect(refusals.allSatisfy { $0.level == .warning && $0.metadata["remote"] == "127.0.0.1" })
        for record in logs.all {
            #expect(!record.line.contains("guessed-token"), "\(record.line)")
            #expect(!record.line.contains(String(testCallbackToken.dropLast())), "\(record.line)")
        }
    }

    @Test func aSourceOutsideTheAllowlistIsRefused() async throws {
        let sink = RecordingSink()
        try await withCallbackIngest(
            sink: sink,
            configure: { $0.callbacks.allowedSources = ["10.0.0.0/8", "2001:db8::/32"] }
        ) { ingest in
            let (contentType, body) = Self.encoded(Self.terminal(), as: "json")
            let response = try await TestHTTPClient.request(
                port: ingest.port,
                "POST",
                callbackPath,
                contentType: contentType,
                body: body
            )
            #expect(response.status == 403)
            #expect(response.body.contains("127.0.0.1 is not allowed"))
            #expect(sink.stored.isEmpty)
            #expect(
                try await Self.metrics(ingest).contains(#"exorec_ingest_callbacks_rejected_total{reason="source"} 1"#)
            )
        }
        try await withCallbackIngest(
            sink: sink,
            configure: { $0.callbacks.allowedSources = ["10.0.0.0/8", "127.0.0.0/8"] }
        ) { ingest in
            let (contentType, body) = Self.encoded(Self.terminal(), as: "json")
            let response = try await TestHTTPClient.request(
                port: ingest.port,
                "POST",
                callbackPath,
                contentType: contentType,
                body: body
            )
            #expect(response.status == 200)
            #expect(sink.stored.count == 1)
        }
    }

    @Test(arguments: ["GET", "PUT", "DELETE"])
    func onlyPostIsAllowed(method: String) async throws {
        let sink = RecordingSink()
        try await withCallbackIngest(sink: sink) { ingest in
            let (contentType, body) = Self.encoded(Self.terminal(), as: "json")
            let response = try await TestHTTPClient.request(
                port: ingest.port,
                method,
                callbackPath,
                contentType: method == "PUT" ? contentType : nil,
                body: method == "PUT" ? body : []
            )
            #expect(response.status == 405)
            #expect(response.headers["allow"] == "POST")
            #expect(response.body.contains("use POST"))
            #expect(sink.stored.isEmpty)
        }
    }

    @Test(arguments: ["text/plain", "application/xml", nil] as [String?])
    func otherContentTypesAreRefused(contentType: String?) async throws {
        let sink = RecordingSink()
        try await withCallbackIngest(sink: sink) { ingest in
            let (_, body) = Self.encoded(Self.terminal(), as: "json")
            let response = try await TestHTTPClient.request(
                port: ingest.port,
                "POST",
                callbackPath,
                contentType: contentType,
                body: body
            )
            #expect(response.status == 415)
            #expect(response.body.contains("application/json, multipart/form-data, application/x-www-form-urlencoded"))
            #expect(sink.stored.isEmpty && sink.quarantined.isEmpty)
        }
    }

    @Test func aRefusedBodyIsDrainedAndTheConnectionStaysUsable() async throws {
        let sink = RecordingSink()
        try await withCallbackIngest(sink: sink) { ingest in
            let (contentType, body) = Self.encoded(Self.terminal(), as: "json")
            let port = ingest.port
            let statuses = try await onThread {
                let client = try TestHTTPClient(port: port)
                let first = try client.request(
                    "POST",
                    callbackPath,
                    contentType: "text/plain",
                    body: [UInt8](repeating: 65, count: 20_000)
                )
                let second = try client.request("POST", callbackPath, contentType: contentType, body: body)
                return [first.status, second.status]
            }
            #expect(statuses == [415, 200])
            #expect(sink.stored.count == 1)
        }
    }

    @Test func aBodyOverTheLimitIsRefusedAndOneAtTheLimitIsTaken() async throws {
        let sink = RecordingSink()
        try await withCallbackIngest(sink: sink) { ingest in
            // A valid JSON callback padded to exactly the default limit (64 KiB).
            @Sendable func padded(to size: Int) -> [UInt8] {
                let head = Array(#"{"CallSid":"CAbig","CustomField":""#.utf8)
                let tail = Array(#""}"#.utf8)
                return head + [UInt8](repeating: UInt8(ascii: "x"), count: size - head.count - tail.count) + tail
            }
            let atLimit = try await TestHTTPClient.request(
                port: ingest.port,
                "POST",
                callbackPath,
                contentType: "application/json",
                body: padded(to: 65536)
            )
            #expect(atLimit.status == 200)
            #expect(sink.stored.first?.body.count == 65536)

            // One byte over: refused from the head, the body is read and dropped, and the
            // connection carries the next request.
            let port = ingest.port
            let (over, next) = try await onThread {
                let client = try TestHTTPClient(port: port)
                let over = try client.request(
                    "POST",
                    callbackPath,
                    contentType: "application/json",
                    body: padded(to: 65537)
                )
                let next = try client.request(
                    "POST",
                    callbackPath,
                    contentType: "application/json",
                    body: Array(#"{"CallSid":"CAnext"}"#.utf8)
                )
                return (over, next.status)
            }
            #expect(over.status == 413)
            #expect(over.body.contains("65537 bytes is larger than the limit of 65536 bytes"))
            #expect(next == 200)
            #expect(sink.stored.map(\.callback.callSid) == ["CAbig", "CAnext"])

            // A huge declared body is not read at all: 413 at once, then the connection closes.
            let (huge, closed, elapsed) = try await onThread {
                let client = try TestHTTPClient(port: port)
                try client.send(
                    "POST",
                    callbackPath,
                    contentType: "application/json",
                    headers: ["Content-Length: 50000000"]
                )
                try client.write([UInt8](repeating: UInt8(ascii: "x"), count: 1000))
                let response = try client.readResponse()
                let answered = ContinuousClock.now
                return (response, client.waitForEOF(), ContinuousClock.now - answered)
            }
            #expect(huge.status == 413)
            #expect(huge.headers["connection"] == "close")
            #expect(closed)
            #expect(elapsed < .seconds(4), "closed after the answer, not after an idle timeout")
            #expect(sink.stored.count == 2)
            #expect(
                try await Self.metrics(ingest).contains(
                    #"exorec_ingest_callbacks_rejected_total{reason="too-large"} 2"#
                )
            )
        }
    }

    @Test func theBodyLimitIsConfigurable() async throws {
        let sink = RecordingSink()
        try await withCallbackIngest(sink: sink, configure: { $0.callbacks.maxBodyBytes = 2048 }) { ingest in
            var callback = Self.terminal()
            callback.customField = String(repeating: "y", count: 3000)
            let (contentType, body) = Self.encoded(callback, as: "json")
            let response = try await TestHTTPClient.request(
                port: ingest.port,
                "POST",
                callbackPath,
                contentType: contentType,
                body: body
            )
            #expect(response.status == 413)
            #expect(response.body.contains("limit of 2048 bytes"))
            #expect(sink.stored.isEmpty)
        }
    }

    @Test func aChunkedBodyIsRefusedWithLengthRequired() async throws {
        let sink = RecordingSink()
        try await withCallbackIngest(sink: sink) { ingest in
            let port = ingest.port
            let response = try await onThread {
                let client = try TestHTTPClient(port: port)
                try client.send(
                    "POST",
                    callbackPath,
                    contentType: "application/json",
                    headers: ["Transfer-Encoding: chunked"]
                )
                try client.write(Array("11\r\n{\"CallSid\":\"CA1\"}\r\n0\r\n\r\n".utf8))
                return try client.readResponse()
            }
            #expect(response.status == 411)
            #expect(response.body.contains("Content-Length is required"))
            #expect(sink.stored.isEmpty)
        }
    }

    // MARK: - Refused after the body

    @Test(arguments: [
        ("application/json", #"{"CallSid": "CA1", "Status": "#, "not a JSON object", "malformed"),
        ("application/json", #"["CallSid", "CA1"]"#, "not a JSON object", "malformed"),
        ("application/json", #"{"Status": "completed"}"#, "has no CallSid", "malformed"),
        ("multipart/form-data", "CallSid=CA1", "form is malformed", "malformed"),
        (
            "multipart/form-data; boundary=abc", "--abc\r\nContent-Disposition: form-data; name=\"CallSid\"\r\n\r\nCA1",
            "form is malformed", "malformed"
        ),
        ("application/x-www-form-urlencoded", "CallSid=CA1&Status=%zz", "form is malformed", "malformed"),
        (
            "application/x-www-form-urlencoded", "Status=completed&Legs%5B0%5D%5BStatus%5D=busy", "has no CallSid",
            "malformed"
        ),
        ("application/x-www-form-urlencoded", "CallSid=..%2F..%2Fetc", "is not 1-128 characters", "invalid-callsid"),
        ("application/json", "", "not a JSON object", "malformed"),
    ])
    func anUnreadableBodyIsAnswered400AndQuarantined(
        contentType: String,
        body: String,
        reason: String,
        kind: String
    ) async throws {
        let sink = RecordingSink()
        let logs = CapturedLogs()
        try await withCallbackIngest(sink: sink, logger: logs.logger) { ingest in
            let response = try await TestHTTPClient.request(
                port: ingest.port,
                "POST",
                callbackPath,
                contentType: contentType,
                body: Array(body.utf8)
            )
            #expect(response.status == 400)
            #expect(response.body.contains(reason), "\(response.body)")
            #expect(sink.stored.isEmpty)
            let kept = try #require(sink.quarantined.first)
            #expect(sink.quarantined.count == 1)
            #expect(kept.body == Array(body.utf8))
            #expect(kept.contentType == contentType)
            #expect(kept.remoteAddress == "127.0.0.1")
            #expect(kept.reason.contains(reason))
            let metrics = try await Self.metrics(ingest)
            #expect(metrics.contains("exorec_ingest_callbacks_quarantined_total 1\n"))
            #expect(metrics.contains(#"exorec_ingest_callbacks_rejected_total{reason="\#(kind)"} 1"#))
        }
        let logged = logs.all.filter { $0.message.hasPrefix("refused status callback body") }
        #expect(logged.count == 1)
        #expect(logged.first?.level == .warning)
        #expect(logged.first?.metadata["detail"]?.contains(reason) == true)
    }

    @Test func aSinkThatFailsGets503SoThePlatformRetries() async throws {
        let sink = RecordingSink(failing: true)
        let logs = CapturedLogs()
        try await withCallbackIngest(sink: sink, logger: logs.logger) { ingest in
            let (contentType, body) = Self.encoded(Self.terminal(), as: "json")
            let response = try await TestHTTPClient.request(
                port: ingest.port,
                "POST",
                callbackPath,
                contentType: contentType,
                body: body
            )
            #expect(response.status == 503)
            #expect(response.body.contains("could not be stored"))
            #expect(
                try await Self.metrics(ingest).contains(
                    #"exorec_ingest_callbacks_rejected_total{reason="store-failed"} 1"#
                )
            )
        }
        let errors = logs.all.filter { $0.level == .error }
        #expect(errors.count == 1)
        #expect(errors.first?.metadata["call_sid"] == "80bfbec2d78bbbf10fb851f4fa165211")
        #expect(errors.first?.metadata["error"]?.contains("refuses every callback") == true)
    }

    @Test func aSinkThatHangsGets503AfterTheStoreTimeout() async throws {
        let sink = RecordingSink(gated: true)
        try await withCallbackIngest(sink: sink, configure: { $0.callbacks.storeTimeoutMs = 300 }) { ingest in
            defer { sink.open() }  // on every path, so a failure cannot leave the server waiting
            let (contentType, body) = Self.encoded(Self.terminal(), as: "json")
            let started = ContinuousClock.now
            let response = try await TestHTTPClient.request(
                port: ingest.port,
                "POST",
                callbackPath,
                contentType: contentType,
                body: body
            )
            #expect(response.status == 503)
            #expect(response.body.contains("in time"))
            #expect(ContinuousClock.now - started >= .milliseconds(300))
            #expect(
                try await Self.metrics(ingest).contains(
                    #"exorec_ingest_callbacks_rejected_total{reason="store-timeout"} 1"#
                )
            )
            sink.open()
        }
        // The server waited for the late store before it stopped: nothing was lost.
        #expect(sink.stored.count == 1)
    }

    @Test func withoutATokenTheEndpointIsOffAndStartUpSaysSo() async throws {
        let logs = CapturedLogs()
        try await withCallbackIngest(sink: RecordingSink(), logger: logs.logger, token: nil) { ingest in
            let response = try await TestHTTPClient.request(
                port: ingest.port,
                "POST",
                callbackPath,
                contentType: "application/json",
                body: Array(#"{"CallSid":"CA1"}"#.utf8)
            )
            #expect(response.status == 404)
            #expect(response.body.contains("not enabled"))
            #expect(
                try await Self.metrics(ingest).contains(#"exorec_ingest_callbacks_rejected_total{reason="disabled"} 1"#)
            )
        }
        let off = logs.all.filter { $0.message.hasPrefix("status callbacks are off") }
        #expect(off.count == 1)
        #expect(off.first?.metadata["reason"]?.contains("no callbacks.token") == true)
        #expect(logs.all.first { $0.message == "platform door listening" }?.metadata["status_callbacks"] == "off")

        // A token but nothing to store into: off as well, with a warning.
        let logs2 = CapturedLogs()
        try await withCallbackIngest(sink: nil, logger: logs2.logger) { ingest in
            let response = try await TestHTTPClient.request(
                port: ingest.port,
                "POST",
                callbackPath,
                contentType: "application/json",
                body: Array(#"{"CallSid":"CA1"}"#.utf8)
            )
            #expect(response.status == 404)
        }
        #expect(logs2.all.contains { $0.message.hasPrefix("status callbacks are off") && $0.level == .warning })
    }

    // MARK: - Concurrency and the service thread

    @Test func aSlowSinkDoesNotHoldUpAStreamOnAnotherConnection() async throws {
        let sink = RecordingSink(gated: true)
        try await withCallbackIngest(sink: sink) { ingest in
            defer { sink.open() }  // on every path, so a failure cannot leave the server waiting
            let port = ingest.port
            let streamPort = ingest.streamPort
            let (contentType, body) = Self.encoded(Self.terminal(), as: "json")
            let answered = Mutex(false)
            let pending = Task {
                let response = try await TestHTTPClient.request(
                    port: port,
                    "POST",
                    callbackPath,
                    contentType: contentType,
                    body: body
                )
                answered.withLock { $0 = true }
                return response
            }
            try await sink.waitForEntered(1)

            // While the callback's store is held, a whole stream comes and goes.
            let script = StreamScript(streamSid: "whilewaiting", seed: 21)
            let close = try await onThread {
                let client = try TestWebSocketClient(port: streamPort)
                try client.sendText(script.start())
                for i in 0..<10 { try client.sendText(script.media(frame: i)) }
                try client.sendText(script.stop())
                return try client.awaitClose()?.code
            }
            #expect(close == 1000)
            let sidecar = try #require(try await ingest.waitForFinished(1).first)
            #expect(sidecar.frames == 8000)
            let answeredYet = answered.withLock { $0 }
            #expect(!answeredYet, "the callback is still waiting for its store")

            sink.open()
            let response = try await pending.value
            #expect(response.status == 200)
            #expect(sink.stored.count == 1)
        }
    }

    @Test func aClientThatLeavesBeforeTheStoreFinishesDoesNotHarmTheServer() async throws {
        let sink = RecordingSink(gated: true)
        let logs = CapturedLogs()
        try await withCallbackIngest(sink: sink, logger: logs.logger) { ingest in
            defer { sink.open() }  // on every path, so a failure cannot leave the server waiting
            let port = ingest.port
            let clients = 5
            for i in 0..<clients {
                let (contentType, body) = Self.encoded(Self.terminal("CAleaver\(i)"), as: "json")
                try await onThread {
                    let client = try TestHTTPClient(port: port)
                    try client.send("POST", callbackPath, contentType: contentType, body: body)
                    // Leave without reading the answer: half of them politely (FIN), half not (RST).
                    if i % 2 == 0 { client.close() } else { client.abort() }
                }
            }
            try await sink.waitForEntered(clients)
            // Time for the server to see the connections close (loopback delivers at once; a busy
            // machine may take a while to run the server's loop).
            try await Task.sleep(for: .seconds(1))
            sink.open()
            let deadline = ContinuousClock.now + .seconds(30)
            while sink.stored.count < clients, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(sink.stored.count == clients, "every callback is stored although nobody heard the answer")

            // The answers found no connection and were dropped; the server serves on.
            let (contentType, body) = Self.encoded(Self.terminal("CAafter"), as: "json")
            let response = try await TestHTTPClient.request(
                port: port,
                "POST",
                callbackPath,
                contentType: contentType,
                body: body
            )
            #expect(response.status == 200)
            let health = try await TestHTTPClient.request(port: port, "GET", "/healthz")
            #expect(health.status == 200)
        }
        // The answers found their connections gone and were dropped quietly: nothing worse than a warning.
        // (The libwebsockets endpoint logged each drop; Hummingbird drops a write to a closed channel.)
        #expect(!logs.all.contains { $0.level >= .error }, "\(logs.all.filter { $0.level >= .error }.map(\.message))")
    }

    @Test func manyConcurrentCallbacksAreAllAnswered() async throws {
        let sink = RecordingSink()
        try await withCallbackIngest(sink: sink) { ingest in
            let port = ingest.port
            let connections = 10
            let perConnection = 20
            let statuses = try await withThrowingTaskGroup(of: [Int].self) { group in
                for c in 0..<connections {
                    group.addTask {
                        try await onThread {
                            let client = try TestHTTPClient(port: port)
                            defer { client.close() }
                            return try (0..<perConnection).map { i in
                                let kind = ["json", "multipart", "urlencoded"][(c + i) % 3]
                                let (contentType, body) = Self.encoded(Self.terminal("CA\(c)x\(i)"), as: kind)
                                return try client.request("POST", callbackPath, contentType: contentType, body: body)
                                    .status
                            }
                        }
                    }
                }
                var all: [Int] = []
                for try await batch in group { all += batch }
                return all
            }
            #expect(statuses.count == connections * perConnection)
            #expect(statuses.allSatisfy { $0 == 200 })
            #expect(Set(sink.stored.map(\.callback.callSid)).count == connections * perConnection)
            #expect(
                try await Self.metrics(ingest).contains(#"exorec_ingest_callbacks_stored_total{outcome="stored"} 200"#)
            )
        }
    }

    @Test func gracefulShutdownAnswersACallbackThatIsBeingStored() async throws {
        let sink = RecordingSink(gated: true)
        // A long grace: the stop still ends once the answer is out, and a busy machine cannot run it out.
        let response = try await withCallbackIngest(
            sink: sink,
            configure: { $0.server.shutdownGraceMilliseconds = 30_000 }
        ) { ingest in
            defer { sink.open() }  // on every path, so a failure cannot leave the server waiting
            let port = ingest.port
            let (contentType, body) = Self.encoded(Self.terminal(), as: "json")
            let pending = Task {
                try await TestHTTPClient.request(port: port, "POST", callbackPath, contentType: contentType, body: body)
            }
            try await sink.waitForEntered(1)
            ingest.server.stop()
            try await Task.sleep(for: .milliseconds(200))
            sink.open()
            return try await pending.value
        }
        #expect(response.status == 200)
        #expect(sink.stored.count == 1)
    }
}
