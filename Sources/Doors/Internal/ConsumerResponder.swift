import ExotelKit
import Foundation
import Glibc
import HTTPTypes
import Hummingbird
import Ingest
import Logging
import MediaStore
import ServiceLifecycle
import Synchronization

/// The internal door's routes: `GET /v1/events` (long poll, or Server-Sent Events), `GET /v1/media/ID`
/// (Range, growing files), `POST /v1/calls/CALLSID/pause|resume` (PCI pause) and `GET /metrics`. `docs/CONSUMERS.md` has every request and answer.
///
/// The head is checked first (path, token, method, parameters) and refusals are answered at once; a
/// graceful shutdown ends every long poll (with an empty page) and every event stream.
struct ConsumerResponder: Hummingbird.HTTPResponder {
    typealias Context = DoorContext

    static let eventsPath = "/v1/events"
    static let mediaPrefix = "/v1/media/"
    static let metricsPath = "/metrics"
    static let callsPrefix = "/v1/calls/"
    /// The largest body a pause or resume may carry (`{"by": …, "reason": …}`).
    static let maxControlBody = 4096
    static let defaultWaitSeconds = 25
    static let maxLimit = 1000

    /// Why the events and media routes are off, or nil when they are on.
    let offReason: String?
    private let configuration: InternalDoorConfiguration
    private let token: [UInt8]
    private let source: (any ConsumerFeedSource)?
    private let pauses: (any CallPauseControl)?
    private let metrics: @Sendable () -> String
    /// Routes handed over whole (the web console), or nil.
    private let mount: (any InternalDoorMount)?
    let logger: Logger
    /// Refusals are logged once per kind per 10 s: a misconfigured consumer retrying in a loop does not
    /// flood the log.
    private let refusalLog = RefusalLog()

    init(
        configuration: InternalDoorConfiguration,
        source: (any ConsumerFeedSource)?,
        pauses: (any CallPauseControl)? = nil,
        metrics: @escaping @Sendable () -> String,
        mount: (any InternalDoorMount)? = nil,
        logger: Logger
    ) {
        self.mount = mount
        self.configuration = configuration
        self.token = Array((configuration.token ?? "").utf8)
        self.source = source
        self.pauses = pauses
        self.metrics = metrics
        self.logger = logger
        if configuration.token == nil {
            self.offReason = "no api.token is configured"
        } else if source == nil {
            self.offReason = "api.token is set, but this server has no catalog to read"
        } else {
            self.offReason = nil
        }
    }

    func respond(to request: Request, context: DoorContext) async throws -> Response {
        if let mount = self.mount {
            let path = request.uri.path
            if path == mount.pathPrefix || path.hasPrefix(mount.pathPrefix + "/") {
                return try await mount.respond(
                    to: request,
                    context: context,
                    media: DoorMediaServer(responder: self, source: self.source)
                )
            }
        }
        // Only a pause or resume reads a body (after its head passed every check); elsewhere one that is
        // announced is never drained.
        let hasBody =
            request.headers[.transferEncoding] != nil || (request.headers[.contentLength].flatMap { Int($0) } ?? 0) > 0
        if hasBody && !request.uri.path.hasPrefix(Self.callsPrefix) {
            context.stopReading()
            return .error(400, "requests to this door carry no body", headers: [.connection: "close"])
        }
        switch self.parse(request) {
        case .failure(let refusal):
            let status = refusal.response.status.code
            if let suppressed = self.refusalLog.shouldLog("\(status)") {
                self.logger.warning(
                    "refused a consumer request",
                    metadata: [
                        "status": "\(status)", "reason": "\(LogText.escaped(refusal.reason))",
                        "path": "\(LogText.escaped(request.uri.path, limit: 100))",
                        "remote": "\(context.remoteAddress)", "suppressed_since_last": "\(suppressed)",
                    ]
                )
            }
            return refusal.response
        case .success(let parsed):
            self.logger.debug(
                "answering a consumer request",
                metadata: [
                    "path": "\(LogText.escaped(request.uri.path, limit: 100))", "remote": "\(context.remoteAddress)",
                ]
            )
            switch parsed {
            case .metrics:
                return .text(200, self.metrics(), contentType: "text/plain; version=0.0.4")
            case .poll(let query):
                guard let source = self.source else {
                    return .error(404, "the consumer API is not enabled on this server")
                }
                if let refusal = await self.cursorBeyondTheFeed(query, source: source) { return refusal }
                return await self.poll(query, source: source)
            case .eventStream(let query):
                guard let source = self.source else {
                    return .error(404, "the consumer API is not enabled on this server")
                }
                if let refusal = await self.cursorBeyondTheFeed(query, source: source) { return refusal }
                return self.streamEvents(query, source: source)
            case .media(let id):
                guard let source = self.source else {
                    return .error(404, "the consumer API is not enabled on this server")
                }
                return await self.serveMedia(id: id, range: request.headers[.range], source: source)
            case .pause(let callSid, let resume):
                guard let pauses = self.pauses else {
                    return .error(404, "pausing calls is not enabled on this server")
                }
                return await self.pauseOrResume(
                    callSid,
                    resume: resume,
                    request: request,
                    context: context,
                    control: pauses
                )
            }
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
        case metrics
        case poll(EventQuery)
        case eventStream(EventQuery)
        case media(id: String)
        /// `POST /v1/calls/CALLSID/pause` (or `/resume`).
        case pause(callSid: PathSafeIdentifier, resume: Bool)
    }

    struct Refusal: Error {
        var response: Response
        var reason: String

        init(_ status: Int, _ reason: String, headers: HTTPFields = [:]) {
            self.response = .error(status, reason, headers: headers)
            self.reason = reason
        }
    }

    /// Every check on the head, in order: path, on, token, method, parameters.
    func parse(_ request: Request) -> Result<Parsed, Refusal> {
        let path = request.uri.path
        let isEvents = path == Self.eventsPath || path == Self.eventsPath + "/"
        let isMedia = path.hasPrefix(Self.mediaPrefix)
        let isMetrics = path == Self.metricsPath
        let isCalls = path.hasPrefix(Self.callsPrefix)
        guard isEvents || isMedia || isMetrics || isCalls else {
            return .failure(Refusal(404, "no such endpoint: \(path.prefix(100))"))
        }
        if isMetrics && self.configuration.token == nil {
            // Without api.token the door has no secret to ask for; it is loopback by default.
            return request.method == .get
                ? .success(.metrics)
                : .failure(
                    Refusal(405, "\(request.method) is not allowed on /metrics; use GET", headers: [.allow: "GET"])
                )
        }
        if isCalls {
            guard self.configuration.token != nil, self.pauses != nil else {
                return .failure(Refusal(404, "pausing calls is not enabled on this server (set api.token)"))
            }
        } else if !isMetrics {
            guard self.offReason == nil, self.source != nil else {
                return .failure(Refusal(404, "the consumer API is not enabled on this server (set api.token)"))
            }
        }
        guard let offered = Self.offeredToken(request) else {
            return .failure(
                Refusal(
                    401,
                    "missing token: send Authorization: Bearer <api.token> (or ?token=)",
                    headers: [.wwwAuthenticate: "Bearer realm=\"exorec\""]
                )
            )
        }
        guard BasicAuthenticator.constantTimeEquals(self.token, Array(offered.utf8)) else {
            return .failure(Refusal(403, "wrong token"))
        }
        if isCalls { return Self.callControl(path: path, method: request.method) }
        guard request.method == .get else {
            return .failure(
                Refusal(
                    405,
                    "\(request.method) is not allowed on \(path.prefix(100)); use GET",
                    headers: [.allow: "GET"]
                )
            )
        }
        if isMetrics { return .success(.metrics) }
        if isMedia {
            let id = String(path.dropFirst(Self.mediaPrefix.count))
            guard (1...64).contains(id.utf8.count), id.utf8.allSatisfy(Self.isIDByte) else {
                return .failure(
                    Refusal(
                        400,
                        "'\(id.prefix(64))' is not a media id (the media_id of an event or of exorec catalog show)"
                    )
                )
            }
            return .success(.media(id: id))
        }
        let types = self.source?.eventTypes ?? []
        return Self.eventQuery(request, types: types, maxWait: self.configuration.maxWaitSeconds).map { query in
            (request.headers[.accept] ?? "").lowercased().contains("text/event-stream")
                ? .eventStream(query) : .poll(query)
        }
    }

    private static func eventQuery(
        _ request: Request,
        types known: Set<String>,
        maxWait: Int
    ) -> Result<EventQuery, Refusal> {
        func bad(_ reason: String) -> Result<EventQuery, Refusal> { .failure(Refusal(400, reason)) }
        let parameters = request.uri.queryParameters
        var query = EventQuery(after: 0, types: nil, limit: 500, waitSeconds: min(Self.defaultWaitSeconds, maxWait))
        // `after` wins over Last-Event-ID: a client that names a position means it.
        if let text = parameters["after"].map(String.init) ?? request.headers[HTTPField.Name("Last-Event-ID")!] {
            if text == "latest" {
                query.after = nil
            } else {
                guard let after = Int64(text), after >= 0 else {
                    return bad("after '\(text.prefix(32))' is not an event id (an integer ≥ 0) or 'latest'")
                }
                query.after = after
            }
        }
        if let text = parameters["limit"].map(String.init) {
            guard let limit = Int(text), (1...Self.maxLimit).contains(limit) else {
                return bad("limit '\(text.prefix(32))' is not between 1 and \(Self.maxLimit)")
            }
            query.limit = limit
        }
        if let text = parameters["wait"].map(String.init) {
            guard let wait = Int(text), (0...maxWait).contains(wait) else {
                return bad("wait '\(text.prefix(32))' is not between 0 and \(maxWait) seconds")
            }
            query.waitSeconds = wait
        }
        if let text = parameters["types"].map(String.init), !text.isEmpty {
            let types = Set(text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
            if let unknown = types.subtracting(known).sorted().first {
                return bad(
                    "unknown event type '\(unknown.prefix(32))'; known: \(known.sorted().joined(separator: ", "))"
                )
            }
            query.types = types
        }
        return .success(query)
    }

    private static func offeredToken(_ request: Request) -> String? {
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                let token = parts[1].trimmingCharacters(in: .whitespaces)
                return token.isEmpty ? nil : token
            }
        }
        guard let token = request.uri.queryParameters["token"], !token.isEmpty else { return nil }
        return String(token)
    }

    private static func isIDByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"),
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

    /// A position past the newest event (a feed from another server, or a client's typo) would make a
    /// client that continues from it skip every event up to it without a word: it is refused, naming
    /// the newest id, and never echoed back as `last_id`.
    private func cursorBeyondTheFeed(_ query: EventQuery, source: any ConsumerFeedSource) async -> Response? {
        guard let after = query.after, after > 0 else { return nil }
        guard let newest = try? await source.latestEventID() else { return nil }
        guard after > newest else { return nil }
        return .error(
            400,
            "after \(after) is beyond the newest event, \(newest): this feed has not reached it; continue from \(newest) or ask for after=latest"
        )
    }

    private func poll(_ query: EventQuery, source: any ConsumerFeedSource) async -> Response {
        let noStore: HTTPFields = [.cacheControl: "no-store"]
        let after = Mutex<Int64?>(nil)
        do {
            // A graceful shutdown cancels the wait: the poll is answered (below) and the door can stop.
            let items = try await cancelWhenGracefulShutdown {
                let start = try await Self.start(of: query, in: source)
                after.withLock { $0 = start }
                return (
                    start,
                    try await source.events(
                        after: start,
                        types: query.types,
                        limit: query.limit,
                        wait: .seconds(query.waitSeconds)
                    )
                )
            }
            return .json(200, Self.page(items.1, lastID: items.1.last?.id ?? items.0), headers: noStore)
        } catch {
            if Task.isCancelled || Task.isShuttingDownGracefully || error is CancellationError {
                // The server is stopping. A poll whose position is known has simply found nothing new; one
                // that asked for `latest` and never learnt it is told to come back.
                if let start = after.withLock({ $0 }) {
                    return .json(200, Self.page([], lastID: start), headers: noStore)
                }
                return .error(503, "the server is stopping; ask again")
            }
            self.logger.error("could not read the events feed", metadata: ["error": "\(error)"])
            return .error(503, "the events feed cannot be read right now: \(error)")
        }
    }

    private static func page(_ items: [FeedItem], lastID: Int64) -> String {
        "{\"events\":[" + items.map(\.json).joined(separator: ",") + "],\"last_id\":\(lastID)}\n"
    }

    /// Server-Sent Events: every event as `id:`, `event:`, `data:` lines, for as long as the client stays.
    /// A client that reconnects sends `Last-Event-ID` (EventSource does) and continues after it.
    private func streamEvents(_ query: EventQuery, source: any ConsumerFeedSource) -> Response {
        let heartbeat = self.configuration.heartbeatSeconds
        let logger = self.logger
        let body = ResponseBody { writer in
            var after: Int64
            do {
                after = try await Self.start(of: query, in: source)
            } catch {
                logger.error("could not read the events feed; ending an event stream", metadata: ["error": "\(error)"])
                try await writer.finish(nil)
                return
            }
            // An `id:` without data sets the client's resume position without an event (as EventSource does):
            // a client that started at `latest` and reconnects before any event still misses nothing.
            try await writer.write(ByteBuffer(string: "id: \(after)\nretry: 2000\n\n"))
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                let items: [FeedItem]
                let position = after
                do {
                    items = try await cancelWhenGracefulShutdown {
                        try await source.events(
                            after: position,
                            types: query.types,
                            limit: query.limit,
                            wait: .seconds(heartbeat)
                        )
                    }
                } catch {
                    if Task.isCancelled || Task.isShuttingDownGracefully { break }
                    logger.error(
                        "could not read the events feed; ending an event stream",
                        metadata: ["error": "\(error)"]
                    )
                    break
                }
                if Task.isCancelled || Task.isShuttingDownGracefully { break }
                if items.isEmpty {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    continue
                }
                var text = ""
                for item in items { text += "id: \(item.id)\nevent: \(item.type)\ndata: \(item.json)\n\n" }
                try await writer.write(ByteBuffer(string: text))
                after = items[items.count - 1].id
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store",
                HTTPField.Name("X-Accel-Buffering")!: "no",
            ],
            body: body
        )
    }

    // MARK: - Media

    /// Also what a mount serves media with (``DoorMediaServer``), behind its own checks.
    func serveMedia(id: String, range: String?, source: any ConsumerFeedSource) async -> Response {
        let media: ServedMedia
        do {
            guard let found = try await source.media(id: id) else {
                return .error(404, "no media file with id \(id)")
            }
            media = found
        } catch {
            self.logger.error("could not look up a media file", metadata: ["media_id": "\(id)", "error": "\(error)"])
            return .error(503, "the catalog cannot be read right now: \(error)")
        }
        // An evicted file is read from the object archive, by range; a local one from disk.
        let reader: MediaBytes
        if let remote = media.remote {
            reader = .remote(remote)
        } else {
            do {
                reader = .local(try MediaFileReader(path: media.path))
            } catch {
                self.logger.error(
                    "a catalogued media file cannot be read",
                    metadata: ["media_id": "\(id)", "path": "\(media.path)", "error": "\(error)"]
                )
                return .error(
                    410,
                    "media \(id) is catalogued but its file cannot be read (\(error)); exorec verify reports why"
                )
            }
        }
        let length = reader.length
        // Length at this moment: a growing stream is served up to what is on disk now.
        var headers: HTTPFields = [.acceptRanges: "bytes", HTTPField.Name("X-Exorec-Media-State")!: media.state]
        if media.isGrowing {
            headers[.cacheControl] = "no-store"
        } else if let sha256 = media.sha256 {
            headers[.eTag] = "\"\(sha256)\""
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
            headers[.contentRange] = "bytes \(requested.first)-\(requested.last)/\(total)"
        case .unsatisfiable:
            headers[.contentRange] = "bytes */\(length)"
            return .error(416, "the range starts at or past the end of the \(length) bytes on disk", headers: headers)
        }
        headers[.contentType] = media.contentType
        let logger = self.logger
        guard let bytes else {
            return Response(status: .init(code: status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer()))
        }
        let body = ResponseBody(contentLength: Int(bytes.count)) { writer in
            var offset = bytes.first
            while offset <= bytes.last {
                let count = Int(min(Int64(reader.chunkBytes), bytes.last - offset + 1))
                guard let chunk = await reader.read(count: count, at: offset), chunk.count == count else {
                    // The file shrank or failed under us: the client must not take a short body for the file.
                    logger.error(
                        "a media file could not be read to the end",
                        metadata: ["media_id": "\(id)", "offset": "\(offset)"]
                    )
                    throw MediaFileReader.OpenError(description: "short read at \(offset)")
                }
                try await writer.write(ByteBuffer(bytes: chunk))
                offset += Int64(count)
            }
            try await writer.finish(nil)
        }
        return Response(status: .init(code: status), headers: headers, body: body)
    }
}
