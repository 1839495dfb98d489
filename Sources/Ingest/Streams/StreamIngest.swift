import ExotelKit
import Logging
import MediaStore
import Synchronization

/// The ingest server's logic: which upgrades to accept, one `StreamSession` per stream, `/healthz`,
/// and the periodic work. All of it runs on the service thread of `WebSocketServer`. Every other
/// HTTP endpoint lives on the platform and internal doors (the `Doors` target).
final class StreamIngest: WebSocketServerHandler {
    static let supportedRates = StreamMachine.supportedRates
    static let version = "0.1.0"

    let configuration: IngestConfiguration
    let layout: StorageLayout
    let logger: Logger
    /// The calls paused now (PCI pause), shared with the internal door.
    let pauses: CallPauses
    /// What the sessions share (parser, decode scratch, counters, flush queue, events): they get this, not the ingest.
    let shared: StreamShared
    private let authenticator: BasicAuthenticator
    private var sessions: [UInt64: StreamSession] = [:]
    private var ticks = 0
    /// Housekeeping (headers, sidecars, idle streams) runs every this many ticks: once per header
    /// interval, so a growing file's header never lags by more than that interval.
    private let housekeepingEvery: Int
    /// Progress is reported only to live consumers; without the consumer API nobody would read it.
    private let reportsProgress: Bool
    private var rejectionLog = RateLimitedLog(intervalMs: 10_000)
    /// Where each housekeeping round publishes a copy of `metrics` for other threads.
    private let metricsSnapshot: IngestMetricsSnapshot

    init(
        configuration: IngestConfiguration,
        finalizer: StreamFinalizer,
        events: AsyncStream<IngestEvent>.Continuation,
        metricsSnapshot: IngestMetricsSnapshot = IngestMetricsSnapshot(),
        pauses: CallPauses = CallPauses(),
        logger: Logger
    ) {
        self.pauses = pauses
        self.configuration = configuration
        self.layout = StorageLayout(root: configuration.storageRoot)
        self.logger = logger
        self.authenticator = BasicAuthenticator(
            credentials: configuration.credentials,
            disabled: configuration.authDisabled
        )
        self.shared = StreamShared(
            configuration: configuration,
            layout: self.layout,
            pauses: pauses,
            finalizer: finalizer,
            events: events,
            logger: logger,
            version: Self.version
        )
        self.reportsProgress = configuration.reportsProgress
        self.metricsSnapshot = metricsSnapshot
        self.housekeepingEvery = max(
            1,
            Int(configuration.recorder.headerUpdateIntervalMs / max(configuration.server.tickMilliseconds, 1))
        )
    }

    // MARK: - Upgrades

    func shouldAccept(_ request: UpgradeRequest) -> UpgradeDecision {
        let decision = self.decide(request)
        if case .reject(let status, let reason) = decision {
            let kind = Self.rejectionKind(status)
            self.shared.metrics.rejectedUpgrades[kind, default: 0] += 1
            let now = MonotonicClock.milliseconds()
            if let suppressed = self.rejectionLog.shouldLog(kind, now: now) {
                self.logger.warning(
                    "refused stream upgrade",
                    metadata: [
                        "reason": "\(LogText.escaped(reason))", "status": "\(status)",
                        "remote": "\(request.remoteAddress)",
                        "path": "\(LogText.escaped(request.path))", "suppressed_since_last": "\(suppressed)",
                    ]
                )
            }
        }
        return decision
    }

    private func decide(_ request: UpgradeRequest) -> UpgradeDecision {
        guard request.path == self.configuration.streamPath else {
            return .reject(
                status: 404,
                reason: "no stream endpoint at \(request.path); use \(self.configuration.streamPath)"
            )
        }
        switch self.authenticator.check(authorizationHeader: request.authorization) {
        case .allowed: break
        case .missing: return .reject(status: 401, reason: "missing Basic credentials")
        case .malformed: return .reject(status: 401, reason: "malformed Authorization header")
        case .wrong: return .reject(status: 401, reason: "wrong credentials")
        }
        if case .failure(let reason) = Self.requestedSampleRate(in: request) {
            return .reject(status: 400, reason: reason.message)
        }
        guard self.sessions.count < self.configuration.maxStreams else {
            return .reject(status: 503, reason: "stream limit of \(self.configuration.maxStreams) reached")
        }
        return .accept
    }

    struct SampleRateError: Error { var message: String }

    /// The `sample-rate` (or `sample_rate`) query parameter: `nil` when absent.
    static func requestedSampleRate(in request: UpgradeRequest) -> Result<Int, SampleRateError>? {
        guard let text = request.queryValue("sample-rate") ?? request.queryValue("sample_rate") else { return nil }
        guard let rate = Int(text), supportedRates.contains(rate) else {
            return .failure(SampleRateError(message: "sample-rate '\(text.prefix(16))' is not 8000, 16000 or 24000"))
        }
        return .success(rate)
    }

    private static func rejectionKind(_ status: Int) -> String {
        switch status {
        case 401: "auth"
        case 404: "path"
        case 400: "sample-rate"
        case 503: "limit"
        default: "other"
        }
    }

    // MARK: - Connections

    func opened(_ connection: WebSocketConnection, request: UpgradeRequest) -> StreamSession {
        let session = StreamSession(
            connection: connection,
            request: request,
            shared: self.shared,
            now: MonotonicClock.milliseconds()
        )
        self.sessions[connection.id] = session
        self.shared.metrics.openConnections += 1
        return session
    }

    func received(_ message: UnsafeRawBufferPointer, isBinary: Bool, session: StreamSession) {
        self.shared.metrics.messages += 1
        session.received(message, isBinary: isBinary, now: MonotonicClock.milliseconds())
    }

    func messageTooLarge(session: StreamSession) {
        session.messageTooLarge()
    }

    func closed(session: StreamSession) {
        self.shared.metrics.openConnections -= 1
        guard self.sessions.removeValue(forKey: session.connection.id) != nil else { return }
        session.disconnected()
    }

    // MARK: - Periodic work and shutdown

    /// Writes out every stream whose buffered audio is `flushAfterMs` old, so audio reaches the
    /// kernel within `flushAfterMs` plus one tick (175 ms by default) while a real-time stream,
    /// one frame per 100 ms, always gets two frames per write (the second frame arrives at
    /// 100 ms, the third not before 200): on this path the write system call and its file-time
    /// update cost more than everything else exorec does with a frame.
    /// Housekeeping visits every stream less often.
    func tick(monotonicMs now: Int64) {
        self.shared.flushDue(now: now, flushAfterMs: self.configuration.flushAfterMs)
        self.ticks &+= 1
        guard self.ticks % self.housekeepingEvery == 0 else { return }
        var grown: [StreamProgress] = []
        for session in self.sessions.values where !session.finished {
            session.housekeeping(now: now)
            if self.reportsProgress, let growth = session.growthSinceLastReport() { grown.append(growth) }
        }
        if !grown.isEmpty { self.shared.publish(.streamsGrew(grown)) }
        self.publishMetrics()
    }

    /// Copies the counters for readers on other threads (the internal door's `/metrics`).
    func publishMetrics() {
        self.shared.metrics.finalizeFailures = self.shared.finalizeFailures.value
        self.metricsSnapshot.publish(self.shared.metrics)
    }

    func shutdownRequested() {
        for session in self.sessions.values {
            session.shutdown()
        }
    }

    // MARK: - HTTP

    /// The stream door's HTTP side: `/healthz` for a load balancer, 426 on the stream path without an
    /// upgrade, 404 for anything else (callbacks, events, media and metrics are on the Hummingbird doors).
    func respond(to request: HTTPRequest) -> HTTPResponse {
        switch (request.method, request.path) {
        case ("GET", "/healthz"), ("HEAD", "/healthz"):
            return .json(200, "{\"status\":\"ok\",\"active_streams\":\(self.shared.metrics.activeStreams)}\n")
        case (_, "/healthz"):
            return HTTPResponse(
                status: 405,
                contentType: "application/json",
                body: Array("{\"error\":\"use GET\"}\n".utf8),
                headers: ["Allow": "GET, HEAD"]
            )
        case (_, self.configuration.streamPath):
            var response = HTTPResponse.error(426, "this is a WebSocket endpoint; send an upgrade request")
            response.headers["Upgrade"] = "websocket"
            return response
        default:
            return .error(
                404,
                "no such endpoint on the stream door; callbacks, events, media and metrics are on the platform and internal doors"
            )
        }
    }

    func refused(_ refusal: ConnectionRefusal) {
        self.shared.metrics.refusedConnections[refusal.rawValue, default: 0] += 1
    }

    func connections(sockets: Int, pending: Int) {
        self.shared.metrics.sockets = sockets
        self.shared.metrics.pendingConnections = pending
    }
}

/// Finalize runs on the finalizer's queue, so its failures are counted atomically, not in `metrics`.
final class FinalizeFailureCounter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { self.count.add(1, ordering: .relaxed) }
    var value: Int { self.count.load(ordering: .relaxed) }
}
