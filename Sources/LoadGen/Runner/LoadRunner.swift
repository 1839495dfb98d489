@preconcurrency import Glibc

/// Runs a ``LoadPlan``: one thread, one epoll instance, every stream's socket non-blocking.
///
/// The run has two phases. First every connection is opened (at the plan's ramp, with a bounded
/// number of upgrades in flight) and sends `connected`. Once every stream is upgraded or has
/// failed, streaming starts at once for all: flooding streams send as fast as their sockets
/// accept, real-time streams start at evenly spread offsets within the first 100 ms and send
/// one step every 100 ms after that. Each stream ends with `stop`, a close frame, and the
/// server's close.
///
/// ```swift
/// let report = try await LoadRunner.run(plan) { progress in print(progress) }
/// ```
///
/// Not `Sendable`: an instance belongs to the thread that calls ``run()``.
public final class LoadRunner {
    /// A snapshot for progress lines during long runs.
    public struct Progress: Sendable {
        public var elapsedSeconds: Double
        public var openStreams: Int
        public var finishedStreams: Int
        public var mediaMessages: Int
    }

    private static let readBufferBytes = 64 * 1024
    /// Sends per connection before the loop serves others; keeps one flooding stream from starving the rest.
    private static let sendsPerTurn = 4
    private static let deadlineCheckInterval: UInt64 = 100_000_000
    private static let progressInterval: UInt64 = 5_000_000_000

    private let plan: LoadPlan
    private let template: FrameTemplate
    private let address: SocketAddress
    private let epoll: Epoll
    private let connections: [WebSocketClientConnection]
    private let readBuffer: UnsafeMutableRawBufferPointer
    private let batchBytes: Int
    private let stallNanoseconds: UInt64
    private let handshakeTimeoutNanoseconds: UInt64
    private let closeTimeoutNanoseconds: UInt64
    private let progress: (@Sendable (Progress) -> Void)?

    private var readyList: [Int] = []
    private var due = DueQueue()
    private var nextToOpen = 0
    private var handshaking = 0
    private var finished = 0
    private var runStart: UInt64 = 0
    private var streamingStart: UInt64?
    private var lastFinish: UInt64 = 0
    private var nextDeadlineCheck: UInt64 = 0
    private var nextProgress: UInt64 = 0

    /// Prepares the run: raises the descriptor limit, resolves the host, pre-encodes the frames.
    public init(plan: LoadPlan, progress: (@Sendable (Progress) -> Void)? = nil) throws(LoadGenError) {
        self.plan = plan
        self.progress = progress
        self.template = FrameTemplate(sampleRate: plan.sampleRate, dual: plan.dual)
        try Posix.ensureDescriptors(plan.streams + 64)
        self.address = try SocketAddress.resolve(host: plan.endpoint.host, port: plan.endpoint.port)
        self.epoll = try Epoll()
        let stopBytes = 1024
        switch plan.pace {
        case .flood:
            self.batchBytes = max(plan.floodBatchBytes, self.template.maxStepBytes)
        case .realtime:
            // Room for a few steps: a server that falls behind delays the stream (counted as
            // lag) instead of growing its queue.
            self.batchBytes = 4 * self.template.maxStepBytes
        }
        let capacity = self.batchBytes + self.template.maxStepBytes + stopBytes
        self.connections = (0..<plan.streams).map {
            WebSocketClientConnection(index: $0, plan: plan, bufferCapacity: capacity)
        }
        self.readBuffer = .allocate(byteCount: Self.readBufferBytes, alignment: 16)
        self.handshakeTimeoutNanoseconds = UInt64(plan.handshakeTimeoutSeconds * 1e9)
        self.closeTimeoutNanoseconds = UInt64(plan.closeTimeoutSeconds * 1e9)
        self.stallNanoseconds = self.closeTimeoutNanoseconds
    }

    deinit {
        for connection in self.connections where connection.fd >= 0 { close(connection.fd) }
        self.readBuffer.deallocate()
    }

    /// Runs `plan` on a dedicated thread (pinned to `cpu` if given) and returns its report.
    public static func run(
        _ plan: LoadPlan,
        cpu: Int? = nil,
        progress: (@Sendable (Progress) -> Void)? = nil
    ) async throws(LoadGenError) -> LoadReport {
        let result = try await DedicatedThread.run(name: "loadgen", cpu: cpu) {
            Result { () throws(LoadGenError) in try LoadRunner(plan: plan, progress: progress).run() }
        }
        return try result.get()
    }

    /// Runs the whole plan on the calling thread; returns when every stream has finished or failed.
    public func run() throws(LoadGenError) -> LoadReport {
        let cpuStart = SystemClock.threadCPU()
        self.runStart = SystemClock.now()
        self.nextProgress = self.runStart + Self.progressInterval
        while self.finished < self.connections.count {
            let now = SystemClock.now()
            self.openConnections(now: now)
            if self.streamingStart == nil && self.nextToOpen == self.connections.count && self.handshaking == 0 {
                self.startStreaming(now: now)
            }
            self.fireDueSteps(now: now)
            self.serveReadyList(now: now)
            if now >= self.nextDeadlineCheck { self.checkDeadlines(now: now) }
            if now >= self.nextProgress { self.reportProgress(now: now) }
            guard self.finished < self.connections.count else { break }
            try self.epoll.wait(timeoutMilliseconds: self.waitTimeout(now: SystemClock.now())) { token, events in
                self.handle(self.connections[Int(token)], events: events)
            }
        }
        return self.report(cpuNanoseconds: SystemClock.threadCPU() - cpuStart)
    }

    // MARK: - Opening

    private func openConnections(now: UInt64) {
        while self.nextToOpen < self.connections.count && self.handshaking < self.plan.maxPendingHandshakes {
            if self.plan.rampPerSecond > 0 {
                let allowed = Int(Double(now - self.runStart) / 1e9 * self.plan.rampPerSecond) + 1
                guard self.nextToOpen < allowed else { break }
            }
            self.open(self.connections[self.nextToOpen], now: now)
            self.nextToOpen += 1
        }
    }

    private func open(_ connection: WebSocketClientConnection, now: UInt64) {
        let fd = socket(
            self.address.family,
            Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue),
            0
        )
        guard fd >= 0 else {
            self.fail(connection, .handshake("socket: \(String(cString: strerror(errno)))"), now: now)
            return
        }
        connection.fd = fd
        connection.phase = .connecting
        connection.deadline = now + self.handshakeTimeoutNanoseconds
        self.handshaking += 1
        // Every send is a full batch or a whole step: Nagle would only hold back the last bytes.
        Posix.setOption(fd, level: Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        if self.plan.pace == .flood {
            // Left to autotuning, a flooding socket buffers megabytes in the kernel, so a slow
            // server is still seconds of audio behind when the generator has sent everything.
            // A few batches in flight keep a fast server busy and bound the backlog.
            Posix.setOption(fd, level: SOL_SOCKET, SO_SNDBUF, Int32(2 * self.batchBytes))
        }
        do {
            try self.epoll.add(fd, token: UInt64(connection.index))
        } catch {
            self.fail(connection, .handshake(error.description), now: now)
            return
        }
        let status = self.address.connect(fd)
        if status != 0 && status != EINPROGRESS {
            self.fail(connection, .handshake("connect: \(String(cString: strerror(status)))"), now: now)
        }
    }

    // MARK: - Streaming

    private func startStreaming(now: UInt64) {
        self.streamingStart = now
        let period = UInt64(LoadPlan.frameMilliseconds) * 1_000_000
        for connection in self.connections where connection.phase == .ready {
            switch self.plan.pace {
            case .flood:
                connection.begin(template: self.template, plan: self.plan)
                self.pump(connection, now: now)
            case .realtime:
                let offset = period * UInt64(connection.index) / UInt64(self.connections.count)
                self.due.push(now + offset, stream: connection.index)
            }
        }
    }

    /// Real time: hands each stream the steps whose time has come and schedules its next one.
    private func fireDueSteps(now: UInt64) {
        let period = UInt64(LoadPlan.frameMilliseconds) * 1_000_000
        while let (dueTime, index) = self.due.popDue(now) {
            let connection = self.connections[index]
            if connection.phase == .ready {
                connection.firstDue = dueTime
                connection.begin(template: self.template, plan: self.plan)
            }
            guard connection.phase == .streaming else { continue }
            connection.stepsDue += 1
            connection.stepsScheduled += 1
            if connection.stepsScheduled < self.plan.frames { self.due.push(dueTime + period, stream: index) }
            self.pump(connection, now: now)
        }
    }

    private func serveReadyList(now: UInt64) {
        guard !self.readyList.isEmpty else { return }
        let list = self.readyList
        self.readyList.removeAll(keepingCapacity: true)
        for index in list {
            let connection = self.connections[index]
            connection.inReadyList = false
            self.pump(connection, now: now)
        }
    }

    /// Queues what is due and writes until the socket is full, the connection has nothing more,
    /// or its turn is over (then it goes back on the ready list).
    private func pump(_ connection: WebSocketClientConnection, now: UInt64) {
        guard connection.writable, connection.phase != .finished, connection.fd >= 0 else { return }
        if let pong = connection.owedPong, connection.queue(pong) { connection.owedPong = nil }
        var sends = 0
        while true {
            if connection.out.pending < self.batchBytes {
                connection.queueDueMessages(
                    template: self.template,
                    plan: self.plan,
                    batchBytes: self.batchBytes,
                    now: now
                )
            }
            if connection.out.isEmpty { break }
            if sends == Self.sendsPerTurn {
                if !connection.inReadyList {
                    connection.inReadyList = true
                    self.readyList.append(connection.index)
                }
                return
            }
            let written = Posix.send(connection.fd, connection.out.readable)
            if written > 0 {
                connection.didSend(written, at: now)
                sends += 1
                continue
            }
            let code = errno
            if code == EAGAIN || code == EWOULDBLOCK {
                connection.writable = false
                break
            }
            if code == EINTR { continue }
            self.peerGone(connection, errno: code, now: now)
            return
        }
        if connection.closeFrameDelivered && connection.deadline == 0 {
            connection.deadline = now + self.closeTimeoutNanoseconds
        }
    }

    // MARK: - Events

    private func handle(_ connection: WebSocketClientConnection, events: UInt32) {
        guard connection.phase != .finished else { return }
        let now = SystemClock.now()
        if events & (Epoll.output | Epoll.error | Epoll.hangUp) != 0 {
            connection.writable = true
        }
        if connection.phase == .connecting {
            guard events & (Epoll.output | Epoll.error | Epoll.hangUp) != 0 else { return }
            let error = Posix.socketError(connection.fd)
            guard error == 0 else {
                self.fail(connection, .handshake("connect: \(String(cString: strerror(error)))"), now: now)
                return
            }
            connection.phase = .upgrading
            connection.queue(connection.handshake.request(for: self.plan.endpoint))
        }
        if events & (Epoll.input | Epoll.peerHangUp | Epoll.hangUp | Epoll.error) != 0 {
            self.read(connection, now: now)
        }
        if connection.phase != .finished { self.pump(connection, now: now) }
    }

    private func read(_ connection: WebSocketClientConnection, now: UInt64) {
        while connection.phase != .finished {
            let count = recv(connection.fd, self.readBuffer.baseAddress, self.readBuffer.count, 0)
            if count > 0 {
                self.received(UnsafeRawBufferPointer(rebasing: self.readBuffer[0..<count]), on: connection, now: now)
                continue
            }
            if count == 0 {
                self.peerGone(connection, errno: nil, now: now)
                return
            }
            let code = errno
            if code == EAGAIN || code == EWOULDBLOCK { return }
            if code == EINTR { continue }
            self.peerGone(connection, errno: code, now: now)
            return
        }
    }

    private func received(_ bytes: UnsafeRawBufferPointer, on connection: WebSocketClientConnection, now: UInt64) {
        var frames = bytes
        if connection.phase == .upgrading {
            connection.response.append(contentsOf: bytes)
            switch connection.handshake.parse(connection.response) {
            case nil:
                return
            case .refused(let status):
                self.fail(connection, .refused(status: status), now: now)
                return
            case .malformed(let reason):
                self.fail(connection, .handshake(reason), now: now)
                return
            case .upgraded(let headerLength):
                let already = connection.response.count - bytes.count
                frames = UnsafeRawBufferPointer(rebasing: bytes[(headerLength - already)...])
                connection.response = []
                connection.phase = .ready
                connection.deadline = 0
                self.handshaking -= 1
                connection.queue(self.template.connectedFrame())
            }
        }
        guard !frames.isEmpty else { return }
        var serverClosed: UInt16?? = nil
        do {
            try connection.reader.consume(frames) { event in
                switch event {
                case .ping(let payload):
                    let pong = WebSocketFrame.client(.pong, payload: payload)
                    if !connection.queue(pong) { connection.owedPong = pong }
                case .close(let code):
                    serverClosed = .some(code)
                }
            }
        } catch {
            self.fail(connection, .protocolViolation(error.reason), now: now)
            return
        }
        if let code = serverClosed {
            if connection.stopDelivered && (code == nil || code == 1000) {
                self.succeed(connection, now: now)
            } else if connection.stopDelivered, let code {
                // `stop` reached the server's socket, but a close code other than "normal" (such as
                // Python websockets' 1011 keepalive timeout) means the server did not finish the stream.
                self.fail(connection, .abnormalClose(code: code), now: now)
            } else {
                self.fail(connection, .closedEarly(code: code), now: now)
            }
        }
    }

    /// EOF or a socket error: success if `stop` had already been delivered, else a failure.
    private func peerGone(_ connection: WebSocketClientConnection, errno code: Int32?, now: UInt64) {
        if connection.stopDelivered {
            self.succeed(connection, now: now)
        } else if connection.isHandshaking {
            let reason = code.map { String(cString: strerror($0)) } ?? "connection closed during the upgrade"
            self.fail(connection, .handshake(reason), now: now)
        } else if let code, code != ECONNRESET, code != EPIPE {
            self.fail(connection, .socket(String(cString: strerror(code))), now: now)
        } else {
            self.fail(connection, .closedEarly(code: nil), now: now)
        }
    }

    // MARK: - Ending

    private func succeed(_ connection: WebSocketClientConnection, now: UInt64) {
        self.end(connection, now: now)
    }

    private func fail(_ connection: WebSocketClientConnection, _ failure: StreamFailure, now: UInt64) {
        connection.failure = failure
        self.end(connection, now: now)
    }

    private func end(_ connection: WebSocketClientConnection, now: UInt64) {
        if connection.isHandshaking { self.handshaking -= 1 }
        if connection.fd >= 0 {
            // Closing the descriptor also removes it from the epoll set.
            close(connection.fd)
            connection.fd = -1
        }
        connection.phase = .finished
        self.finished += 1
        self.lastFinish = now
    }

    private func checkDeadlines(now: UInt64) {
        self.nextDeadlineCheck = now + Self.deadlineCheckInterval
        for connection in self.connections {
            switch connection.phase {
            case .connecting, .upgrading:
                if now >= connection.deadline {
                    self.fail(
                        connection,
                        .handshake("no answer within \(self.plan.handshakeTimeoutSeconds) s"),
                        now: now
                    )
                }
            case .closing where connection.deadline != 0:
                // A flooded server can be seconds behind when `stop` leaves: while it keeps
                // acknowledging bytes it is working through its backlog, and the clock restarts.
                if let pending = Posix.unacknowledgedBytes(connection.fd), pending < connection.unacknowledged {
                    connection.unacknowledged = pending
                    connection.deadline = now + self.closeTimeoutNanoseconds
                } else if now >= connection.deadline {
                    self.fail(connection, .closeTimeout, now: now)
                }
            case .streaming, .closing:
                if !connection.out.isEmpty && now - connection.lastProgress > self.stallNanoseconds {
                    self.fail(connection, .stalled, now: now)
                }
            default:
                break
            }
        }
    }

    private func waitTimeout(now: UInt64) -> Int32 {
        guard self.readyList.isEmpty else { return 0 }
        var wake = self.nextDeadlineCheck
        if let next = self.due.next { wake = min(wake, next) }
        if self.nextToOpen < self.connections.count && self.handshaking < self.plan.maxPendingHandshakes
            && self.plan.rampPerSecond > 0
        {
            let nextOpen = self.runStart + UInt64(Double(self.nextToOpen) / self.plan.rampPerSecond * 1e9)
            wake = min(wake, nextOpen)
        }
        guard wake > now else { return 0 }
        // Round up: waking a little late costs a sub-millisecond lag, waking early a busy loop.
        return Int32(min((wake - now + 999_999) / 1_000_000, 1000))
    }

    private func reportProgress(now: UInt64) {
        self.nextProgress = now + Self.progressInterval
        guard let progress = self.progress else { return }
        let open = self.connections.lazy.filter { $0.phase != .finished && $0.phase != .waiting }.count
        progress(
            Progress(
                elapsedSeconds: Double(now - self.runStart) / 1e9,
                openStreams: open,
                finishedStreams: self.finished,
                mediaMessages: self.connections.reduce(0) { $0 + $1.mediaQueued }
            )
        )
    }

    private func report(cpuNanoseconds: UInt64) -> LoadReport {
        var failures: [String: Int] = [:]
        var completed: [Int] = []
        var handshakeFailures = 0
        for connection in self.connections {
            if let failure = connection.failure {
                failures[failure.description, default: 0] += 1
                if failure.isHandshakeFailure { handshakeFailures += 1 }
            } else {
                completed.append(connection.index)
            }
        }
        let start = self.streamingStart ?? self.lastFinish
        let media = self.connections.reduce(0) { $0 + $1.mediaQueued }
        let realtime = self.plan.pace == .realtime
        return LoadReport(
            plan: self.plan,
            streamsOK: completed.count,
            handshakeFailures: handshakeFailures,
            failures: failures,
            mediaMessages: media,
            bytesSent: self.connections.reduce(0) { $0 + $1.sent },
            connectSeconds: Double(start - self.runStart) / 1e9,
            streamSeconds: Double(max(self.lastFinish, start) - start) / 1e9,
            generatorCPUSeconds: Double(cpuNanoseconds) / 1e9,
            maxLagMilliseconds: realtime ? Double(self.connections.map(\.maxLagNanoseconds).max() ?? 0) / 1e6 : nil,
            lateSteps: realtime ? self.connections.reduce(0) { $0 + $1.lateSteps } : nil,
            completedStreams: completed
        )
    }
}
