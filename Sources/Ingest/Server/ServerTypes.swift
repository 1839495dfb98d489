import ExotelKit

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

/// A plain HTTP request on the stream door (not a WebSocket upgrade), as far as its head tells.
///
/// The stream door answers from the head alone: it never reads a request body.
public struct HTTPRequest: Sendable, Hashable {
    /// `GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE`, `OPTIONS`, or `OTHER`.
    public var method: String
    /// The path without its query.
    public var path: String
    public var remoteAddress: String
    /// Whether the request announces a body (a `Content-Length` above 0, `Transfer-Encoding`, or a
    /// POST/PUT/PATCH): the server answers it and closes the connection instead of reading the body.
    public var hasBody: Bool

    public init(method: String, path: String, remoteAddress: String, hasBody: Bool = false) {
        self.method = method
        self.path = path
        self.remoteAddress = remoteAddress
        self.hasBody = hasBody
    }
}

/// A complete HTTP response, sent at once with `Content-Length`; the connection is kept alive unless
/// the request had a body (never read: the connection closes after the answer).
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

/// Why the server closed a just-accepted connection before reading from it (a metric label).
public enum ConnectionRefusal: String, Sendable, Hashable, CaseIterable {
    /// Accepting it would leave fewer descriptors than the reserve that open streams need to finalize.
    case descriptors
    /// `maxPendingConnections` connections have not completed an upgrade yet.
    case pendingTotal = "pending-total"
    /// Its source address already has `maxPendingPerSource` connections that have not upgraded.
    case pendingPerSource = "pending-per-source"
    /// `accept` itself failed (descriptors exhausted by another part of the process); one per failure.
    case acceptFailed = "accept-failed"
}

/// The server's side of the work, called on the service thread only.
///
/// `WebSocketServer` owns sockets and libwebsockets; the handler owns what the bytes mean. The two
/// are kept apart so that the C wrapper stays small and the protocol logic never sees a pointer.
///
/// The server is generic over its handler (`WebSocketServer<StreamIngest>`), so every call below is
/// a direct call. Each open WebSocket has one `Session`, made by `opened` and handed back with each
/// of that connection's messages and at its close: the server keeps it, retained, in libwebsockets'
/// per-connection memory, so a message reaches its session without a lookup, a cast or an allocation.
/// (`SendableMetatype`: the server starts its service thread with a closure that carries `Self`.)
public protocol WebSocketServerHandler: AnyObject, SendableMetatype {
    /// The handler's state for one open WebSocket. Its connection (for `close(_:reason:)`) is the one
    /// `opened` was given; a session that needs it keeps it.
    associatedtype Session: AnyObject

    /// Decides whether an upgrade may become a WebSocket.
    func shouldAccept(_ request: UpgradeRequest) -> UpgradeDecision
    /// A WebSocket is open: its session, which the server keeps until `closed(session:)`.
    func opened(_ connection: WebSocketConnection, request: UpgradeRequest) -> Session
    /// One complete message (reassembled from its fragments); the bytes are valid during the call only.
    func received(_ message: UnsafeRawBufferPointer, isBinary: Bool, session: Session)
    /// A message grew past the size limit; the connection closes with 1009 after this returns.
    func messageTooLarge(session: Session)
    /// The connection is gone (closed by either side, or dropped). Called exactly once per `opened`;
    /// the server lets go of the session after this returns.
    func closed(session: Session)
    /// A plain HTTP request's head has arrived: the answer, at once (this is the service thread;
    /// never block here). The body, if any, is never read.
    func respond(to request: HTTPRequest) -> HTTPResponse
    /// The server closed a just-accepted connection without reading from it.
    func refused(_ refusal: ConnectionRefusal)
    /// Every tick, and before each `respond(to:)`: the sockets the door holds and how many of them
    /// have not upgraded.
    func connections(sockets: Int, pending: Int)
    /// Called every tick (every `tickMilliseconds`, 25 ms by default) with a monotonic clock in milliseconds.
    func tick(monotonicMs: Int64)
    /// Shutdown began: finish every open stream and close every connection with `goingAway`.
    func shutdownRequested()
}
