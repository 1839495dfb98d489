import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// ``ExotelTransport`` over AsyncHTTPClient.
///
/// `HTTPClient.shared` keeps retrying a refused connection until the request's deadline, so a dead host costs
/// the whole ``TransportRequest/timeout`` per attempt (two silent minutes for `exorec call` with the platform
/// down). The default client, ``noRedirectsClient``, has `connectionPool.retryConnectionEstablishment = false`:
/// a refused connection surfaces at once, naming the server, and the ``ExotelClient`` retry policy decides,
/// with backoff and jitter, whether to try again (nothing was sent, so a call is never placed twice).
///
/// Redirects: this transport must **not** follow them. A 3xx is a response like any other; whoever asked
/// decides whether to follow it, after checking where it leads (recording downloads follow redirects hop by
/// hop, each hop checked before it is requested). The default client, ``noRedirectsClient``, has redirects
/// disabled; an injected client must be configured with `redirectConfiguration: .disallow` (a response from
/// another origin than the one asked is refused by the recording download, but by then the request was sent).
public struct HTTPClientTransport: ExotelTransport {
    public let httpClient: HTTPClient

    public init(httpClient: HTTPClient = HTTPClientTransport.noRedirectsClient) {
        self.httpClient = httpClient
    }

    /// A process-wide client like `HTTPClient.shared` (on the shared event loop group, never shut down) but
    /// with redirects disabled and a failed connection reported at once instead of retried until the deadline.
    public static let noRedirectsClient: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.redirectConfiguration = .disallow
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    public func send(_ request: TransportRequest) async throws(TransportError) -> TransportResponse {
        let response = try await self.execute(request)
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: request.maximumBodyBytes)
        } catch {
            throw .exchangeFailed("reading the response body failed: \(error)")
        }
        return TransportResponse(
            status: Int(response.status.code),
            headers: response.headers.map { (name: $0.name, value: $0.value) },
            body: Array(body.readableBytesView)
        )
    }

    /// Streams the body to `sink` buffer by buffer as AsyncHTTPClient reads it. When the sink stops, the
    /// unread rest is abandoned (AsyncHTTPClient closes the connection).
    ///
    /// The request's timeout covers the whole exchange: AsyncHTTPClient's deadline ends with the response
    /// head, so the body is timed here, between buffers; a body that stalls is ended by the client's read
    /// timeout (`HTTPClient.shared`: 90 s). A cancelled task ends the body early, which is reported as a
    /// failure, never as a short body.
    public func download<Sink: TransportBodySink>(
        _ request: TransportRequest,
        into sink: inout Sink
    ) async throws(TransportError) -> TransportResponseHead {
        let deadline = ContinuousClock.now + request.timeout
        let response = try await self.execute(request)
        let head = TransportResponseHead(
            status: Int(response.status.code),
            headers: response.headers.map { (name: $0.name, value: $0.value) },
            finalURL: response.url?.absoluteString ?? request.url
        )
        guard sink.begin(head) else { return head }
        do {
            for try await buffer in response.body {
                let more = buffer.withUnsafeReadableBytes { sink.write($0) }
                if !more { return head }
                if ContinuousClock.now > deadline {
                    throw TransportError.exchangeFailed("the response body took longer than \(request.timeout)")
                }
            }
        } catch let error as TransportError {
            throw error
        } catch {
            throw .exchangeFailed("reading the response body failed: \(error)")
        }
        if Task.isCancelled { throw .exchangeFailed("cancelled while reading the response body") }
        return head
    }

    private func execute(_ request: TransportRequest) async throws(TransportError) -> HTTPClientResponse {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = request.method == .get ? .GET : .POST
        for header in request.headers {
            outgoing.headers.add(name: header.name, value: header.value)
        }
        if let body = request.body {
            outgoing.body = .bytes(body)
        }
        let timeout = TimeAmount.nanoseconds(
            Int64(request.timeout.components.seconds) * 1_000_000_000
                + request.timeout.components.attoseconds / 1_000_000_000
        )

        do {
            return try await self.httpClient.execute(outgoing, timeout: timeout)
        } catch {
            throw Self.classify(error, url: request.url)
        }
    }

    /// Only errors raised while a connection was being made count as "not sent". AsyncHTTPClient reports a
    /// request that never got a connection with the pool's last connection failure, or with
    /// `connectTimeout`/`getConnectionFromPoolTimeout`; everything else (read timeout, remote close, deadline
    /// on an established connection) may have reached the platform.
    static func classify(_ error: any Error, url: String = "") -> TransportError {
        let server = Self.origin(of: url).map { " to \($0)" } ?? ""
        if let connectionError = error as? NIOConnectionError {
            let refused = (connectionError.connectionErrors.last?.error as? IOError)?.errnoCode == ECONNREFUSED
            return .connectionFailed(
                refused
                    ? "could not connect\(server): connection refused (is the server running?)"
                    : "could not connect\(server): \(error)"
            )
        }
        if let channelError = error as? ChannelError, case .connectTimeout = channelError {
            return .connectionFailed("connecting\(server) timed out: \(error)")
        }
        if let ioError = error as? IOError, Self.connectErrnos.contains(ioError.errnoCode) {
            let reason = ioError.errnoCode == ECONNREFUSED ? "connection refused (is the server running?)" : "\(error)"
            return .connectionFailed("could not connect\(server): \(reason)")
        }
        if let clientError = error as? HTTPClientError, Self.notSentClientErrors.contains(clientError) {
            return .connectionFailed("could not send the request: \(clientError)")
        }
        return .exchangeFailed("the HTTP exchange failed: \(error)")
    }

    /// `scheme://host:port` of a URL: names the server in an error without its path, query or credentials.
    static func origin(of url: String) -> String? {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host
        else { return nil }
        let port = components.port.map { ":\($0)" } ?? ""
        return "\(scheme)://\(host.contains(":") ? "[\(host)]" : host)\(port)"
    }

    private static let notSentClientErrors: [HTTPClientError] = [
        .connectTimeout, .getConnectionFromPoolTimeout, .invalidURL, .emptyHost, .emptyScheme, .alreadyShutdown,
        .tlsHandshakeTimeout, .socksHandshakeTimeout, .httpProxyHandshakeTimeout,
    ]

    private static let connectErrnos: Set<CInt> = [ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL]
}
