/// The HTTP seam under ``ExotelClient``: one request in, one fully read response out. The production
/// implementation is ``HTTPClientTransport``; tests script responses without a server.
public protocol ExotelTransport: Sendable {
    /// Sends one request and reads the whole response body (at most `maximumBodyBytes`). Non-2xx statuses are
    /// responses, not errors; only failures to exchange a request and response throw.
    func send(_ request: TransportRequest) async throws(TransportError) -> TransportResponse

    /// Sends one request and hands the response to `sink` as it arrives: the head first, then the body in
    /// pieces, so a large body never sits in memory. The sink can stop the exchange at any point (the rest of
    /// the body is not read). `maximumBodyBytes` is not applied here: the sink decides how much it takes.
    ///
    /// A default implementation reads the whole response with ``send(_:)`` and passes it on in one piece;
    /// ``HTTPClientTransport`` streams.
    /// - Returns: the response head (also given to the sink).
    func download<Sink: TransportBodySink>(
        _ request: TransportRequest,
        into sink: inout Sink
    ) async throws(TransportError) -> TransportResponseHead
}

extension ExotelTransport {
    public func download<Sink: TransportBodySink>(
        _ request: TransportRequest,
        into sink: inout Sink
    ) async throws(TransportError) -> TransportResponseHead {
        let response = try await self.send(request)
        let head = TransportResponseHead(status: response.status, headers: response.headers, finalURL: request.url)
        guard sink.begin(head), !response.body.isEmpty else { return head }
        _ = response.body.withUnsafeBytes { sink.write($0) }
        return head
    }
}

/// Status and headers of a response whose body is streamed.
public struct TransportResponseHead: Sendable, Hashable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    /// Where the response came from: the request's URL, or the last one after redirects.
    public var finalURL: String

    public init(status: Int, headers: [(name: String, value: String)] = [], finalURL: String) {
        self.status = status
        self.headers = headers
        self.finalURL = finalURL
    }

    /// The first value of a header, matched case-insensitively.
    public func header(_ name: String) -> String? {
        self.headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public static func == (lhs: TransportResponseHead, rhs: TransportResponseHead) -> Bool {
        lhs.status == rhs.status && lhs.finalURL == rhs.finalURL
            && lhs.headers.map(\.name) == rhs.headers.map(\.name)
            && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.status)
        hasher.combine(self.finalURL)
    }
}

/// Receives a streamed response from ``ExotelTransport/download(_:into:)``. Not `Sendable`: it is used by the
/// one task that runs the download.
public protocol TransportBodySink {
    /// The response head, before any body byte. Return false to stop: the body is not read.
    mutating func begin(_ head: TransportResponseHead) -> Bool
    /// The next piece of the body, in order; the buffer is only valid during the call. Return false to stop.
    mutating func write(_ bytes: UnsafeRawBufferPointer) -> Bool
}

/// One HTTP request as the client builds it.
public struct TransportRequest: Sendable, Hashable {
    public enum Method: String, Sendable, Hashable { case get = "GET", post = "POST" }

    public var method: Method
    public var url: String
    /// Ordered header pairs; the client always sets `Authorization`, `Accept` and `User-Agent`.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// Wall-clock limit for the whole exchange.
    public var timeout: Duration
    /// A larger body is a ``TransportError`` rather than unbounded memory.
    public var maximumBodyBytes: Int

    public init(
        method: Method,
        url: String,
        headers: [(name: String, value: String)] = [],
        body: [UInt8]? = nil,
        timeout: Duration = .seconds(30),
        maximumBodyBytes: Int = 1 << 20
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.maximumBodyBytes = maximumBodyBytes
    }

    /// The first value of a header, matched case-insensitively.
    public func header(_ name: String) -> String? {
        self.headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public static func == (lhs: TransportRequest, rhs: TransportRequest) -> Bool {
        lhs.method == rhs.method && lhs.url == rhs.url && lhs.body == rhs.body && lhs.timeout == rhs.timeout
            && lhs.maximumBodyBytes == rhs.maximumBodyBytes
            && lhs.headers.map(\.name) == rhs.headers.map(\.name)
            && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.method)
        hasher.combine(self.url)
        hasher.combine(self.body)
    }
}

/// One HTTP response, body fully read.
public struct TransportResponse: Sendable, Hashable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of a header, matched case-insensitively.
    public func header(_ name: String) -> String? {
        self.headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public static func == (lhs: TransportResponse, rhs: TransportResponse) -> Bool {
        lhs.status == rhs.status && lhs.body == rhs.body
            && lhs.headers.map(\.name) == rhs.headers.map(\.name)
            && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.status)
        hasher.combine(self.body)
    }
}

/// A request that got no HTTP response.
///
/// What matters for retrying is whether the platform can have seen the request: a refused connection or a
/// failed DNS lookup cannot have placed a call, a timeout or a reset after the bytes left can have.
public struct TransportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// `false` only when the failure certainly happened before any request byte was written.
    public let requestMayHaveBeenSent: Bool
    public let message: String

    public init(requestMayHaveBeenSent: Bool, message: String) {
        self.requestMayHaveBeenSent = requestMayHaveBeenSent
        self.message = message
    }

    /// Connecting failed (refused, unreachable, DNS): nothing was sent.
    public static func connectionFailed(_ message: String) -> TransportError {
        TransportError(requestMayHaveBeenSent: false, message: message)
    }

    /// The exchange failed after the request may have reached the server (timeout, reset, truncated response).
    public static func exchangeFailed(_ message: String) -> TransportError {
        TransportError(requestMayHaveBeenSent: true, message: message)
    }

    public var description: String {
        self.requestMayHaveBeenSent
            ? "\(self.message) (the request may have been sent)" : "\(self.message) (nothing was sent)"
    }
}
