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
///
/// HTTP answers may come later, from another thread (``HTTPResponder``): the exchange is parked
/// under an id, the answer is queued in `control` and the loop woken with `lws_cancel_service`;
/// on `LWS_CALLBACK_EVENT_WAIT_CANCELLED` the service thread looks the id up and asks for a
/// writable callback. A connection that closed meanwhile has left the table, so its answer finds
/// nothing and is dropped: no other thread ever holds a `wsi`.
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
        /// Deferred HTTP answers waiting for the service thread, by exchange id.
        var answers: [(exchangeID: UInt64, answer: DeferredAnswer)] = []
        /// Streamed answers with new body bytes (or their end) for the service thread.
        var streamsToWrite: [UInt64] = []
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
    private var nextExchangeID: UInt64 = 0
    /// HTTP exchanges handed to the handler whose answer is not written yet, by id. An entry
    /// leaves when its answer is written or its connection closes, so the `wsi` kept here is
    /// always alive.
    private var deferred: [UInt64: (wsi: OpaquePointer, exchange: HTTPExchange)] = [:]
    /// Bodies of refused requests up to this size are read and dropped so the connection can be
    /// kept alive; a larger or unknown-length body closes the connection after the answer.
    private static let maxDrainBytes = 1 << 20

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
        if self.stopping, (self.openConnections == 0 && self.deferred.isEmpty) || now >= self.stopDeadline {
            if let loop { clws_ev_break_all(loop) }
            return
        }
        if let context = self.control.withLock({ $0.context }) { self.scheduleTick(context: context) }
    }

    /// `lws_cancel_service` was called: deliver queued HTTP answers, and begin a requested stop.
    fileprivate func wakeUp() {
        let (answers, streamsToWrite, stopRequested) = self.control.withLock { control in
            var answers: [(exchangeID: UInt64, answer: DeferredAnswer)] = []
            var streamsToWrite: [UInt64] = []
            swap(&answers, &control.answers)
            swap(&streamsToWrite, &control.streamsToWrite)
            return (answers, streamsToWrite, control.stopRequested)
        }
        for answer in answers { self.answer(answer.exchangeID, with: answer.answer) }
        for exchangeID in streamsToWrite {
            guard let (wsi, exchange) = self.deferred[exchangeID].map({ ($0.wsi, $0.exchange) }), case .streaming = exchange.state else { continue }
            lws_callback_on_writable(wsi)
        }
        guard !self.shutdownAnnounced, stopRequested else { return }
        self.shutdownAnnounced = true
        self.stopping = true
        self.stopDeadline = Self.monotonicMs() + self.configuration.shutdownGraceMilliseconds
        self.logger.info(
            "shutting down: finishing open streams",
            metadata: ["open_connections": "\(self.openConnections)", "pending_http_answers": "\(self.deferred.count)"])
        self.handler.shutdownRequested()
        if self.openConnections == 0, self.deferred.isEmpty, let loop { clws_ev_break_all(loop) }
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
            guard let wsi, let exchange = Self.exchange(in: user), let input else { return 0 }
            self.appendBody(wsi: wsi, exchange: exchange, bytes: UnsafeRawBufferPointer(start: input, count: length))
            return 0

        case LWS_CALLBACK_HTTP_BODY_COMPLETION:
            guard let wsi, let exchange = Self.exchange(in: user), case .readingBody = exchange.state else { return 0 }
            self.handOff(wsi: wsi, exchange: exchange)
            return 0

        case LWS_CALLBACK_HTTP_WRITEABLE:
            guard let wsi, let user, let exchange = Self.exchange(in: user) else { return 0 }
            return self.writeHTTP(wsi: wsi, exchange: exchange, user: user)

        case LWS_CALLBACK_CLOSED_HTTP, LWS_CALLBACK_HTTP_DROP_PROTOCOL:
            self.releaseExchange(in: user)
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

    /// One HTTP request and its answer, on the service thread. Kept alive-connection by
    /// alive-connection in the session block's second slot.
    private final class HTTPExchange {
        enum State {
            /// Collecting the body (at most `limit` bytes).
            case readingBody(limit: Int)
            /// Handed to the handler; the answer has not arrived.
            case waiting
            /// The answer is known; headers go out first, the body at the next writable callback.
            case answering(HTTPResponse, headersSent: Bool, close: Bool)
            /// A streamed answer: headers first, then the body's chunks as its writer queues them.
            case streaming(HTTPStreamHead, HTTPBodyStream, headersSent: Bool)
        }

        let id: UInt64
        let request: HTTPRequest
        var state: State
        var body: [UInt8] = []

        init(id: UInt64, request: HTTPRequest, state: State) {
            self.id = id
            self.request = request
            self.state = state
        }
    }

    private func startHTTP(wsi: OpaquePointer, user: UnsafeMutableRawPointer, path: String) -> Int32 {
        let request = Self.httpRequest(wsi, path: path)
        self.releaseExchange(in: user)
        self.nextExchangeID += 1
        let exchange: HTTPExchange
        switch self.handler.route(request) {
        case .respond(let response):
            // An answer before the body: lws reads and drops a body it knows the length of
            // (LRS_DISCARD_BODY); one too large or of unknown length ends the connection instead.
            let close = request.hasBody && (request.contentLength ?? Int.max) > Self.maxDrainBytes
            exchange = HTTPExchange(id: self.nextExchangeID, request: request, state: .answering(response, headersSent: false, close: close))
        case .readBody(let limit):
            if let length = request.contentLength, length > limit {
                exchange = HTTPExchange(
                    id: self.nextExchangeID, request: request,
                    state: .answering(.error(413, "the body of \(length) bytes is larger than the limit of \(limit) bytes"), headersSent: false, close: true))
            } else if request.hasBody, request.contentLength == nil {
                // lws 4.1 cannot read chunked bodies; without a length it would wait for 100 MiB.
                exchange = HTTPExchange(
                    id: self.nextExchangeID, request: request,
                    state: .answering(.error(411, "a Content-Length is required (chunked bodies are not accepted)"), headersSent: false, close: true))
            } else {
                exchange = HTTPExchange(id: self.nextExchangeID, request: request, state: .readingBody(limit: limit))
                exchange.body.reserveCapacity(min(request.contentLength ?? 0, limit))
            }
        }
        (user + MemoryLayout<UnsafeMutableRawPointer?>.size).storeBytes(
            of: Unmanaged.passRetained(exchange).toOpaque(), as: UnsafeMutableRawPointer?.self)

        switch exchange.state {
        case .answering(let response, _, let close):
            guard self.writeHTTPHeaders(wsi: wsi, response: response, close: close) else { return -1 }
            exchange.state = .answering(response, headersSent: true, close: close)
            lws_callback_on_writable(wsi)
        case .readingBody:
            // lws delivers body callbacks only for a POST, or a PUT/PATCH with a non-zero length.
            if !request.hasBody || (request.contentLength == 0 && request.method != "POST") {
                self.handOff(wsi: wsi, exchange: exchange)
            }
        case .waiting, .streaming:
            break
        }
        return 0
    }

    private func appendBody(wsi: OpaquePointer, exchange: HTTPExchange, bytes: UnsafeRawBufferPointer) {
        guard case .readingBody(let limit) = exchange.state else { return }  // answered early: dropped
        guard exchange.body.count + bytes.count <= limit else {
            exchange.body = []
            exchange.state = .answering(.error(413, "the body is larger than the limit of \(limit) bytes"), headersSent: false, close: true)
            lws_callback_on_writable(wsi)
            return
        }
        exchange.body.append(contentsOf: bytes)
    }

    /// The body is complete: park the exchange under its id and give the request to the handler.
    private func handOff(wsi: OpaquePointer, exchange: HTTPExchange) {
        exchange.state = .waiting
        // lws arms a content timeout before LWS_CALLBACK_HTTP and clears it only after a body;
        // a parked exchange waits for its answer, not for the client.
        lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0)
        self.deferred[exchange.id] = (wsi, exchange)
        let body = exchange.body
        exchange.body = []
        self.handler.received(exchange.request, body: body, responder: HTTPResponder(exchangeID: exchange.id, server: self))
    }

    /// Queues an answer from any thread and wakes the service thread (see ``HTTPResponder``).
    func deliver(_ answer: DeferredAnswer, to exchangeID: UInt64) {
        let delivered = self.control.withLock { control in
            guard let context = control.context else { return false }  // stopped: nobody left to answer
            control.answers.append((exchangeID, answer))
            lws_cancel_service(context)
            return true
        }
        if !delivered, case .streamed(_, let body) = answer { body.clientLeft() }
    }

    /// From any thread: a streamed answer has new bytes, or ended.
    func bodyStreamHasWork(_ body: HTTPBodyStream) {
        let running = self.control.withLock { control in
            guard let context = control.context else { return false }
            control.streamsToWrite.append(body.exchangeID)
            lws_cancel_service(context)
            return true
        }
        if !running { body.clientLeft() }
    }

    /// Service thread: an answer arrived for a parked exchange.
    private func answer(_ exchangeID: UInt64, with answer: DeferredAnswer) {
        guard let (wsi, exchange) = self.deferred[exchangeID].map({ ($0.wsi, $0.exchange) }), case .waiting = exchange.state else {
            self.logger.debug("dropped an HTTP answer: the client left first", metadata: ["exchange": "\(exchangeID)"])
            if case .streamed(_, let body) = answer { body.clientLeft() }
            return
        }
        switch answer {
        case .complete(let response): exchange.state = .answering(response, headersSent: false, close: false)
        case .streamed(let head, let body): exchange.state = .streaming(head, body, headersSent: false)
        }
        lws_callback_on_writable(wsi)
    }

    private func writeHTTP(wsi: OpaquePointer, exchange: HTTPExchange, user: UnsafeMutableRawPointer) -> Int32 {
        if case .streaming(let head, let body, let headersSent) = exchange.state {
            return self.writeStreamed(wsi: wsi, exchange: exchange, user: user, head: head, body: body, headersSent: headersSent)
        }
        guard case .answering(let response, let headersSent, let close) = exchange.state else { return 0 }
        if !headersSent {
            // One write per writable callback: the headers now, the body at the next one.
            guard self.writeHTTPHeaders(wsi: wsi, response: response, close: close) else { return -1 }
            exchange.state = .answering(response, headersSent: true, close: close)
            lws_callback_on_writable(wsi)
            return 0
        }
        let body = response.body
        let complete = Self.writeBody(wsi, body, final: true)
        // Released before the transaction completes: a pipelined request may start at once.
        self.releaseExchange(in: user)
        if !complete || close { return -1 }
        return lws_http_transaction_completed(wsi) != 0 ? -1 : 0
    }

    /// One step of a streamed answer: the headers, or the next chunk, or the end.
    private func writeStreamed(
        wsi: OpaquePointer, exchange: HTTPExchange, user: UnsafeMutableRawPointer, head: HTTPStreamHead, body: HTTPBodyStream, headersSent: Bool
    ) -> Int32 {
        // Without a length the body ends when the connection does.
        let close = head.contentLength == nil
        if !headersSent {
            guard
                self.writeHTTPHeaders(
                    wsi: wsi, status: head.status, contentType: head.contentType, contentLength: head.contentLength, headers: head.headers, close: close)
            else {
                body.clientLeft()
                return -1
            }
            exchange.state = .streaming(head, body, headersSent: true)
            lws_callback_on_writable(wsi)
            return 0
        }
        if body.isAborted {
            body.clientLeft()
            return -1
        }
        guard let (chunk, isLast) = body.takeChunk() else { return 0 }  // nothing yet: the writer wakes the loop
        if !chunk.isEmpty, !Self.writeBody(wsi, chunk, final: isLast) {
            body.clientLeft()
            return -1
        }
        guard isLast else {
            lws_callback_on_writable(wsi)
            return 0
        }
        self.releaseExchange(in: user)
        if close { return -1 }
        return lws_http_transaction_completed(wsi) != 0 ? -1 : 0
    }

    /// Writes body bytes behind the `LWS_PRE` room lws needs; false when lws did not take them all.
    private static func writeBody(_ wsi: OpaquePointer, _ bytes: [UInt8], final: Bool) -> Bool {
        let pre = clws_pre()
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: pre + max(bytes.count, 1))
        defer { buffer.deallocate() }
        bytes.withUnsafeBufferPointer { if let base = $0.baseAddress { (buffer + pre).update(from: base, count: bytes.count) } }
        return lws_write(wsi, buffer + pre, bytes.count, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) >= bytes.count
    }

    private func writeHTTPHeaders(wsi: OpaquePointer, response: HTTPResponse, close: Bool) -> Bool {
        self.writeHTTPHeaders(
            wsi: wsi, status: response.status, contentType: response.contentType, contentLength: Int64(response.body.count),
            headers: response.headers, close: close)
    }

    private func writeHTTPHeaders(
        wsi: OpaquePointer, status: Int, contentType: String, contentLength: Int64?, headers: [String: String], close: Bool
    ) -> Bool {
        let pre = clws_pre()
        let capacity = pre + 1024 + headers.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 4 }
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        defer { buffer.deallocate() }
        let start = buffer + pre
        var cursor: UnsafeMutablePointer<UInt8>? = start
        let end = buffer + capacity - 1
        let length = contentLength.map { lws_filepos_t($0) } ?? lws_filepos_t.max  // LWS_ILLEGAL_HTTP_CONTENT_LEN: no Content-Length
        let failed = contentType.withCString { contentType in
            lws_add_http_common_headers(wsi, UInt32(status), contentType, length, &cursor, end) != 0
        }
        if failed { return false }
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
            var nameBytes = Array((name.lowercased() + ":").utf8) + [0]
            var valueBytes = Array(value.utf8)
            if lws_add_http_header_by_name(wsi, &nameBytes, &valueBytes, Int32(valueBytes.count), &cursor, end) != 0 { return false }
        }
        if close {
            var value = Array("close".utf8)
            if lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, &value, Int32(value.count), &cursor, end) != 0 { return false }
        }
        return lws_finalize_write_http_header(wsi, start, &cursor, end) == 0
    }

    private static func httpRequest(_ wsi: OpaquePointer, path: String) -> HTTPRequest {
        let methods: [(lws_token_indexes, String)] = [
            (WSI_TOKEN_GET_URI, "GET"), (WSI_TOKEN_POST_URI, "POST"), (WSI_TOKEN_HEAD_URI, "HEAD"), (WSI_TOKEN_PUT_URI, "PUT"),
            (WSI_TOKEN_PATCH_URI, "PATCH"), (WSI_TOKEN_DELETE_URI, "DELETE"), (WSI_TOKEN_OPTIONS_URI, "OPTIONS"),
        ]
        let method: String = methods.first(where: { lws_hdr_total_length(wsi, $0.0) > 0 }).map { $0.1 } ?? "OTHER"
        let contentType: String? = Self.header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE)
        let lengthText: String? = Self.header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH)
        let contentLength: Int? = lengthText.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return HTTPRequest(
            method: method, path: path, query: Self.queryParameters(wsi), contentType: contentType, contentLength: contentLength,
            remoteAddress: Self.peer(wsi), authorization: Self.header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION),
            range: Self.header(wsi, WSI_TOKEN_HTTP_RANGE) ?? Self.customHeader(wsi, "range:"), accept: Self.header(wsi, WSI_TOKEN_HTTP_ACCEPT),
            lastEventID: Self.customHeader(wsi, "last-event-id:"))
    }

    /// A header lws has no token for (name in lower case, with its colon).
    private static func customHeader(_ wsi: OpaquePointer, _ name: String) -> String? {
        name.withCString { cName in
            let nameLength = Int32(strlen(cName))
            let length = Int(lws_hdr_custom_length(wsi, cName, nameLength))
            guard length > 0, length < 4096 else { return nil }
            var buffer = [CChar](repeating: 0, count: length + 1)
            guard lws_hdr_custom_copy(wsi, &buffer, Int32(buffer.count), cName, nameLength) >= 0 else { return nil }
            return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        }
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

    /// Keep-alive reuses the session block for the next request, so the slot is emptied after use;
    /// a parked exchange leaves the table with it, so a late answer finds nothing.
    private func releaseExchange(in user: UnsafeMutableRawPointer?) {
        guard let slot = user.map({ $0 + MemoryLayout<UnsafeMutableRawPointer?>.size }),
            let raw = slot.load(as: UnsafeMutableRawPointer?.self)
        else { return }
        slot.storeBytes(of: nil, as: UnsafeMutableRawPointer?.self)
        let exchange = Unmanaged<HTTPExchange>.fromOpaque(raw).takeRetainedValue()
        self.deferred.removeValue(forKey: exchange.id)
        // A writer still streaming into a closed connection stops at its next write.
        if case .streaming(_, let body, _) = exchange.state { body.clientLeft() }
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
