import CLibWebSockets
import ExotelKit
import Foundation
import Logging
import MediaStore
import Synchronization

/// How `WebSocketServer` listens and what it bounds.
public struct WebSocketServerConfiguration: Sendable, Hashable {
    /// An IPv4 or IPv6 literal, `0.0.0.0` / `::` for every interface. Loopback by default.
    public var host: String = "127.0.0.1"
    /// 0 picks a free port (reported by `onListening`).
    public var port: Int = 8080
    /// Messages larger than this are refused with close code 1009.
    public var maxMessageBytes: Int = 1 << 20
    /// Seconds a client may take to complete its HTTP request or upgrade (and the TLS handshake);
    /// also how long an idle keep-alive connection is kept.
    public var handshakeTimeoutSeconds: Int = 10
    /// How long shutdown waits for clients to acknowledge their close frames.
    public var shutdownGraceMilliseconds: Int64 = 2000
    /// Period of the handler's `tick`: bounds how late age-based work (flushing audio) runs.
    public var tickMilliseconds: Int64 = 25
    /// Connections that have not completed an upgrade, from all sources together.
    public var maxPendingConnections: Int = 1024
    /// Connections that have not completed an upgrade, from one source address.
    public var maxPendingPerSource: Int = 64
    /// Descriptors never given to connections: finalizing streams, the catalog and the other doors
    /// draw on them (``DescriptorBudget``).
    public var descriptorReserve: Int = 128
    /// Descriptors that sockets of the same process outside this door may hold at once (the HTTP
    /// doors' connection caps): kept out of the budget too, so their traffic cannot eat into the
    /// reserve that finalizing streams relies on.
    public var descriptorsForOtherDoors: Int = 0
    /// Terminate TLS (`wss://`) with this certificate and key; nil serves plain `ws://`.
    public var tls: TLS?

    /// A PEM certificate (chain) and its private key, for `wss://`.
    public struct TLS: Sendable, Hashable {
        public var certificatePath: String
        public var privateKeyPath: String

        public init(certificatePath: String, privateKeyPath: String) {
            self.certificatePath = certificatePath
            self.privateKeyPath = privateKeyPath
        }
    }

    public init() {}
}

/// Owns the `lws_context`, its libev (epoll) loop and the service thread; the only type that calls
/// libwebsockets.
///
/// Every callback runs on the service thread, and so does everything the handler does. `@unchecked
/// Sendable` because other threads only touch `control` (a `Mutex`) and `lws_cancel_service`,
/// which libwebsockets documents as safe to call from any thread.
///
/// The door's plain-HTTP side is deliberately tiny: the handler answers each request from its head
/// at once (``WebSocketServerHandler/respond(to:)``), in one write; a request body is never read
/// (the connection closes after the answer), and nothing is parked or streamed.
///
/// Resources are bounded before anything is read: a just-accepted socket is closed at once
/// (`LWS_CALLBACK_FILTER_NETWORK_CONNECTION`) when it would eat into the ``DescriptorBudget``'s
/// reserve, or when too many connections that have not upgraded are open, in total or from its
/// source address. libwebsockets' own log lines are rate-limited, and an accept error pauses
/// accepting for a moment instead of spinning.
public final class WebSocketServer<Handler: WebSocketServerHandler>: @unchecked Sendable {
    public typealias Configuration = WebSocketServerConfiguration

    public let configuration: Configuration
    private let handler: Handler
    private let logger: Logger

    private struct Control: @unchecked Sendable {
        var context: OpaquePointer?
        var stopRequested = false
        var budget: DescriptorBudget?
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
    private var budget = DescriptorBudget(limit: 1024, baseline: 0, reserve: 0)
    /// Every connection lws holds a socket for, by `wsi`, from its creation to its destruction.
    private var peers: [OpaquePointer: Peer] = [:]
    /// Connections that have not upgraded, per source address, and in total.
    private var pendingBySource: [String: Int] = [:]
    private var pendingCount = 0
    /// The source of the socket that passed the network filter; its `wsi` is created next.
    private var admittedSource: String?
    private var refusalLog = RateLimitedLog(intervalMs: 10_000)
    private var lwsLog = RateLimitedLog(intervalMs: 10_000)
    /// After an accept error the listening socket is not read until then (monotonic ms).
    private var acceptPausedUntil: Int64?
    private var acceptPause: Int64 = 0
    private var lastAcceptError: Int64 = 0

    private struct Peer {
        var source: String
        var upgraded = false
    }

    /// Where the C callbacks come in; made here, where `Handler` is known (see ``LWSCallbacks``).
    private var callbacks: LWSCallbacks?

    public init(configuration: Configuration, handler: Handler, logger: Logger) {
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
        // Unretained: the callbacks only run inside `serve`, while `run` holds the server (and no
        // retain and release of it per callback).
        let server = Unmanaged.passUnretained(self)
        self.callbacks = LWSCallbacks(
            handle: { wsi, reason, user, input, length in
                server._withUnsafeGuaranteedRef {
                    $0.handle(wsi: wsi, reason: reason, user: user, input: input, length: length)
                }
            },
            tick: { server._withUnsafeGuaranteedRef { $0.tick() } },
            logged: { level, text in server._withUnsafeGuaranteedRef { $0.lwsLogged(level: level, text: text) } }
        )
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

    /// The descriptor budget in force while the server runs (nil before it starts).
    public var descriptorBudget: DescriptorBudget? { self.control.withLock { $0.budget } }

    private func serve(onListening: @Sendable (Int) -> Void) throws {
        guard let callbacks = self.callbacks else { return }
        guard let loop = clws_ev_loop_new_epoll() else {
            throw IngestError.serverStart(reason: "cannot create an epoll event loop (libev)")
        }
        self.loop = loop
        defer { clws_ev_loop_destroy(loop) }

        let protocolName = strdup("exorec-stream")!
        let hostC: UnsafeMutablePointer<CChar>? =
            Self.isAnyAddress(self.configuration.host) ? nil : strdup(self.configuration.host)
        let certificateC: UnsafeMutablePointer<CChar>? = self.configuration.tls.map { strdup($0.certificatePath) }
        let keyC: UnsafeMutablePointer<CChar>? = self.configuration.tls.map { strdup($0.privateKeyPath) }
        let alpnC = strdup("http/1.1")!
        let protocols = UnsafeMutablePointer<lws_protocols>.allocate(capacity: 2)
        let foreignLoops = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 1)
        defer {
            free(protocolName)
            free(hostC)
            free(certificateC)
            free(keyC)
            free(alpnC)
            protocols.deallocate()
            foreignLoops.deallocate()
        }
        var proto = lws_protocols()
        proto.name = UnsafePointer(protocolName)
        proto.callback = webSocketServerCallback
        // Two pointers: the WebSocket connection of this session and the handler's session.
        proto.per_session_data_size = MemoryLayout<SessionSlot>.size
        proto.rx_buffer_size = 65536
        protocols.initialize(to: proto)
        (protocols + 1).initialize(to: lws_protocols())
        foreignLoops.initialize(to: loop)

        // lws's own log lines come through `lwsLogEmitter` on this thread; it finds its server here.
        Thread.current.threadDictionary[LWSCallbacks.threadKey] = callbacks
        defer { Thread.current.threadDictionary.removeObject(forKey: LWSCallbacks.threadKey) }

        var info = lws_context_creation_info()
        info.port = Int32(self.configuration.port)
        info.iface = UnsafePointer(hostC)
        info.protocols = UnsafePointer(protocols)
        info.gid = -1
        info.uid = -1
        info.pt_serv_buf_size = 65536
        info.timeout_secs = UInt32(self.configuration.handshakeTimeoutSeconds)
        info.timeout_secs_ah_idle = UInt32(self.configuration.handshakeTimeoutSeconds)
        info.keepalive_timeout = Int32(self.configuration.handshakeTimeoutSeconds)
        info.ka_time = 30
        info.ka_probes = 3
        info.ka_interval = 10
        info.foreign_loops = foreignLoops
        info.user = Unmanaged.passUnretained(callbacks).toOpaque()
        var options = UInt64(LWS_SERVER_OPTION_LIBEV) | UInt64(LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND)
        if !self.configuration.host.contains(":") {
            // lws 4.1 binds an IPv4 literal to *every* interface when IPv6 is on (libs-notes §4.4).
            options |= UInt64(LWS_SERVER_OPTION_DISABLE_IPV6)
        }
        if self.configuration.tls != nil {
            options |= UInt64(LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT)
            info.ssl_cert_filepath = UnsafePointer(certificateC)
            info.ssl_private_key_filepath = UnsafePointer(keyC)
            // HTTP/1.1 only: the door's few answers and the upgrade need nothing of HTTP/2, whose
            // streams and flow control would be one more thing a client could play with.
            info.alpn = UnsafePointer(alpnC)
        }
        info.options = options

        // What is open now (libraries, the storage lock, the catalog, logs) stays open; the rest of
        // the limit, less the reserve, is the door's.
        let limits = DescriptorLimit.current()
        self.budget = DescriptorBudget(
            limit: limits.soft,
            baseline: DescriptorLimit.openCount() ?? 64,
            reserve: self.configuration.descriptorReserve + self.configuration.descriptorsForOtherDoors
        )
        let budget = self.budget
        self.control.withLock { $0.budget = budget }

        lws_set_log_level(LLL_ERR | LLL_WARN, lwsLogEmitter)
        guard let context = lws_create_context(&info) else {
            // libwebsockets does not say why; binding the address here does, when that was it.
            let address =
                self.configuration.host.contains(":")
                ? "[\(self.configuration.host)]:\(self.configuration.port)"
                : "\(self.configuration.host):\(self.configuration.port)"
            if let code = ListenFailure.bindErrno(host: self.configuration.host, port: self.configuration.port) {
                throw IngestError.serverStart(
                    reason: ListenFailure.sentence(
                        door: "stream door",
                        address: address,
                        errno: code,
                        setting: "ingest.port or --port"
                    )
                )
            }
            if self.configuration.tls != nil {
                throw IngestError.serverStart(
                    reason:
                        "cannot listen with TLS on \(self.configuration.host):\(self.configuration.port) (address in use, not an address of this machine, or a certificate and key that do not belong together)"
                )
            }
            throw IngestError.serverStart(
                reason:
                    "cannot listen on \(self.configuration.host):\(self.configuration.port) (address in use, or not an address of this machine)"
            )
        }
        let stopAlreadyRequested = self.control.withLock { control -> Bool in
            control.context = context
            return control.stopRequested
        }
        let port = Int(lws_get_vhost_listen_port(lws_get_vhost_by_name(context, "default")))
        self.listenWSI = Self.listeningSocket(port: port).flatMap { wsi_from_fd(context, $0) }
        self.scheduleTick(context: context, callbacks: callbacks)
        onListening(port)
        if stopAlreadyRequested { lws_cancel_service(context) }

        _ = clws_ev_run(loop)

        self.control.withLock { $0.context = nil }
        if let timer = self.timer {
            lws_sul_cancel(timer.assumingMemoryBound(to: lws_sorted_usec_list_t.self))
        }
        // Connections still open are closed here; their CLOSED callbacks finish their streams.
        lws_context_destroy(context)
        self.listenWSI = nil
        clws_ev_run_nowait(loop)
        self.timer?.deallocate()
        self.timer = nil
    }

    private var listenWSI: OpaquePointer?

    private static func isAnyAddress(_ host: String) -> Bool { host == "0.0.0.0" || host == "::" || host == "*" }

    /// The descriptor of this process's listening TCP socket on `port` (lws does not hand it out).
    private static func listeningSocket(port: Int) -> Int32? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            guard let fd = Int32(FileSystem.entryName(entry)) else { continue }
            var accepting: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &size) == 0, accepting == 1 else { continue }
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let named = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) == 0 }
            }
            guard named else { continue }
            let boundPort: UInt16 =
                switch Int32(address.ss_family) {
                case AF_INET:
                    withUnsafeBytes(of: &address) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
                case AF_INET6:
                    withUnsafeBytes(of: &address) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
                default: 0
                }
            if Int(boundPort) == port { return fd }
        }
        return nil
    }

    private func scheduleTick(context: OpaquePointer, callbacks: LWSCallbacks) {
        if self.timer == nil {
            // The timer element is followed by a pointer back to the callbacks, so the C callback,
            // which only receives the element, can find its way home.
            let size = MemoryLayout<lws_sorted_usec_list_t>.stride + MemoryLayout<UnsafeMutableRawPointer>.size
            let raw = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
            raw.initializeMemory(as: UInt8.self, repeating: 0, count: size)
            raw.storeBytes(
                of: Unmanaged.passUnretained(callbacks).toOpaque(),
                toByteOffset: MemoryLayout<lws_sorted_usec_list_t>.stride,
                as: UnsafeMutableRawPointer.self
            )
            self.timer = raw
        }
        lws_sul_schedule(
            context,
            0,
            self.timer!.assumingMemoryBound(to: lws_sorted_usec_list_t.self),
            webSocketServerTick,
            lws_usec_t(self.configuration.tickMilliseconds * 1000)
        )
    }

    private func tick() {
        let now = MonotonicClock.milliseconds()
        self.handler.connections(sockets: self.peers.count, pending: self.pendingCount)
        self.handler.tick(monotonicMs: now)
        if let until = self.acceptPausedUntil, now >= until, let listenWSI {
            self.acceptPausedUntil = nil
            lws_rx_flow_control(listenWSI, 1)
        }
        if self.stopping, self.openConnections == 0 || now >= self.stopDeadline {
            if let loop { clws_ev_break_all(loop) }
            return
        }
        if let context = self.control.withLock({ $0.context }), let callbacks = self.callbacks {
            self.scheduleTick(context: context, callbacks: callbacks)
        }
    }

    /// `lws_cancel_service` was called: begin a requested stop.
    private func wakeUp() {
        let stopRequested = self.control.withLock { $0.stopRequested }
        guard !self.shutdownAnnounced, stopRequested else { return }
        self.shutdownAnnounced = true
        self.stopping = true
        self.stopDeadline = MonotonicClock.milliseconds() + self.configuration.shutdownGraceMilliseconds
        self.logger.info(
            "shutting down: finishing open streams",
            metadata: ["open_connections": "\(self.openConnections)"]
        )
        self.handler.shutdownRequested()
        if self.openConnections == 0, let loop { clws_ev_break_all(loop) }
    }

    // MARK: - Admission (service thread)

    /// A socket was just accepted: keep it (0) or have lws close it at once (non-zero).
    private func admit(fd: Int32) -> Int32 {
        // lws 4.1 accepts without close-on-exec: a child process (a converter, a test's outside
        // reader) would inherit the socket and keep a connection open after exorec closed it.
        _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
        var buffer = [CChar](repeating: 0, count: 128)
        let source =
            lws_get_peer_simple_fd(fd, &buffer, buffer.count) != nil
            ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "unknown"
        let refusal: ConnectionRefusal?
        if !self.budget.admitsSocket(sockets: self.peers.count, streams: self.openConnections) {
            refusal = .descriptors
        } else if self.pendingCount >= self.configuration.maxPendingConnections {
            refusal = .pendingTotal
        } else if self.pendingBySource[source, default: 0] >= self.configuration.maxPendingPerSource {
            refusal = .pendingPerSource
        } else {
            refusal = nil
        }
        guard let refusal else {
            self.admittedSource = source
            return 0
        }
        self.admittedSource = nil
        self.handler.refused(refusal)
        if let suppressed = self.refusalLog.shouldLog(refusal.rawValue, now: MonotonicClock.milliseconds()) {
            self.logger.warning(
                "refused a connection",
                metadata: [
                    "reason": "\(refusal.rawValue)", "remote": "\(source)", "suppressed_since_last": "\(suppressed)",
                    "sockets": "\(self.peers.count)", "pending": "\(self.pendingCount)",
                    "streams": "\(self.openConnections)",
                    "descriptors_for_connections": "\(self.budget.forConnections)",
                ]
            )
        }
        return 1
    }

    private func peerCreated(_ wsi: OpaquePointer) {
        guard let source = self.admittedSource else { return }  // the listening socket, or a socket lws made itself
        self.admittedSource = nil
        self.peers[wsi] = Peer(source: source)
        self.pendingBySource[source, default: 0] += 1
        self.pendingCount += 1
    }

    private func peerUpgraded(_ wsi: OpaquePointer) {
        guard var peer = self.peers[wsi], !peer.upgraded else { return }
        peer.upgraded = true
        self.peers[wsi] = peer
        self.notPending(peer.source)
    }

    private func peerDestroyed(_ wsi: OpaquePointer) {
        guard let peer = self.peers.removeValue(forKey: wsi) else { return }
        if !peer.upgraded { self.notPending(peer.source) }
    }

    private func notPending(_ source: String) {
        self.pendingCount -= 1
        let left = self.pendingBySource[source, default: 1] - 1
        self.pendingBySource[source] = left > 0 ? left : nil
    }

    /// libwebsockets logged a line (through `lwsLogEmitter`, on this thread).
    private func lwsLogged(level: Int32, text: String) {
        let now = MonotonicClock.milliseconds()
        if text.hasPrefix("accept:") {
            self.handler.refused(.acceptFailed)
            self.pauseAccepting(now: now)
        }
        guard let suppressed = self.lwsLog.shouldLog(Self.logKind(text), now: now) else { return }
        let metadata: Logger.Metadata = ["suppressed_since_last": "\(suppressed)"]
        if level & LLL_ERR != 0 {
            lwsLogger.error("\(text)", metadata: metadata)
        } else {
            lwsLogger.warning("\(text)", metadata: metadata)
        }
    }

    /// An accept failed (descriptors exhausted by something else, say): stop reading the listening
    /// socket for a while, doubling up to a second, instead of retrying in a busy loop.
    private func pauseAccepting(now: Int64) {
        guard let listenWSI else { return }
        if self.acceptPausedUntil != nil {
            // lws turns accepting back on whenever any connection closes (`lws_accept_modulation`),
            // behind the flow-control state it keeps for the listener: toggle to make it stick again.
            lws_rx_flow_control(listenWSI, 1)
            lws_rx_flow_control(listenWSI, 0)
            return
        }
        // A first error after a quiet spell starts again from the shortest pause.
        if now - self.lastAcceptError > 10_000 { self.acceptPause = 0 }
        self.lastAcceptError = now
        self.acceptPause = min(max(self.acceptPause * 2, 50), 1000)
        self.acceptPausedUntil = now + self.acceptPause
        lws_rx_flow_control(listenWSI, 0)
    }

    /// A log line's kind: its text without numbers and pointers (`0x…`), so one kind is one line per interval.
    static func logKind(_ text: String) -> String {
        let words = text.prefix(120).split(separator: " ").map { $0.hasPrefix("0x") ? "0x" : String($0) }
        return String(
            words.joined(separator: " ").unicodeScalars.filter { !CharacterSet.decimalDigits.contains($0) }.map(
                Character.init
            )
        )
    }

    // MARK: - Callbacks (service thread)

    private func handle(
        wsi: OpaquePointer?,
        reason: lws_callback_reasons,
        user: UnsafeMutableRawPointer?,
        input: UnsafeMutableRawPointer?,
        length: Int
    ) -> Int32 {
        switch reason {
        case LWS_CALLBACK_RECEIVE:
            guard let wsi, let open = Self.open(in: user), let input else { return 0 }
            return self.receive(
                wsi: wsi,
                connection: open.connection,
                session: open.session,
                bytes: input,
                count: length
            )

        case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
            return self.admit(fd: Int32(truncatingIfNeeded: Int(bitPattern: input)))

        case LWS_CALLBACK_WSI_CREATE:
            if let wsi { self.peerCreated(wsi) }
            return 0

        case LWS_CALLBACK_WSI_DESTROY:
            if let wsi { self.peerDestroyed(wsi) }
            return 0

        case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
            guard let wsi else { return 1 }
            if self.stopping { return self.refuse(wsi, status: 503, reason: "server is shutting down") }
            let request = self.upgradeRequest(wsi)
            switch self.handler.shouldAccept(request) {
            case .accept:
                if !self.budget.admitsStream(sockets: self.peers.count, streams: self.openConnections) {
                    self.handler.refused(.descriptors)
                    return self.refuse(wsi, status: 503, reason: "no descriptors left for another stream")
                }
                return 0
            case .reject(let status, let reason): return self.refuse(wsi, status: status, reason: reason)
            }

        case LWS_CALLBACK_ESTABLISHED:
            guard let wsi, let user else { return -1 }
            self.peerUpgraded(wsi)
            self.nextConnectionID += 1
            let request = self.upgradeRequest(wsi)
            let connection = WebSocketConnection(id: self.nextConnectionID, remoteAddress: request.remoteAddress)
            connection.requestWritable = { lws_callback_on_writable(wsi) }
            self.openConnections += 1
            let session = self.handler.opened(connection, request: request)
            user.storeBytes(
                of: SessionSlot(
                    connection: Unmanaged.passRetained(connection).toOpaque(),
                    session: Unmanaged.passRetained(session).toOpaque()
                ),
                as: SessionSlot.self
            )
            return 0

        case LWS_CALLBACK_SERVER_WRITEABLE:
            guard let wsi, let connection = Self.open(in: user)?.connection, let close = connection.pendingClose else {
                return 0
            }
            var reason = Array(close.reason.utf8)
            lws_close_reason(wsi, lws_close_status(rawValue: UInt32(close.code.rawValue)), &reason, reason.count)
            return -1

        case LWS_CALLBACK_CLOSED:
            guard let user else { return 0 }
            let slot = user.load(as: SessionSlot.self)
            user.storeBytes(of: SessionSlot(), as: SessionSlot.self)
            guard let connectionPointer = slot.connection, let sessionPointer = slot.session else { return 0 }
            let connection = Unmanaged<WebSocketConnection>.fromOpaque(connectionPointer).takeRetainedValue()
            let session = Unmanaged<Handler.Session>.fromOpaque(sessionPointer).takeRetainedValue()
            connection.requestWritable = nil
            self.openConnections -= 1
            self.handler.closed(session: session)
            return 0

        case LWS_CALLBACK_HTTP:
            guard let wsi else { return -1 }
            return self.answerHTTP(
                wsi: wsi,
                path: input.map { String(cString: $0.assumingMemoryBound(to: CChar.self)) } ?? "/"
            )

        case LWS_CALLBACK_HTTP_BODY, LWS_CALLBACK_HTTP_BODY_COMPLETION:
            // Not reached: a request with a body is answered and its connection closed before lws
            // reads the body. Close whatever gets here.
            return -1

        case LWS_CALLBACK_HTTP_WRITEABLE:
            return 0  // every answer was written whole; lws sends what the socket did not take

        case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
            self.wakeUp()
            return 0

        default:
            return lws_callback_http_dummy(wsi, reason, user, input, length)
        }
    }

    /// The hot path: deliver whole messages without copying; reassemble only when lws splits one.
    private func receive(
        wsi: OpaquePointer,
        connection: WebSocketConnection,
        session: Handler.Session,
        bytes: UnsafeMutableRawPointer,
        count: Int
    ) -> Int32 {
        if connection.isClosing { return 0 }
        let isFinal = lws_is_final_fragment(wsi) != 0
        if connection.assemblyCount == 0 && !connection.overflowed {
            connection.assemblyIsBinary = lws_frame_is_binary(wsi) != 0
            if isFinal {
                if count > self.configuration.maxMessageBytes {
                    return self.tooLarge(wsi: wsi, connection: connection, session: session)
                }
                self.handler.received(
                    UnsafeRawBufferPointer(start: bytes, count: count),
                    isBinary: connection.assemblyIsBinary,
                    session: session
                )
                return self.closeIfRequested(wsi: wsi, connection: connection)
            }
        }
        guard connection.append(bytes, count: count, limit: self.configuration.maxMessageBytes) else {
            return self.tooLarge(wsi: wsi, connection: connection, session: session)
        }
        if isFinal {
            let message = UnsafeRawBufferPointer(start: connection.assembly, count: connection.assemblyCount)
            connection.assemblyCount = 0
            self.handler.received(message, isBinary: connection.assemblyIsBinary, session: session)
            return self.closeIfRequested(wsi: wsi, connection: connection)
        }
        return 0
    }

    private func tooLarge(wsi: OpaquePointer, connection: WebSocketConnection, session: Handler.Session) -> Int32 {
        connection.overflowed = true
        connection.assemblyCount = 0
        self.handler.messageTooLarge(session: session)
        connection.close(.messageTooBig, reason: "message larger than \(self.configuration.maxMessageBytes) bytes")
        return self.closeIfRequested(wsi: wsi, connection: connection)
    }

    private func closeIfRequested(wsi: OpaquePointer, connection: WebSocketConnection) -> Int32 {
        guard let close = connection.pendingClose else { return 0 }
        var reason = Array(close.reason.utf8)
        lws_close_reason(wsi, lws_close_status(rawValue: UInt32(close.code.rawValue)), &reason, reason.count)
        return -1
    }

    /// Answers a refused upgrade (our own short JSON, not lws's HTML page, which would echo the
    /// reason unescaped) and has lws close the connection.
    private func refuse(_ wsi: OpaquePointer, status: Int, reason: String) -> Int32 {
        _ = self.write(.error(status, reason), to: wsi, headOnly: false, close: true)
        return 1
    }

    private func upgradeRequest(_ wsi: OpaquePointer) -> UpgradeRequest {
        UpgradeRequest(
            path: Self.header(wsi, WSI_TOKEN_GET_URI) ?? "/",
            query: Self.queryParameters(wsi),
            authorization: Self.header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION),
            remoteAddress: Self.peer(wsi)
        )
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

    /// Answers a plain HTTP request from its head, in one go: no body is read, nothing is parked.
    /// A request that announces a body, or a HEAD, is answered with `Connection: close` and its
    /// connection closed; otherwise the connection is kept for the next request.
    private func answerHTTP(wsi: OpaquePointer, path: String) -> Int32 {
        let request = Self.httpRequest(wsi, path: path)
        let response = self.stopping ? .error(503, "server is shutting down") : self.handler.respond(to: request)
        let close = request.hasBody || request.method == "HEAD" || self.stopping
        guard self.write(response, to: wsi, headOnly: request.method == "HEAD", close: close), !close else { return -1 }
        return lws_http_transaction_completed(wsi) != 0 ? -1 : 0
    }

    /// Writes the status line, headers and (unless `headOnly`) body; false when lws refused them.
    private func write(_ response: HTTPResponse, to wsi: OpaquePointer, headOnly: Bool, close: Bool) -> Bool {
        let pre = clws_pre()
        let capacity =
            pre + 1024 + response.headers.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 4 }
            + response.body.count
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        defer { buffer.deallocate() }
        let start = buffer + pre
        var cursor: UnsafeMutablePointer<UInt8>? = start
        let end = buffer + capacity - 1
        let failed = response.contentType.withCString { contentType in
            lws_add_http_common_headers(
                wsi,
                UInt32(response.status),
                contentType,
                lws_filepos_t(response.body.count),
                &cursor,
                end
            ) != 0
        }
        if failed { return false }
        for (name, value) in response.headers.sorted(by: { $0.key < $1.key }) {
            var nameBytes = Array((name.lowercased() + ":").utf8) + [0]
            var valueBytes = Array(value.utf8)
            if lws_add_http_header_by_name(wsi, &nameBytes, &valueBytes, Int32(valueBytes.count), &cursor, end) != 0 {
                return false
            }
        }
        if close {
            var value = Array("close".utf8)
            if lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, &value, Int32(value.count), &cursor, end) != 0 {
                return false
            }
        }
        guard lws_finalize_write_http_header(wsi, start, &cursor, end) == 0 else { return false }
        if headOnly || response.body.isEmpty { return true }
        // lws keeps what the socket did not take and sends it before it closes the connection.
        response.body.withUnsafeBufferPointer {
            if let base = $0.baseAddress { start.update(from: base, count: response.body.count) }
        }
        return lws_write(wsi, start, response.body.count, LWS_WRITE_HTTP_FINAL) >= 0
    }

    private static func httpRequest(_ wsi: OpaquePointer, path: String) -> HTTPRequest {
        let methods: [(lws_token_indexes, String)] = [
            (WSI_TOKEN_GET_URI, "GET"), (WSI_TOKEN_POST_URI, "POST"), (WSI_TOKEN_HEAD_URI, "HEAD"),
            (WSI_TOKEN_PUT_URI, "PUT"),
            (WSI_TOKEN_PATCH_URI, "PATCH"), (WSI_TOKEN_DELETE_URI, "DELETE"), (WSI_TOKEN_OPTIONS_URI, "OPTIONS"),
        ]
        let method: String = methods.first(where: { lws_hdr_total_length(wsi, $0.0) > 0 }).map { $0.1 } ?? "OTHER"
        let length = Self.header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH).map { $0.trimmingCharacters(in: .whitespaces) }
        let announcesBody =
            (length != nil && length != "0") || lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0
            || ["POST", "PUT", "PATCH", "OTHER"].contains(method)
        return HTTPRequest(method: method, path: path, remoteAddress: Self.peer(wsi), hasBody: announcesBody)
    }

    /// The connection and session an open WebSocket's lws user data holds (nil before ESTABLISHED
    /// and after CLOSED). Typed by `Handler`: no lookup, no cast.
    private static func open(
        in user: UnsafeMutableRawPointer?
    ) -> (connection: WebSocketConnection, session: Handler.Session)? {
        guard let slot = user?.load(as: SessionSlot.self), let connection = slot.connection, let session = slot.session
        else { return nil }
        return (
            Unmanaged<WebSocketConnection>.fromOpaque(connection).takeUnretainedValue(),
            Unmanaged<Handler.Session>.fromOpaque(session).takeUnretainedValue()
        )
    }
}

/// What lws keeps for each WebSocket in its per-session user data (zeroed by lws): the connection and
/// the handler's session, each retained once from ESTABLISHED to CLOSED.
private struct SessionSlot {
    var connection: UnsafeMutableRawPointer?
    var session: UnsafeMutableRawPointer?
}

/// The non-generic end of libwebsockets' C callbacks: the context's user pointer, the tick timer's
/// back pointer and the service thread's dictionary lead here.
///
/// A C function pointer cannot be generic, and a generic class's vtable or witness table would only
/// reach its unspecialized code; these closures are made in `WebSocketServer.init`, where `Handler`
/// is known, so each callback is one indirect call into the specialized server.
private final class LWSCallbacks {
    typealias Handle = (
        OpaquePointer?, lws_callback_reasons, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, Int
    ) -> Int32

    static let threadKey = "exorec.lws.server"

    let handle: Handle
    let tick: () -> Void
    let logged: (Int32, String) -> Void

    init(handle: @escaping Handle, tick: @escaping () -> Void, logged: @escaping (Int32, String) -> Void) {
        self.handle = handle
        self.tick = tick
        self.logged = logged
    }

    static func of(_ wsi: OpaquePointer?) -> Unmanaged<LWSCallbacks>? {
        guard let wsi, let context = lws_get_context(wsi), let user = lws_context_user(context) else { return nil }
        return Unmanaged<LWSCallbacks>.fromOpaque(user)
    }

    static func of(timer sul: UnsafeMutablePointer<lws_sorted_usec_list_t>?) -> LWSCallbacks? {
        guard let sul else { return nil }
        let raw = UnsafeMutableRawPointer(sul).load(
            fromByteOffset: MemoryLayout<lws_sorted_usec_list_t>.stride,
            as: UnsafeMutableRawPointer.self
        )
        return Unmanaged<LWSCallbacks>.fromOpaque(raw).takeUnretainedValue()
    }

    /// The callbacks of the server whose service thread this is, for lws's log lines.
    static var onThisThread: LWSCallbacks? {
        Thread.current.threadDictionary[Self.threadKey] as? LWSCallbacks
    }
}

// C callbacks are global functions, outside main.swift, so they are nonisolated (libs-notes §5):
// a closure written in top-level code would be @MainActor and trap on the service thread.

private func webSocketServerCallback(
    wsi: OpaquePointer?,
    reason: lws_callback_reasons,
    user: UnsafeMutableRawPointer?,
    input: UnsafeMutableRawPointer?,
    length: Int
) -> Int32 {
    guard let callbacks = LWSCallbacks.of(wsi) else {
        return lws_callback_http_dummy(wsi, reason, user, input, length)
    }
    return callbacks._withUnsafeGuaranteedRef { $0.handle(wsi, reason, user, input, length) }
}

private func webSocketServerTick(_ sul: UnsafeMutablePointer<lws_sorted_usec_list_t>?) {
    LWSCallbacks.of(timer: sul)?.tick()
}

private let lwsLogger = Logger(label: "exorec.lws")

/// lws logs through one process-wide emitter; each line goes to the server whose thread logged it,
/// which rate-limits it (once per kind per 10 s). A line from elsewhere (context creation) is logged
/// as it is.
private func lwsLogEmitter(_ level: Int32, _ line: UnsafePointer<CChar>?) {
    guard let line else { return }
    let text = String(cString: line).trimmingCharacters(in: .whitespacesAndNewlines)
    if let callbacks = LWSCallbacks.onThisThread {
        callbacks.logged(level, text)
    } else if level & LLL_ERR != 0 {
        lwsLogger.error("\(text)")
    } else {
        lwsLogger.warning("\(text)")
    }
}

/// The service thread's clock: monotonic milliseconds (`CLOCK_MONOTONIC`), as `tick` receives them.
enum MonotonicClock {
    static func milliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
