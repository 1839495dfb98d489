import CLibWebSockets
import Foundation
import Logging
import Synchronization

/// Owns the `lws_context`, its libev (epoll) loop and the service thread; the only type that calls
/// libwebsockets.
///
/// Every callback runs on the service thread, and so does everything the handler does. `@unchecked
/// Sendable` because other threads only touch `control` (a `Mutex`) and `lws_cancel_service`,
/// which libwebsockets documents as safe to call from any thread.
public final class WebSocketServer: @unchecked Sendable {
    public struct Configuration: Sendable, Hashable {
        /// An IPv4 or IPv6 literal, `0.0.0.0` / `::` for every interface. Loopback by default.
        public var host: String = "127.0.0.1"
        /// 0 picks a free port (reported by `onListening`).
        public var port: Int = 8080
        /// Messages larger than this are refused with close code 1009.
        public var maxMessageBytes: Int = 1 << 20
        /// Seconds a client may take to complete its HTTP request or upgrade.
        public var handshakeTimeoutSeconds: Int = 10
        /// How long shutdown waits for clients to acknowledge their close frames.
        public var shutdownGraceMilliseconds: Int64 = 2000
        /// Period of the handler's `tick`: bounds how late age-based work (flushing audio) runs.
        public var tickMilliseconds: Int64 = 25

        public init() {}
    }

    public let configuration: Configuration
    private let handler: any WebSocketServerHandler
    private let logger: Logger

    private struct Control: @unchecked Sendable {
        var context: OpaquePointer?
        var stopRequested = false
    }
    private let control = Mutex(Control())

    // Service-thread state.
    private var loop: UnsafeMutableRawPointer?
    private var timer: UnsafeMutableRawPointer?
    private var nextConnectionID: UInt64 = 0
    private var openConnections = 0
    private var stopping = false
    private var stopDeadline: Int64 = 0
    private var shutdownAnnounced = false

    public init(configuration: Configuration, handler: any WebSocketServerHandler, logger: Logger) {
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
    }

    /// Runs the server on its own thread until `requestStop` and the drain that follows are done.
    ///
    /// - Parameter onListening: called once, from the service thread, with the bound port.
    public func run(onListening: @escaping @Sendable (Int) -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread { [self] in
                do {
                    try self.serve(onListening: onListening)
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "exorec-ingest"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Begins a graceful stop from any thread: open streams are finished and closed with 1001.
    public func requestStop() {
        self.control.withLock { control in
            control.stopRequested = true
            if let context = control.context { lws_cancel_service(context) }
        }
    }

    // MARK: - Service thread

    private func serve(onListening: @Sendable (Int) -> Void) throws {
        guard let loop = clws_ev_loop_new_epoll() else {
            throw IngestError.serverStart(reason: "cannot create an epoll event loop (libev)")
        }
        self.loop = loop
        defer { clws_ev_loop_destroy(loop) }

        let protocolName = strdup("exorec-stream")!
        let hostC: UnsafeMutablePointer<CChar>? = Self.isAnyAddress(self.configuration.host) ? nil : strdup(self.configuration.host)
        let protocols = UnsafeMutablePointer<lws_protocols>.allocate(capacity: 2)
        let foreignLoops = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 1)
        defer {
            free(protocolName)
            free(hostC)
            protocols.deallocate()
            foreignLoops.deallocate()
        }
        var proto = lws_protocols()
        proto.name = UnsafePointer(protocolName)
        proto.callback = webSocketServerCallback
        // Two pointers: the WebSocket connection, or the HTTP exchange, of this session.
        proto.per_session_data_size = 2 * MemoryLayout<UnsafeMutableRawPointer?>.size
        proto.rx_buffer_size = 65536
        protocols.initialize(to: proto)
        (protocols + 1).initialize(to: lws_protocols())
        foreignLoops.initialize(to: loop)

        var info = lws_context_creation_info()
        info.port = Int32(self.configuration.port)
        info.iface = UnsafePointer(hostC)
        info.protocols = UnsafePointer(protocols)
        info.gid = -1
        info.uid = -1
        info.pt_serv_buf_size = 65536
        info.timeout_secs = UInt32(self.configuration.handshakeTimeoutSeconds)
        info.timeout_secs_ah_idle = UInt32(self.configuration.handshakeTimeoutSeconds)
        info.ka_time = 30
        info.ka_probes = 3
        info.ka_interval = 10
        info.foreign_loops = foreignLoops
        info.user = Unmanaged.passUnretained(self).toOpaque()
        var options = UInt64(LWS_SERVER_OPTION_LIBEV) | UInt64(LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND)
        if !self.configuration.host.contains(":") {
            // lws 4.1 binds an IPv4 literal to *every* interface when IPv6 is on (libs-notes §4.4).
            options |= UInt64(LWS_SERVER_OPTION_DISABLE_IPV6)
        }
        info.options = options

        lws_set_log_level(LLL_ERR | LLL_WARN, lwsLogEmitter)
        guard let context = lws_create_context(&info) else {
            throw IngestError.serverStart(
                reason: "cannot listen on \(self.configuration.host):\(self.configuration.port) (address in use, or not an address of this machine)")
        }
        let stopAlreadyRequested = self.control.withLock { control -> Bool in
            control.context = context
            return control.stopRequested
        }
        let port = Int(lws_get_vhost_listen_port(lws_get_vhost_by_name(context, "default")))
        self.scheduleTick(context: context)
        onListening(port)
        if stopAlreadyRequested { lws_cancel_service(context) }

        _ = clws_ev_run(loop)

        self.control.withLock { $0.context = nil }
        if let timer = self.timer {
            lws_sul_cancel(timer.assumingMemoryBound(to: lws_sorted_usec_list_t.self))
        }
        // Connections still open are closed here; their CLOSED callbacks finish their streams.
        lws_context_destroy(context)
        clws_ev_run_nowait(loop)
        self.timer?.deallocate()
        self.timer = nil
    }

    private static func isAnyAddress(_ host: String) -> Bool { host == "0.0.0.0" || host == "::" || host == "*" }

    private func scheduleTick(context: OpaquePointer) {
        if self.timer == nil {
            // The timer element is followed by a pointer back to this server, so the C callback,
            // which only receives the element, can find its way home.
            let size = MemoryLayout<lws_sorted_usec_list_t>.stride + MemoryLayout<UnsafeMutableRawPointer>.size
            let raw = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
            raw.initializeMemory(as: UInt8.self, repeating: 0, count: size)
            raw.storeBytes(of: Unmanaged.passUnretained(self).toOpaque(), toByteOffset: MemoryLayout<lws_sorted_usec_list_t>.stride, as: UnsafeMutableRawPointer.self)
            self.timer = raw
        }
        lws_sul_schedule(
            context, 0, self.timer!.assumingMemoryBound(to: lws_sorted_usec_list_t.self), webSocketServerTick,
            lws_usec_t(self.configuration.tickMilliseconds * 1000))
    }

    fileprivate func tick() {
        let now = Self.monotonicMs()
        self.handler.tick(monotonicMs: now)
        if self.stopping, self.openConnections == 0 || now >= self.stopDeadline {
            if let loop { clws_ev_break_all(loop) }
            return
        }
        if let context = self.control.withLock({ $0.context }) { self.scheduleTick(context: context) }
    }

    fileprivate func wakeUp() {
        guard !self.shutdownAnnounced, self.control.withLock({ $0.stopRequested }) else { return }
        self.shutdownAnnounced = true
        self.stopping = true
        self.stopDeadline = Self.monotonicMs() + self.configuration.shutdownGraceMilliseconds
        self.logger.info("shutting down: finishing open streams", metadata: ["open_connections": "\(self.openConnections)"])
        self.handler.shutdownRequested()
        if self.openConnections == 0, let loop { clws_ev_break_all(loop) }
    }

    static func monotonicMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    // MARK: - Callbacks (service thread)

    fileprivate func handle(
        wsi: OpaquePointer?, reason: lws_callback_reasons, user: UnsafeMutableRawPointer?, input: UnsafeMutableRawPointer?, length: Int
    ) -> Int32 {
        switch reason {
        case LWS_CALLBACK_RECEIVE:
            guard let wsi, let connection = Self.connection(in: user), let input else { return 0 }
            return self.receive(wsi: wsi, connection: connection, bytes: input, count: length)

        case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
            guard let wsi else { return 1 }
            if self.stopping { return self.refuse(wsi, status: 503, reason: "server is shutting down") }
            let request = self.upgradeRequest(wsi)
            switch self.handler.shouldAccept(request) {
            case .accept: return 0
            case .reject(let status, let reason): return self.refuse(wsi, status: status, reason: reason)
            }

        case LWS_CALLBACK_ESTABLISHED:
            guard let wsi, let user else { return -1 }
            self.nextConnectionID += 1
            let request = self.upgradeRequest(wsi)
            let connection = WebSocketConnection(id: self.nextConnectionID, remoteAddress: request.remoteAddress)
            connection.requestWritable = { lws_callback_on_writable(wsi) }
            user.storeBytes(of: Unmanaged.passRetained(connection).toOpaque(), as: UnsafeMutableRawPointer?.self)
            self.openConnections += 1
            self.handler.opened(connection, request: request)
            return 0

        case LWS_CALLBACK_SERVER_WRITEABLE:
            guard let wsi, let connection = Self.connection(in: user), let close = connection.pendingClose else { return 0 }
            var reason = Array(close.reason.utf8)
            lws_close_reason(wsi, lws_close_status(rawValue: UInt32(close.code.rawValue)), &reason, reason.count)
            return -1

        case LWS_CALLBACK_CLOSED:
            guard let user, let raw = user.load(as: UnsafeMutableRawPointer?.self) else { return 0 }
            user.storeBytes(of: nil, as: UnsafeMutableRawPointer?.self)
            let connection = Unmanaged<WebSocketConnection>.fromOpaque(raw).takeRetainedValue()
            connection.requestWritable = nil
            self.openConnections -= 1
            self.handler.closed(connection)
            return 0

        case LWS_CALLBACK_HTTP:
            guard let wsi, let user else { return -1 }
            return self.startHTTP(wsi: wsi, user: user, path: input.map { String(cString: $0.assumingMemoryBound(to: CChar.self)) } ?? "/")

        case LWS_CALLBACK_HTTP_BODY:
            return 0  // request bodies are not used by any endpoint yet: drained and ignored

        case LWS_CALLBACK_HTTP_WRITEABLE:
            guard let wsi, let exchange = Self.exchange(in: user) else { return -1 }
            return self.writeHTTPBody(wsi: wsi, exchange: exchange, user: user!)

        case LWS_CALLBACK_CLOSED_HTTP, LWS_CALLBACK_HTTP_DROP_PROTOCOL:
            Self.releaseExchange(in: user)
            return lws_callback_http_dummy(wsi, reason, user, input, length)

        case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
            // lws 4.1 accepts without close-on-exec: a child process (a converter, a test's outside
            // reader) would inherit the socket and keep a connection open after exorec closed it.
            let fd = Int32(truncatingIfNeeded: Int(bitPattern: input))
            if fd >= 0 { _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC) }
            return 0

        case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
            self.wakeUp()
            return 0

        default:
            return lws_callback_http_dummy(wsi, reason, user, input, length)
        }
    }

    /// The hot path: deliver whole messages without copying; reassemble only when lws splits one.
    private func receive(wsi: OpaquePointer, connection: WebSocketConnection, bytes: UnsafeMutableRawPointer, count: Int) -> Int32 {
        if connection.isClosing { return 0 }
        let isFinal = lws_is_final_fragment(wsi) != 0
        if connection.assemblyCount == 0 && !connection.overflowed {
            connection.assemblyIsBinary = lws_frame_is_binary(wsi) != 0
            if isFinal {
                if count > self.configuration.maxMessageBytes { return self.tooLarge(wsi: wsi, connection: connection) }
                self.handler.received(UnsafeRawBufferPointer(start: bytes, count: count), isBinary: connection.assemblyIsBinary, on: connection)
                return self.closeIfRequested(wsi: wsi, connection: connection)
            }
        }
        guard connection.append(bytes, count: count, limit: self.configuration.maxMessageBytes) else {
            return self.tooLarge(wsi: wsi, connection: connection)
        }
        if isFinal {
            let message = UnsafeRawBufferPointer(start: connection.assembly, count: connection.assemblyCount)
            connection.assemblyCount = 0
            self.handler.received(message, isBinary: connection.assemblyIsBinary, on: connection)
            return self.closeIfRequested(wsi: wsi, connection: connection)
        }
        return 0
    }

    private func tooLarge(wsi: OpaquePointer, connection: WebSocketConnection) -> Int32 {
        connection.overflowed = true
        connection.assemblyCount = 0
        self.handler.messageTooLarge(on: connection)
        connection.close(.messageTooBig, reason: "message larger than \(self.configuration.maxMessageBytes) bytes")
        return self.closeIfRequested(wsi: wsi, connection: connection)
    }

    private func closeIfRequested(wsi: OpaquePointer, connection: WebSocketConnection) -> Int32 {
        guard let close = connection.pendingClose else { return 0 }
        var reason = Array(close.reason.utf8)
        lws_close_reason(wsi, lws_close_status(rawValue: UInt32(close.code.rawValue)), &reason, reason.count)
        return -1
    }

    private func refuse(_ wsi: OpaquePointer, status: Int, reason: String) -> Int32 {
        // lws answers with a small HTML page; the status line is what clients act on.
        lws_return_http_status(wsi, UInt32(status), reason)
        return 1
    }

    private func upgradeRequest(_ wsi: OpaquePointer) -> UpgradeRequest {
        UpgradeRequest(
            path: Self.header(wsi, WSI_TOKEN_GET_URI) ?? "/",
            query: Self.queryParameters(wsi),
            authorization: Self.header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION),
            remoteAddress: Self.peer(wsi))
    }

    private static func header(_ wsi: OpaquePointer, _ token: lws_token_indexes) -> String? {
        let length = Int(lws_hdr_total_length(wsi, token))
        guard length > 0, length < 16384 else { return nil }
        var buffer = [CChar](repeating: 0, count: length + 1)
        guard lws_hdr_copy(wsi, &buffer, Int32(buffer.count), token) >= 0 else { return nil }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    private static func queryParameters(_ wsi: OpaquePointer) -> [(name: String, value: String)] {
        var result: [(name: String, value: String)] = []
        var buffer = [CChar](repeating: 0, count: 2048)
        var index: Int32 = 0
        while index < 64 {
            let n = lws_hdr_copy_fragment(wsi, &buffer, Int32(buffer.count), WSI_TOKEN_HTTP_URI_ARGS, index)
            if n < 0 { break }
            let fragment = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            if let equals = fragment.firstIndex(of: "=") {
                result.append((String(fragment[..<equals]), String(fragment[fragment.index(after: equals)...])))
            } else if !fragment.isEmpty {
                result.append((fragment, ""))
            }
            index += 1
        }
        return result
    }

    private static func peer(_ wsi: OpaquePointer) -> String {
        var buffer = [CChar](repeating: 0, count: 128)
        guard lws_get_peer_simple(wsi, &buffer, buffer.count) != nil else { return "unknown" }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    // MARK: - HTTP

    private final class HTTPExchange {
        let response: HTTPResponse
        init(response: HTTPResponse) { self.response = response }
    }

    private func startHTTP(wsi: OpaquePointer, user: UnsafeMutableRawPointer, path: String) -> Int32 {
        let method: String
        if lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0 {
            method = "GET"
        } else if lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0 {
            method = "POST"
        } else if lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0 {
            method = "HEAD"
        } else {
            method = "OTHER"
        }
        let response = self.handler.respond(to: HTTPRequest(method: method, path: path, remoteAddress: Self.peer(wsi)))
        Self.releaseExchange(in: user)
        let exchange = HTTPExchange(response: response)
        (user + MemoryLayout<UnsafeMutableRawPointer?>.size).storeBytes(
            of: Unmanaged.passRetained(exchange).toOpaque(), as: UnsafeMutableRawPointer?.self)

        let pre = clws_pre()
        let capacity = pre + 1024
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        defer { buffer.deallocate() }
        let start = buffer + pre
        var cursor: UnsafeMutablePointer<UInt8>? = start
        let end = buffer + capacity - 1
        let failed = response.contentType.withCString { contentType in
            lws_add_http_common_headers(wsi, UInt32(response.status), contentType, lws_filepos_t(response.body.count), &cursor, end) != 0
        }
        if failed || lws_finalize_write_http_header(wsi, start, &cursor, end) != 0 { return -1 }
        lws_callback_on_writable(wsi)
        return 0
    }

    private func writeHTTPBody(wsi: OpaquePointer, exchange: HTTPExchange, user: UnsafeMutableRawPointer) -> Int32 {
        let body = exchange.response.body
        let pre = clws_pre()
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: pre + max(body.count, 1))
        defer { buffer.deallocate() }
        body.withUnsafeBufferPointer { (buffer + pre).update(from: $0.baseAddress!, count: body.count) }
        let written = lws_write(wsi, buffer + pre, body.count, LWS_WRITE_HTTP_FINAL)
        Self.releaseExchange(in: user)
        if written < body.count { return -1 }
        return lws_http_transaction_completed(wsi) != 0 ? -1 : 0
    }

    private static func connection(in user: UnsafeMutableRawPointer?) -> WebSocketConnection? {
        guard let raw = user?.load(as: UnsafeMutableRawPointer?.self) else { return nil }
        return Unmanaged<WebSocketConnection>.fromOpaque(raw).takeUnretainedValue()
    }

    private static func exchange(in user: UnsafeMutableRawPointer?) -> HTTPExchange? {
        guard let slot = user.map({ $0 + MemoryLayout<UnsafeMutableRawPointer?>.size }),
            let raw = slot.load(as: UnsafeMutableRawPointer?.self)
        else { return nil }
        return Unmanaged<HTTPExchange>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Keep-alive reuses the session block for the next request, so the slot is emptied after use.
    private static func releaseExchange(in user: UnsafeMutableRawPointer?) {
        guard let slot = user.map({ $0 + MemoryLayout<UnsafeMutableRawPointer?>.size }),
            let raw = slot.load(as: UnsafeMutableRawPointer?.self)
        else { return }
        slot.storeBytes(of: nil, as: UnsafeMutableRawPointer?.self)
        Unmanaged<HTTPExchange>.fromOpaque(raw).release()
    }

    fileprivate static func server(for wsi: OpaquePointer?) -> WebSocketServer? {
        guard let wsi, let context = lws_get_context(wsi), let user = lws_context_user(context) else { return nil }
        return Unmanaged<WebSocketServer>.fromOpaque(user).takeUnretainedValue()
    }

    fileprivate static func server(forTimer sul: UnsafeMutablePointer<lws_sorted_usec_list_t>?) -> WebSocketServer? {
        guard let sul else { return nil }
        let raw = UnsafeMutableRawPointer(sul).load(fromByteOffset: MemoryLayout<lws_sorted_usec_list_t>.stride, as: UnsafeMutableRawPointer.self)
        return Unmanaged<WebSocketServer>.fromOpaque(raw).takeUnretainedValue()
    }
}

// C callbacks are global functions, outside main.swift, so they are nonisolated (libs-notes §5):
// a closure written in top-level code would be @MainActor and trap on the service thread.

private func webSocketServerCallback(
    wsi: OpaquePointer?, reason: lws_callback_reasons, user: UnsafeMutableRawPointer?, input: UnsafeMutableRawPointer?, length: Int
) -> Int32 {
    guard let server = WebSocketServer.server(for: wsi) else {
        return lws_callback_http_dummy(wsi, reason, user, input, length)
    }
    return server.handle(wsi: wsi, reason: reason, user: user, input: input, length: length)
}

private func webSocketServerTick(_ sul: UnsafeMutablePointer<lws_sorted_usec_list_t>?) {
    WebSocketServer.server(forTimer: sul)?.tick()
}

private let lwsLogger = Logger(label: "exorec.lws")

private func lwsLogEmitter(_ level: Int32, _ line: UnsafePointer<CChar>?) {
    guard let line else { return }
    let text = String(cString: line).trimmingCharacters(in: .whitespacesAndNewlines)
    if level & LLL_ERR != 0 {
        lwsLogger.error("\(text)")
    } else {
        lwsLogger.warning("\(text)")
    }
}
