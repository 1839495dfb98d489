import AsyncHTTPClient
import Catalog
import Crypto
import Dispatch
import Doors
import ExorecTesting
import Foundation
import Ingest
import Logging
import MediaStore
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization
import Testing

@testable import Orchestrator

/// The consumer API of issue 5 against a running pipeline (ingest server, catalog, stream cataloguer) on
/// loopback: a stream sent at a steady pace while a consumer follows the events feed and tails the file.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct ConsumerAPITests {
    static let token = "consumer-token-0123456789"

    /// A consumer that learns of a stream from the feed, tails its file with Range requests while it grows,
    /// and, after `stream.finished`, reads the rest and the (rewritten) header again, ends with exactly the
    /// finished file's bytes.
    @Test func tailingAGrowingStreamEndsWithTheFinishedFile() async throws {
        try await ConsumerHarness.run { harness async throws in
            let script = StreamScript(streamSid: "STtail1", callSid: "CAtail1", accountSid: "acct1")
            let sending = harness.send(script, frames: 40, every: .milliseconds(50))

            let startedPage = try await harness.events("after=0&types=stream.started&wait=20")
            let started = try #require(startedPage.events.first)
            let mediaID = try #require(started["media_id"] as? String)
            let path = try #require(started["path"] as? String)
            #expect(started["call_sid"] as? String == "CAtail1")

            var copy: [UInt8] = []
            var readsWhileGrowing = 0
            var finished: [String: Any]?
            var position = startedPage.lastID
            while finished == nil {
                let part = try await harness.get("/v1/media/\(mediaID)", headers: ["Range": "bytes=\(copy.count)-"])
                if part.status == 206 {
                    #expect(part.headers["content-range"]?.hasPrefix("bytes \(copy.count)-") == true)
                    copy += part.body
                    if part.headers["x-exorec-media-state"] == "recording" { readsWhileGrowing += 1 }
                } else {
                    #expect(part.status == 416, "\(part.status): \(String(decoding: part.body, as: UTF8.self))")
                }
                let page = try await harness.events("after=\(position)&types=stream.finished&wait=0")
                position = page.lastID
                finished = page.events.first { $0["media_id"] as? String == mediaID }
                if finished == nil { try await Task.sleep(for: .milliseconds(60)) }
            }
            try await sending.value
            // The rest, then the header again: it was rewritten as the file grew and when it was closed.
            let rest = try await harness.get("/v1/media/\(mediaID)", headers: ["Range": "bytes=\(copy.count)-"])
            if rest.status == 206 { copy += rest.body } else { #expect(rest.status == 416) }
            let header = try await harness.get("/v1/media/\(mediaID)", headers: ["Range": "bytes=0-43"])
            #expect(header.status == 206)
            #expect(header.headers["x-exorec-media-state"] == "complete")
            copy.replaceSubrange(0..<44, with: header.body)

            let onDisk = try Array(Data(contentsOf: URL(fileURLWithPath: harness.storageRoot + "/" + path)))
            // At least one read found the file growing (on a starved machine the stream may outpace the reads).
            #expect(readsWhileGrowing >= 1, "the consumer should have read the file while it grew")
            #expect(copy.count == onDisk.count)
            #expect(copy == onDisk)
            #expect(ConsumerHarness.sha256(copy) == finished?["sha256"] as? String)
            // 40 frames of 100 ms at 8 kHz, 16-bit mono, after the 44-byte header.
            let expectedSize = 44 + 40 * 800 * 2
            #expect(onDisk.count == expectedSize)
        }
    }

    /// A consumer whose Server-Sent Events connection breaks mid-stream reconnects with `Last-Event-ID` and
    /// gets every event after it: together its two connections saw each event once, in order.
    @Test func reconnectingWithTheLastEventIDMissesNothing() async throws {
        try await ConsumerHarness.run { harness async throws in
            let script = StreamScript(streamSid: "STsse1", callSid: "CAsse1", accountSid: "acct1")
            let sending = harness.send(script, frames: 30, every: .milliseconds(50))

            // First connection: until the stream started and grew at least once, then it breaks.
            let follower = EventFeedFollower(server: harness.baseURL, token: Self.token, logger: harness.logger)
            let first = Mutex<[EventFeedFollower.Event]>([])
            let resumeAt = try await follower.follow(from: .after(0)) { event in
                let seen = first.withLock { seen in
                    seen.append(event)
                    return seen
                }
                return
                    !(seen.contains { $0.type == "stream.started" } && seen.contains { $0.type == "stream.progress" })
            }
            let firstEvents = first.withLock { $0 }
            #expect(resumeAt == firstEvents.last?.id)
            #expect(
                !firstEvents.contains { $0.type == "stream.finished" },
                "the break should come while the stream is still growing"
            )

            // Second connection, as EventSource reconnects: no `after`, only the Last-Event-ID header.
            let second = try await harness.serverSentEvents(lastEventID: try #require(resumeAt)) { events in
                events.contains { $0.type == "stream.finished" }
            }
            try await sending.value

            let seen = (firstEvents + second).map(\.id)
            let all = try await harness.catalog.events(after: 0).map(\.id)
            let upToFinish = Array(all.prefix { $0 <= seen.last! })
            #expect(seen == upToFinish)
            #expect(Set(seen).count == seen.count)
            #expect(second.first.map { $0.id > resumeAt! } ?? false)
        }
    }

    /// Every refusal has its status and reason; paths are never taken from the request.
    @Test func refusalsAndRanges() async throws {
        try await ConsumerHarness.run { harness async throws in
            let script = StreamScript(streamSid: "STrng1", callSid: "CArng1", accountSid: "acct1")
            try await harness.send(script, frames: 10, every: .zero).value
            let finishedPage = try await harness.events("after=0&types=stream.finished&wait=20")
            let finished = try #require(finishedPage.events.first)
            let mediaID = try #require(finished["media_id"] as? String)
            let sha256 = try #require(finished["sha256"] as? String)

            #expect(try await harness.get("/v1/events", token: .some(nil)).status == 401)
            #expect(try await harness.get("/v1/events", token: "wrong-token-0123456789").status == 403)
            #expect(try await harness.get("/v1/events?token=\(Self.token)&wait=0", token: .some(nil)).status == 200)
            #expect(try await harness.get("/v1/events", method: .POST).status == 405)
            let badAfter = try await harness.get("/v1/events?after=-1")
            #expect(badAfter.status == 400)
            #expect(String(decoding: badAfter.body, as: UTF8.self).contains("after '-1'"))
            #expect(try await harness.get("/v1/events?types=stream.exploded").status == 400)
            #expect(try await harness.get("/v1/events?wait=999").status == 400)
            #expect(try await harness.get("/v1/events?limit=0").status == 400)
            let traversal = try await harness.get("/v1/media/..%2F..%2Fcatalog.sqlite")
            // The internal door takes the id as it comes and refuses anything but A-Z a-z 0-9 - _ (400);
            // a path never comes from the request, so nothing outside the catalog can be reached.
            #expect(
                [400, 404].contains(traversal.status),
                "\(traversal.status): \(String(decoding: traversal.body, as: UTF8.self))"
            )
            #expect(!String(decoding: traversal.body, as: UTF8.self).contains("SQLite"))
            let badID = try await harness.get("/v1/media/not.an.id")
            #expect(badID.status == 400)
            #expect(String(decoding: badID.body, as: UTF8.self).contains("is not a media id"))
            #expect(try await harness.get("/v1/media/0123456789abcdef").status == 404)

            // The whole file, with its checksum as the ETag.
            let whole = try await harness.get("/v1/media/\(mediaID)")
            #expect(whole.status == 200)
            #expect(whole.headers["etag"] == "\"\(sha256)\"")
            #expect(whole.headers["accept-ranges"] == "bytes")
            #expect(whole.headers["content-type"] == "audio/wav")
            #expect(ConsumerHarness.sha256(whole.body) == sha256)
            // A range, a suffix, one past the end.
            let middle = try await harness.get("/v1/media/\(mediaID)", headers: ["Range": "bytes=44-99"])
            #expect(middle.status == 206)
            #expect(middle.body == Array(whole.body[44...99]))
            #expect(middle.headers["content-range"] == "bytes 44-99/\(whole.body.count)")
            let suffix = try await harness.get("/v1/media/\(mediaID)", headers: ["Range": "bytes=-10"])
            #expect(suffix.body == Array(whole.body.suffix(10)))
            let beyond = try await harness.get("/v1/media/\(mediaID)", headers: ["Range": "bytes=\(whole.body.count)-"])
            #expect(beyond.status == 416)
            #expect(beyond.headers["content-range"] == "bytes */\(whole.body.count)")
            // The long poll's page names where to continue.
            let page = try await harness.events("after=0&wait=0&limit=1")
            #expect(page.events.count == 1)
            #expect(page.lastID == page.events.first?["id"] as? Int64)
            let latest = try await harness.events("after=latest&wait=0")
            #expect(latest.events.isEmpty)
            let newest = try await harness.catalog.latestEventID()
            #expect(latest.lastID == newest)
            // A position past the newest event is refused, naming the newest; it is never echoed back as
            // where to continue (a client would skip every event up to it). Also as Last-Event-ID.
            let beyondFeed = try await harness.get("/v1/events?after=\(newest + 27)&wait=0")
            #expect(beyondFeed.status == 400)
            let text = String(decoding: beyondFeed.body, as: UTF8.self)
            #expect(text.contains("beyond the newest event, \(newest)"), "\(text)")
            #expect(!text.contains("last_id"))
            let resumed = try await harness.get(
                "/v1/events",
                headers: ["Accept": "text/event-stream", "Last-Event-ID": "\(newest + 1)"]
            )
            #expect(resumed.status == 400)
        }
    }

    /// A refusal is logged once per kind per 10 s, with its status and reason; the token never appears.
    @Test func refusalsAreLoggedOncePerKind() async throws {
        let (logger, records) = CapturedLogs.logger()
        try await ConsumerHarness.run(logger: logger) { harness async throws in
            for _ in 0..<3 {
                #expect(try await harness.get("/v1/events", token: "wrong-token-0123456789").status == 403)
            }
            #expect(try await harness.get("/v1/events?after=x").status == 400)
            let refusals = records.all.filter { $0.message == "refused a consumer request" }
            #expect(refusals.map { $0.metadata["status"] } == ["403", "400"])
            #expect(refusals.first?.metadata["reason"]?.contains("wrong token") == true)
            #expect(!records.all.contains { "\($0.message) \($0.metadata)".contains(ConsumerAPITests.token) })
        }
    }

    /// A long poll parked when the server stops is answered at once with an empty page at its position (not an
    /// error), and nothing is logged as an error.
    @Test func aLongPollEndsCleanlyWhenTheServerStops() async throws {
        let (logger, records) = CapturedLogs.logger()
        let poll = Mutex<Task<ConsumerHarness.Answer, any Error>?>(nil)
        let stoppedAt = Mutex<ContinuousClock.Instant?>(nil)
        try await ConsumerHarness.run(logger: logger) { harness async throws in
            poll.withLock { $0 = Task { try await harness.get("/v1/events?after=0&wait=30") } }
            let deadline = ContinuousClock.now + .seconds(20)
            while !records.all.contains(where: { $0.message == "answering a consumer request" }),
                ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(10))
            }
            try await Task.sleep(for: .milliseconds(100))  // from reading the request to waiting on the feed
            stoppedAt.withLock { $0 = .now }
        }
        let answer = try await #require(poll.withLock { $0 }).value
        #expect(answer.status == 200)
        #expect(String(decoding: answer.body, as: UTF8.self) == "{\"events\":[],\"last_id\":0}\n")
        #expect(
            ContinuousClock.now - (try #require(stoppedAt.withLock { $0 })) < .seconds(20),
            "not held for its 30 s wait"
        )
        #expect(
            !records.all.contains { $0.level >= .error },
            "\(records.all.filter { $0.level >= .error }.map(\.message))"
        )
    }

    /// An event stream open when the server stops is ended (the internal door does not wait for the
    /// client to leave), and the server stops promptly.
    @Test func anEventStreamEndsWhenTheServerStops() async throws {
        let (logger, records) = CapturedLogs.logger()
        let stream = Mutex<Task<[EventFeedFollower.Event], any Error>?>(nil)
        let stoppingAt = Mutex<ContinuousClock.Instant?>(nil)
        try await ConsumerHarness.run(logger: logger) { harness async throws in
            stream.withLock { $0 = Task { try await harness.serverSentEvents(lastEventID: 0) { _ in false } } }
            let deadline = ContinuousClock.now + .seconds(20)
            while !records.all.contains(where: { $0.message == "answering a consumer request" }),
                ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(10))
            }
            stoppingAt.withLock { $0 = .now }
        }
        let stopped = ContinuousClock.now - (try #require(stoppingAt.withLock { $0 }))
        #expect(stopped < .seconds(20), "the open event stream held the server for \(stopped)")
        let events = try await #require(stream.withLock { $0 }).value
        #expect(events.isEmpty)
    }

    /// Without api.token the endpoints do not exist.
    @Test func apiIsOffWithoutAToken() async throws {
        try await ConsumerHarness.run(token: nil) { harness async throws in
            #expect(try await harness.get("/v1/events").status == 404)
            #expect(try await harness.get("/v1/media/0123456789abcdef").status == 404)
        }
    }

    @Test func serverSentEventParserSplitsEvents() {
        var parser = ServerSentEventParser()
        var updates = parser.feed(
            Array(
                "id: 7\nretry: 2000\n\n: keep-alive\n\nid: 8\nevent: stream.started\ndata: {\"id\":8}\n\nid: 9\r\nevent: x\r\n"
                    .utf8
            )
        )
        updates += parser.feed(Array("data: {\"id\":9}\r\n\r\n".utf8))
        guard updates.count == 3 else {
            Issue.record("expected 3 updates, got \(updates.count)")
            return
        }
        if case .position(let id) = updates[0] { #expect(id == 7) } else { Issue.record("first should be a position") }
        if case .event(let event) = updates[1] {
            #expect(event == EventFeedFollower.Event(id: 8, type: "stream.started", json: "{\"id\":8}"))
        } else {
            Issue.record("second should be an event")
        }
        if case .event(let event) = updates[2] {
            #expect(event.id == 9 && event.json == "{\"id\":9}")
        } else {
            Issue.record("third should be an event")
        }
    }
}

/// A pipeline without a platform client (streams and the consumer API only), on a fresh storage root.
final class ConsumerHarness: Sendable {
    let storageRoot: String
    /// The internal door's port (events, media, metrics).
    let port: Int
    /// The stream door's port.
    let streamPort: Int
    let pipeline: ExorecPipeline
    let logger: Logger
    let token: String?

    var catalog: Catalog { self.pipeline.catalog }
    var baseURL: String { "http://127.0.0.1:\(self.port)" }

    private init(
        storageRoot: String,
        port: Int,
        streamPort: Int,
        pipeline: ExorecPipeline,
        logger: Logger,
        token: String?
    ) {
        self.storageRoot = storageRoot
        self.port = port
        self.streamPort = streamPort
        self.pipeline = pipeline
        self.logger = logger
        self.token = token
    }

    static func run(
        token: String? = ConsumerAPITests.token,
        logger: Logger = PipelineHarness.logger("consumer-api"),
        _ body: (ConsumerHarness) async throws -> Void
    ) async throws {
        let storageRoot = try PipelineHarness.temporaryDirectory("consumer-api")
        defer { PipelineHarness.removeTree(storageRoot) }
        var ingest = IngestConfiguration()
        ingest.server.host = "127.0.0.1"
        ingest.server.port = 0
        ingest.server.shutdownGraceMilliseconds = 500
        ingest.credentials = [BasicAuthenticator.Credential(username: "test", password: "test-secret")]
        var api = InternalDoorConfiguration()
        api.port = 0
        api.token = token
        api.heartbeatSeconds = 1
        var callbacks = PlatformDoorConfiguration()
        callbacks.port = 0
        // Progress (and a current header) every 100 ms, so that a two-second stream grows visibly.
        ingest.recorder.headerUpdateIntervalMs = 100
        ingest.storageRoot = storageRoot
        let port = Mutex<Int?>(nil)
        let streamPort = Mutex<Int?>(nil)
        let pipeline = try await ExorecPipeline.open(
            configuration: PipelineConfiguration(
                ingest: ingest,
                callbacks: callbacks,
                api: api,
                exorecVersion: "consumer-test"
            ),
            client: nil,
            logger: logger,
            onListening: { bound in streamPort.withLock { $0 = bound } },
            onInternalListening: { bound in port.withLock { $0 = bound } }
        )
        let group = ServiceGroup(configuration: .init(services: pipeline.serviceConfigurations, logger: logger))
        let running = Task { try await group.run() }
        let deadline = ContinuousClock.now + .seconds(20)
        while port.withLock({ $0 }) == nil || streamPort.withLock({ $0 }) == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        let result: Result<Void, any Error>
        if let bound = port.withLock({ $0 }), let stream = streamPort.withLock({ $0 }) {
            let harness = ConsumerHarness(
                storageRoot: storageRoot,
                port: bound,
                streamPort: stream,
                pipeline: pipeline,
                logger: logger,
                token: token
            )
            do { result = .success(try await body(harness)) } catch { result = .failure(error) }
        } else {
            result = .failure(HarnessFailure("the ingest server did not start listening"))
        }
        await group.triggerGracefulShutdown()
        _ = try? await running.value
        try? await pipeline.close()
        try result.get()
    }

    /// Sends a whole stream (start, `frames` media frames `every` apart, stop) from a thread of its own:
    /// the test client's socket calls block.
    func send(_ script: StreamScript, frames: Int, every interval: Duration) -> Task<Void, any Error> {
        let port = self.streamPort
        return Task {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                DispatchQueue.global().async {
                    do {
                        let client = try TestWebSocketClient(port: port)
                        try client.sendText(script.connected())
                        try client.sendText(script.start())
                        for frame in 0..<frames {
                            try client.sendText(script.media(frame: frame))
                            if interval > .zero {
                                Thread.sleep(
                                    forTimeInterval: Double(interval.components.seconds) + Double(
                                        interval.components.attoseconds
                                    ) / 1e18
                                )
                            }
                        }
                        try client.sendText(script.stop())
                        _ = try client.awaitClose(timeoutSeconds: 10)
                        client.close()
                        continuation.resume()
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
            }
        }
    }

    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
    }

    func get(
        _ pathAndQuery: String,
        method: HTTPMethod = .GET,
        token: String?? = .none,
        headers: [String: String] = [:]
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: self.baseURL + pathAndQuery)
        request.method = method
        if let token = token ?? self.token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60), logger: self.logger)
        let body = try await response.body.collect(upTo: 64 << 20)
        var names: [String: String] = [:]
        for header in response.headers { names[header.name.lowercased()] = header.value }
        return Answer(status: Int(response.status.code), headers: names, body: Array(body.readableBytesView))
    }

    /// One long-poll page: its events as JSON objects, and `last_id`.
    func events(_ query: String) async throws -> (events: [[String: Any]], lastID: Int64) {
        let answer = try await self.get("/v1/events?" + query)
        guard answer.status == 200,
            let object = try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any],
            let events = object["events"] as? [[String: Any]], let lastID = (object["last_id"] as? NSNumber)?.int64Value
        else {
            throw HarnessFailure("not an events page: \(answer.status) \(String(decoding: answer.body, as: UTF8.self))")
        }
        return (events, lastID)
    }

    /// A raw Server-Sent Events connection resuming with `Last-Event-ID`, read until `enough` says so.
    func serverSentEvents(
        lastEventID: Int64,
        until enough: ([EventFeedFollower.Event]) -> Bool
    ) async throws -> [EventFeedFollower.Event] {
        var request = HTTPClientRequest(url: self.baseURL + "/v1/events")
        request.headers.add(name: "Accept", value: "text/event-stream")
        request.headers.add(name: "Authorization", value: "Bearer \(self.token ?? "")")
        request.headers.add(name: "Last-Event-ID", value: String(lastEventID))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60), logger: self.logger)
        guard response.status == .ok,
            response.headers.first(name: "content-type")?.hasPrefix("text/event-stream") == true
        else {
            throw HarnessFailure("not an event stream: \(response.status)")
        }
        var parser = ServerSentEventParser()
        var events: [EventFeedFollower.Event] = []
        for try await buffer in response.body {
            for update in parser.feed(buffer.readableBytesView) {
                if case .event(let event) = update { events.append(event) }
            }
            if enough(events) { break }
        }
        return events
    }

    static func sha256(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map {
            String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16)
        }.joined()
    }
}
