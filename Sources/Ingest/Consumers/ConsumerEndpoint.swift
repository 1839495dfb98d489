import Foundation
import Glibc
import Logging
import Synchronization

/// `GET /v1/events` and `GET /v1/media/ID`: what a live consumer (a transcription service, a dashboard)
/// reads from the server. `docs/CONSUMERS.md` has every request and answer.
///
/// The request's head is checked on the service thread (path, token, method, parameters), which answers
/// refusals at once; the work (waiting for events, reading a file) runs in a task, and the answer goes
/// back through the ``HTTPResponder``, streamed when it is a file or a Server-Sent Events feed.
final class ConsumerEndpoint: Sendable {
    static let eventsPath = "/v1/events"
    static let mediaPrefix = "/v1/media/"
    /// File bytes per body chunk.
    static let chunkBytes = 64 << 10
    static let defaultWaitSeconds = 25
    static let maxLimit = 1000

    /// Why the endpoints are off, or nil when they are on.
    let offReason: String?
    private let configuration: IngestConfiguration.Consumers
    private let token: [UInt8]
    private let source: (any ConsumerFeedSource)?
    private let logger: Logger
    /// Refusals are logged once per kind per 10 s: a misconfigured consumer retrying in a loop does not
    /// flood the log.
    private let refusalLog = Mutex(RateLimitedLog(intervalMs: 10_000))
    /// Work in flight, cancelled at shutdown so that no long poll or feed holds the server open.
    private let tasks = Mutex<(next: UInt64, running: [UInt64: Task<Void, Never>], stopping: Bool)>((0, [:], false))

    init(configuration: IngestConfiguration.Consumers, source: (any ConsumerFeedSource)?, logger: Logger) {
        self.configuration = configuration
        self.token = Array((configuration.token ?? "").utf8)
        self.source = source
        self.logger = logger
        if configuration.token == nil {
            self.offReason = "no api.token is configured"
        } else if source == nil {
            self.offReason = "api.token is set, but this server has no catalog to read"
        } else {
            self.offReason = nil
        }
    }

    static func handles(_ path: String) -> Bool {
        path == Self.eventsPath || path == Self.eventsPath + "/" || path.hasPrefix(Self.mediaPrefix)
    }

    // MARK: - Service thread

    func route(_ request: HTTPRequest) -> HTTPRequestAction {
        switch self.parse(request) {
        case .failure(let refusal):
            let status = refusal.response.status
            let suppressed = self.refusalLog.withLock { $0.shouldLog("\(status)", now: WebSocketServer.monotonicMs()) }
            if let suppressed {
                self.logger.warning(
                    "refused a consumer request",
                    metadata: [
                        "status": "\(status)", "reason": "\(String(decoding: refusal.response.body, as: UTF8.self).prefix(200))",
                        "path": "\(request.path.prefix(100))", "remote": "\(request.remoteAddress)", "suppressed_since_last": "\(suppressed)",
                    ])
            }
            return .respond(refusal.response)
        case .success:
            return .readBody(limit: 0)
        }
    }

    func received(_ request: HTTPRequest, responder: HTTPResponder) {
        guard case .success(let parsed) = self.parse(request), let source = self.source else {
            responder.respond(.error(404, "the consumer API is not enabled on this server"))
            return
        }
        self.logger.debug("answering a consumer request", metadata: ["path": "\(request.path.prefix(100))", "remote": "\(request.remoteAddress)"])
        self.run {
            switch parsed {
            case .poll(let query): await self.poll(query, source: source, responder: responder)
            case .eventStream(let query): await self.streamEvents(query, source: source, responder: responder)
            case .media(let id): await self.serveMedia(id: id, range: request.range, source: source, responder: responder)
            }
        }
    }

    /// Ends every long poll and event stream (the server is stopping).
    func shutdown() {
        let running = self.tasks.withLock { tasks in
            tasks.stopping = true
            return Array(tasks.running.values)
        }
        for task in running { task.cancel() }
    }

    private func run(_ work: @escaping @Sendable () async -> Void) {
        self.tasks.withLock { tasks in
            tasks.next += 1
            let id = tasks.next
            let stopping = tasks.stopping
            let task = Task {
                await work()
                self.tasks.withLock { _ = $0.running.removeValue(forKey: id) }
            }
            if stopping { task.cancel() }
            tasks.running[id] = task
        }
    }

    // MARK: - Requests

    struct EventQuery: Sendable, Hashable {
        /// nil: `after=latest`, resolved when the work starts.
        var after: Int64?
        var types: Set<String>?
        var limit: Int
        var waitSeconds: Int
    }

    enum Parsed: Sendable, Hashable {
        case poll(EventQuery)
        case eventStream(EventQuery)
        case media(id: String)
    }

    struct Refusal: Error {
        var response: HTTPResponse
    }

    /// Every check on the head, in order: on, token, method, parameters.
    func parse(_ request: HTTPRequest) -> Result<Parsed, Refusal> {
        guard self.offReason == nil, let source = self.source else {
            return .failure(Refusal(response: .error(404, "the consumer API is not enabled on this server (set api.token)")))
        }
        guard let offered = Self.offeredToken(request) else {
            var response = HTTPResponse.error(401, "missing token: send Authorization: Bearer <api.token> (or ?token=)")
            response.headers["WWW-Authenticate"] = "Bearer realm=\"exorec\""
            return .failure(Refusal(response: response))
        }
        guard BasicAuthenticator.constantTimeEquals(self.token, Array(offered.utf8)) else {
            return .failure(Refusal(response: .error(403, "wrong token")))
        }
        guard request.method == "GET" else {
            var response = HTTPResponse.error(405, "\(request.method) is not allowed on \(request.path); use GET")
            response.headers["Allow"] = "GET"
            return .failure(Refusal(response: response))
        }
        if request.path.hasPrefix(Self.mediaPrefix) {
            let id = String(request.path.dropFirst(Self.mediaPrefix.count))
            guard (1...64).contains(id.utf8.count), id.utf8.allSatisfy(Self.isIDByte) else {
                return .failure(Refusal(response: .error(400, "'\(id.prefix(64))' is not a media id (the media_id of an event or of exorec catalog show)")))
            }
            return .success(.media(id: id))
        }
        return Self.eventQuery(request, types: source.eventTypes, maxWait: self.configuration.maxWaitSeconds).map { query in
            (request.accept ?? "").lowercased().contains("text/event-stream") ? .eventStream(query) : .poll(query)
        }
    }

    private static func eventQuery(_ request: HTTPRequest, types known: Set<String>, maxWait: Int) -> Result<EventQuery, Refusal> {
        func bad(_ reason: String) -> Result<EventQuery, Refusal> { .failure(Refusal(response: .error(400, reason))) }
        var query = EventQuery(after: 0, types: nil, limit: 500, waitSeconds: min(Self.defaultWaitSeconds, maxWait))
        // `after` wins over Last-Event-ID: a client that names a position means it.
        if let text = request.queryValue("after") ?? request.lastEventID {
            if text == "latest" {
                query.after = nil
            } else {
                guard let after = Int64(text), after >= 0 else {
                    return bad("after '\(text.prefix(32))' is not an event id (an integer ≥ 0) or 'latest'")
                }
                query.after = after
            }
        }
        if let text = request.queryValue("limit") {
            guard let limit = Int(text), (1...Self.maxLimit).contains(limit) else { return bad("limit '\(text.prefix(32))' is not between 1 and \(Self.maxLimit)") }
            query.limit = limit
        }
        if let text = request.queryValue("wait") {
            guard let wait = Int(text), (0...maxWait).contains(wait) else { return bad("wait '\(text.prefix(32))' is not between 0 and \(maxWait) seconds") }
            query.waitSeconds = wait
        }
        if let text = request.queryValue("types"), !text.isEmpty {
            let types = Set(text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
            if let unknown = types.subtracting(known).sorted().first {
                return bad("unknown event type '\(unknown.prefix(32))'; known: \(known.sorted().joined(separator: ", "))")
            }
            query.types = types
        }
        return .success(query)
    }

    private static func offeredToken(_ request: HTTPRequest) -> String? {
        if let header = request.authorization {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                let token = parts[1].trimmingCharacters(in: .whitespaces)
                return token.isEmpty ? nil : token
            }
        }
        guard let token = request.queryValue("token"), !token.isEmpty else { return nil }
        return token
    }

    private static func isIDByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default:
            false
        }
    }

    // MARK: - Events

    private static func start(of query: EventQuery, in source: any ConsumerFeedSource) async throws -> Int64 {
        if let after = query.after { return after }
        return try await source.latestEventID()
    }

    private func poll(_ query: EventQuery, source: any ConsumerFeedSource, responder: HTTPResponder) async {
        var after: Int64?
        do {
            let start = try await Self.start(of: query, in: source)
            after = start
            let items = try await source.events(after: start, types: query.types, limit: query.limit, wait: .seconds(query.waitSeconds))
            var response = HTTPResponse.json(200, Self.page(items, lastID: items.last?.id ?? start))
            response.headers["Cache-Control"] = "no-store"
            responder.respond(response)
        } catch {
            if Task.isCancelled {
                // The server is stopping. A poll whose position is known has simply found nothing new; one
                // that asked for `latest` and never learnt it is told to come back.
                if let after {
                    responder.respond(.json(200, Self.page([], lastID: after)))
                } else {
                    responder.respond(.error(503, "the server is stopping; ask again"))
                }
                return
            }
            self.logger.error("could not read the events feed", metadata: ["error": "\(error)"])
            responder.respond(.error(503, "the events feed cannot be read right now: \(error)"))
        }
    }

    private static func page(_ items: [FeedItem], lastID: Int64) -> String {
        "{\"events\":[" + items.map(\.json).joined(separator: ",") + "],\"last_id\":\(lastID)}\n"
    }

    /// Server-Sent Events: every event as `id:`, `event:`, `data:` lines, for as long as the client stays.
    /// A client that reconnects sends `Last-Event-ID` (EventSource does) and continues after it.
    private func streamEvents(_ query: EventQuery, source: any ConsumerFeedSource, responder: HTTPResponder) async {
        guard
            let body = responder.stream(
                HTTPStreamHead(
                    status: 200, contentType: "text/event-stream; charset=utf-8", contentLength: nil,
                    headers: ["Cache-Control": "no-store", "X-Accel-Buffering": "no"]))
        else { return }
        defer { body.finish() }
        var after: Int64
        do {
            after = try await Self.start(of: query, in: source)
        } catch {
            self.logger.error("could not read the events feed; ending an event stream", metadata: ["error": "\(error)"])
            return
        }
        // An `id:` without data sets the client's resume position without an event (as EventSource does):
        // a client that started at `latest` and reconnects before any event still misses nothing.
        guard await body.write(Array("id: \(after)\nretry: 2000\n\n".utf8)) else { return }
        while !Task.isCancelled {
            let items: [FeedItem]
            do {
                items = try await source.events(after: after, types: query.types, limit: query.limit, wait: .seconds(self.configuration.heartbeatSeconds))
            } catch {
                if Task.isCancelled { return }
                self.logger.error("could not read the events feed; ending an event stream", metadata: ["error": "\(error)"])
                return
            }
            if Task.isCancelled { return }
            if items.isEmpty {
                guard await body.write(Array(": keep-alive\n\n".utf8)) else { return }
                continue
            }
            var text = ""
            for item in items { text += "id: \(item.id)\nevent: \(item.type)\ndata: \(item.json)\n\n" }
            guard await body.write(Array(text.utf8)) else { return }
            after = items[items.count - 1].id
        }
    }

    // MARK: - Media

    private func serveMedia(id: String, range: String?, source: any ConsumerFeedSource, responder: HTTPResponder) async {
        let media: ServedMedia
        do {
            guard let found = try await source.media(id: id) else {
                responder.respond(.error(404, "no media file with id \(id)"))
                return
            }
            media = found
        } catch {
            self.logger.error("could not look up a media file", metadata: ["media_id": "\(id)", "error": "\(error)"])
            responder.respond(.error(503, "the catalog cannot be read right now: \(error)"))
            return
        }
        let file: MediaFileReader
        do {
            file = try MediaFileReader(path: media.path)
        } catch {
            self.logger.error("a catalogued media file cannot be read", metadata: ["media_id": "\(id)", "path": "\(media.path)", "error": "\(error)"])
            responder.respond(.error(410, "media \(id) is catalogued but its file cannot be read (\(error)); exorec verify reports why"))
            return
        }
        // Length at this moment: a growing stream is served up to what is on disk now.
        let length = file.length
        var headers = ["Accept-Ranges": "bytes", "X-Exorec-Media-State": media.state]
        if media.isGrowing {
            headers["Cache-Control"] = "no-store"
        } else if let sha256 = media.sha256 {
            headers["ETag"] = "\"\(sha256)\""
        }
        let total = media.isGrowing ? "*" : "\(length)"
        let status: Int
        let bytes: ByteRange?
        switch ByteRange.resolve(range, length: length) {
        case .whole:
            status = 200
            bytes = length > 0 ? ByteRange(first: 0, last: length - 1) : nil
        case .partial(let requested):
            status = 206
            bytes = requested
            headers["Content-Range"] = "bytes \(requested.first)-\(requested.last)/\(total)"
        case .unsatisfiable:
            var response = HTTPResponse.error(416, "the range starts at or past the end of the \(length) bytes on disk")
            response.headers = headers
            response.headers["Content-Range"] = "bytes */\(length)"
            responder.respond(response)
            return
        }
        guard let body = responder.stream(HTTPStreamHead(status: status, contentType: media.contentType, contentLength: bytes?.count ?? 0, headers: headers))
        else { return }
        guard let bytes else {
            body.finish()
            return
        }
        var offset = bytes.first
        while offset <= bytes.last {
            let count = Int(min(Int64(Self.chunkBytes), bytes.last - offset + 1))
            guard let chunk = file.read(count: count, at: offset), chunk.count == count else {
                // The file shrank or failed under us: the client must not take a short body for the file.
                self.logger.error("a media file could not be read to the end", metadata: ["media_id": "\(id)", "offset": "\(offset)"])
                body.abort()
                return
            }
            guard await body.write(chunk) else { return }
            offset += Int64(count)
        }
        body.finish()
    }
}

/// An open media file, read by offset. Closed when released.
final class MediaFileReader: Sendable {
    struct OpenError: Error, CustomStringConvertible {
        var description: String
    }

    private let descriptor: Int32
    let length: Int64

    init(path: String) throws(OpenError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw OpenError(description: String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw OpenError(description: reason)
        }
        self.descriptor = descriptor
        self.length = Int64(info.st_size)
    }

    deinit { close(self.descriptor) }

    /// Up to `count` bytes at `offset`; nil on a read error.
    func read(count: Int, at offset: Int64) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { pread(self.descriptor, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            done += n
        }
        return done == count ? bytes : Array(bytes[..<done])
    }
}
