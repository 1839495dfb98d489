import ExotelKit
import Synchronization

/// WebSocket close codes exorec sends (RFC 6455 §7.4.1).
public enum CloseCode: UInt16, Sendable, Hashable {
    /// The stream ended normally (after `stop`, or an idle stream).
    case normal = 1000
    /// The server is shutting down.
    case goingAway = 1001
    /// A message type or value the server cannot take (binary frames, an unsupported sample rate).
    case unsupportedData = 1003
    /// The stream broke a rule (bad identifiers, a timestamp jump beyond the maximum gap).
    case policyViolation = 1008
    /// A message larger than the configured limit.
    case messageTooBig = 1009
    /// The server could not store the stream (disk full, cannot create the file).
    case internalError = 1011
}

/// What a client asked for when it opened a WebSocket, read before the upgrade is accepted.
public struct UpgradeRequest: Sendable, Hashable {
    public var path: String
    /// Query parameters in the order given; values are URL-decoded.
    public var query: [(name: String, value: String)]
    public var authorization: String?
    public var remoteAddress: String

    public init(path: String, query: [(name: String, value: String)], authorization: String?, remoteAddress: String) {
        self.path = path
        self.query = query
        self.authorization = authorization
        self.remoteAddress = remoteAddress
    }

    public func queryValue(_ name: String) -> String? { self.query.last { $0.name == name }?.value }

    public static func == (a: Self, b: Self) -> Bool {
        a.path == b.path && a.authorization == b.authorization && a.remoteAddress == b.remoteAddress
            && a.query.map(\.name) == b.query.map(\.name) && a.query.map(\.value) == b.query.map(\.value)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.path)
        hasher.combine(self.remoteAddress)
    }
}

/// The answer to an upgrade request: accept it, or refuse it with an HTTP status.
public enum UpgradeDecision: Sendable, Hashable {
    case accept
    case reject(status: Int, reason: String)
}

/// A plain HTTP request on the server's port (not a WebSocket upgrade), as far as its head tells.
public struct HTTPRequest: Sendable, Hashable {
    /// `GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE`, `OPTIONS`, or `OTHER`.
    public var method: String
    /// The path without its query.
    public var path: String
    /// Query parameters in the order given; values are URL-decoded.
    public var query: [(name: String, value: String)]
    public var contentType: String?
    /// The declared `Content-Length`; nil when the request has none.
    public var contentLength: Int?
    public var remoteAddress: String
    /// `Authorization`, verbatim.
    public var authorization: String?
    /// `Range`, verbatim.
    public var range: String?
    /// `Accept`, verbatim.
    public var accept: String?
    /// `Last-Event-ID` (what a reconnecting Server-Sent Events client sends), verbatim.
    public var lastEventID: String?

    public init(
        method: String, path: String, query: [(name: String, value: String)] = [], contentType: String? = nil,
        contentLength: Int? = nil, remoteAddress: String, authorization: String? = nil, range: String? = nil, accept: String? = nil,
        lastEventID: String? = nil
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.contentType = contentType
        self.contentLength = contentLength
        self.remoteAddress = remoteAddress
        self.authorization = authorization
        self.range = range
        self.accept = accept
        self.lastEventID = lastEventID
    }

    public func queryValue(_ name: String) -> String? { self.query.last { $0.name == name }?.value }

    /// Whether the method carries a body (lws reads one for these).
    public var hasBody: Bool { self.method == "POST" || self.method == "PUT" || self.method == "PATCH" }

    public static func == (a: Self, b: Self) -> Bool {
        a.method == b.method && a.path == b.path && a.contentType == b.contentType && a.contentLength == b.contentLength
            && a.remoteAddress == b.remoteAddress && a.authorization == b.authorization && a.range == b.range && a.accept == b.accept
            && a.lastEventID == b.lastEventID && a.query.map(\.name) == b.query.map(\.name)
            && a.query.map(\.value) == b.query.map(\.value)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.method)
        hasher.combine(self.path)
        hasher.combine(self.remoteAddress)
    }
}

/// A complete HTTP response, sent with `Content-Length`; the connection is kept alive unless the
/// server has a reason to close it (an unread body it will not drain).
public struct HTTPResponse: Sendable, Hashable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    /// Extra headers (`Allow`, …), by name.
    public var headers: [String: String]

    public init(status: Int, contentType: String, body: [UInt8], headers: [String: String] = [:]) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    public static func json(_ status: Int, _ text: String) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "application/json", body: Array(text.utf8))
    }

    /// `{"error": "..."}` with the reason escaped for JSON.
    public static func error(_ status: Int, _ reason: String) -> HTTPResponse {
        .json(status, "{\"error\":\(JSONText.quoted(reason))}\n")
    }
}

/// What the server does with a plain HTTP request, decided from its head.
public enum HTTPRequestAction: Sendable, Hashable {
    /// Answer now. A body the client still sends is read and dropped (or, when it is too large
    /// or of unknown length, the connection is closed after the answer).
    case respond(HTTPResponse)
    /// Read the body, at most `limit` bytes (beyond it: 413 and the connection closes), then hand
    /// the request to ``WebSocketServerHandler/received(_:body:responder:)``.
    case readBody(limit: Int)
}

/// Answers one HTTP request, from any thread, at most once.
///
/// The handler gets one with each complete request body. It may answer at once or after async
/// work; the service thread never waits: the answer is queued, the loop is woken
/// (`lws_cancel_service`), and the service thread writes it when the connection is writable. If
/// the client has gone meanwhile, the answer is dropped. Every responder must be answered, or its
/// connection stays parked until the client gives up.
public final class HTTPResponder: Sendable {
    /// The server's id for this request (unique per server run).
    public let exchangeID: UInt64
    private let server: WebSocketServer
    private let answered = Atomic<Bool>(false)

    init(exchangeID: UInt64, server: WebSocketServer) {
        self.exchangeID = exchangeID
        self.server = server
    }

    /// Sends `response` unless this request was answered before.
    ///
    /// - Returns: `true` if this call answered the request, `false` if an earlier one did.
    @discardableResult
    public func respond(_ response: HTTPResponse) -> Bool {
        guard self.answered.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            return false
        }
        self.server.deliver(.complete(response), to: self.exchangeID)
        return true
    }

    /// Starts a streamed answer unless this request was answered before: `head` goes out first, then
    /// what is written to the returned body, as it comes. Without a `contentLength` the body ends, and
    /// the connection closes, at ``HTTPBodyStream/finish()`` (Server-Sent Events); with one, the writer
    /// must write exactly that many bytes and the connection is kept alive.
    ///
    /// - Returns: nil if an earlier call answered the request.
    public func stream(_ head: HTTPStreamHead) -> HTTPBodyStream? {
        guard self.answered.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            return nil
        }
        let body = HTTPBodyStream(exchangeID: self.exchangeID, server: self.server)
        self.server.deliver(.streamed(head, body), to: self.exchangeID)
        return body
    }

    /// Whether `respond` has been called.
    public var isAnswered: Bool { self.answered.load(ordering: .acquiring) }
}

/// The server's side of the work, called on the service thread only.
///
/// `WebSocketServer` owns sockets and libwebsockets; the handler owns what the bytes mean. The two
/// are kept apart so that the C wrapper stays small and the protocol logic never sees a pointer.
public protocol WebSocketServerHandler: AnyObject {
    /// Decides whether an upgrade may become a WebSocket.
    func shouldAccept(_ request: UpgradeRequest) -> UpgradeDecision
    /// A WebSocket is open; the handler may keep state in `connection.context`.
    func opened(_ connection: WebSocketConnection, request: UpgradeRequest)
    /// One complete message (reassembled from its fragments).
    func received(_ message: UnsafeRawBufferPointer, isBinary: Bool, on connection: WebSocketConnection)
    /// A message grew past the size limit; the connection closes with 1009 after this returns.
    func messageTooLarge(on connection: WebSocketConnection)
    /// The connection is gone (closed by either side, or dropped). Called exactly once.
    func closed(_ connection: WebSocketConnection)
    /// A plain HTTP request's head has arrived: answer it now, or ask for its body.
    func route(_ request: HTTPRequest) -> HTTPRequestAction
    /// The complete body of a request routed with `.readBody`. Answer through `responder`, now or
    /// later from any thread; never block here (this is the service thread).
    func received(_ request: HTTPRequest, body: [UInt8], responder: HTTPResponder)
    /// Called every tick (every `tickMilliseconds`, 25 ms by default) with a monotonic clock in milliseconds.
    func tick(monotonicMs: Int64)
    /// Shutdown began: finish every open stream and close every connection with `goingAway`.
    func shutdownRequested()
}


/// What a parked exchange is answered with.
enum DeferredAnswer: Sendable {
    case complete(HTTPResponse)
    case streamed(HTTPStreamHead, HTTPBodyStream)
}

/// The head of a streamed answer (``HTTPResponder/stream(_:)``).
public struct HTTPStreamHead: Sendable, Hashable {
    public var status: Int
    public var contentType: String
    /// nil: the body's length is not known in advance; it ends when the connection closes.
    public var contentLength: Int64?
    public var headers: [String: String]

    public init(status: Int, contentType: String, contentLength: Int64?, headers: [String: String] = [:]) {
        self.status = status
        self.contentType = contentType
        self.contentLength = contentLength
        self.headers = headers
    }
}

/// The body of a streamed answer: written from any task, sent by the service thread.
///
/// A writer that gets ahead of the client waits in ``write(_:)`` (at most ``highWaterBytes`` are
/// queued), so serving a large file or a fast feed never holds more than that in memory per client.
public final class HTTPBodyStream: Sendable {
    /// Queued bytes above which ``write(_:)`` waits for the client.
    public static let highWaterBytes = 256 << 10

    private struct State {
        var chunks: [[UInt8]] = []
        var head = 0
        var queuedBytes = 0
        var finished = false
        var aborted = false
        var clientGone = false
        var writersWaiting: [CheckedContinuation<Bool, Never>] = []
    }

    let exchangeID: UInt64
    private let server: WebSocketServer
    private let state = Mutex(State())

    init(exchangeID: UInt64, server: WebSocketServer) {
        self.exchangeID = exchangeID
        self.server = server
    }

    /// Queues `bytes`; waits while the client is behind.
    /// - Returns: false when the client has left (stop writing).
    @discardableResult
    public func write(_ bytes: [UInt8]) async -> Bool {
        let accepted = self.state.withLock { state -> Bool in
            guard !state.clientGone, !state.finished else { return false }
            if !bytes.isEmpty {
                state.chunks.append(bytes)
                state.queuedBytes += bytes.count
            }
            return true
        }
        guard accepted else { return false }
        self.server.bodyStreamHasWork(self)
        return await withCheckedContinuation { continuation in
            let answerNow: Bool? = self.state.withLock { state in
                if state.clientGone { return false }
                if state.queuedBytes <= Self.highWaterBytes { return true }
                state.writersWaiting.append(continuation)
                return nil
            }
            if let answerNow { continuation.resume(returning: answerNow) }
        }
    }

    /// Ends the body (idempotent).
    public func finish() {
        let first = self.state.withLock { state -> Bool in
            defer { state.finished = true }
            return !state.finished
        }
        if first { self.server.bodyStreamHasWork(self) }
    }

    /// Ends the answer by closing the connection, without the rest of the body: for a writer that cannot
    /// deliver what its `Content-Length` promised (the client sees a short body, never wrong bytes).
    public func abort() {
        self.state.withLock { state in
            state.aborted = true
            state.finished = true
        }
        self.server.bodyStreamHasWork(self)
    }

    /// Service thread: whether ``abort()`` was called.
    var isAborted: Bool { self.state.withLock { $0.aborted } }

    /// Whether the client is still there and the body not finished.
    public var isOpen: Bool { self.state.withLock { !$0.clientGone && !$0.finished } }

    /// Service thread: the next chunk to send, and whether it is the last; nil when nothing is queued yet.
    func takeChunk() -> (chunk: [UInt8], isLast: Bool)? {
        let (result, resume) = self.state.withLock { state -> ((chunk: [UInt8], isLast: Bool)?, [CheckedContinuation<Bool, Never>]) in
            guard state.head < state.chunks.count else {
                return (state.finished ? ([], true) : nil, [])
            }
            let chunk = state.chunks[state.head]
            state.chunks[state.head] = []
            state.head += 1
            state.queuedBytes -= chunk.count
            if state.head == state.chunks.count {
                state.chunks.removeAll(keepingCapacity: true)
                state.head = 0
            }
            var resume: [CheckedContinuation<Bool, Never>] = []
            if state.queuedBytes <= Self.highWaterBytes / 2 { swap(&resume, &state.writersWaiting) }
            return ((chunk, state.finished && state.head == state.chunks.count), resume)
        }
        for writer in resume { writer.resume(returning: true) }
        return result
    }

    /// The connection closed (or the server stopped): writers waiting or to come get false.
    func clientLeft() {
        let waiting = self.state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.clientGone = true
            state.chunks.removeAll()
            state.head = 0
            state.queuedBytes = 0
            defer { state.writersWaiting.removeAll() }
            return state.writersWaiting
        }
        for writer in waiting { writer.resume(returning: false) }
    }
}
