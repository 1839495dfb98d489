import Logging
import MediaStore
import ServiceLifecycle
import Synchronization

/// `exorec serve` as a `Service`: locks the storage root, repairs what a crash left open, then
/// runs the WebSocket server (the stream door: `/v1/streams` and `/healthz`) until graceful
/// shutdown, and returns once every stream is finalized. Its counters are published each
/// housekeeping round in ``metrics`` for the internal door's `/metrics`.
///
/// ```swift
/// let server = IngestServer(configuration: config, logger: logger) { port in print("listening on \(port)") }
/// let group = ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()
/// ```
public final class IngestServer: Service, Sendable {
    public let configuration: IngestConfiguration
    /// Stream started / finished news. Buffers the newest 10,000 events if nobody reads them.
    public let events: AsyncStream<IngestEvent>
    private let continuation: AsyncStream<IngestEvent>.Continuation
    private let logger: Logger
    private let onListening: @Sendable (Int) -> Void
    /// The stream counters as of the last housekeeping round, readable from any thread.
    public let metrics = IngestMetricsSnapshot()
    /// The calls paused now (`POST /v1/calls/CALLSID/pause` on the internal door): their streams write
    /// silence and drop `dtmf` (`docs/CALLS.md`).
    public let pauses = CallPauses()
    private let server = Mutex<WebSocketServer<StreamIngest>?>(nil)
    private let stopRequested = Mutex(false)
    /// The storage root's lock when whoever built this server took it first (``ExorecPipeline`` does, before
    /// it opens the catalog or starts anything); released when ``run()`` returns or ``releaseLock()`` is called.
    private let heldLock: Mutex<StorageLock?>

    /// - Parameters:
    ///   - lock: the storage root's lock, already taken; nil: `run()` takes it.
    ///   - onListening: called once with the bound port.
    public init(
        configuration: IngestConfiguration,
        logger: Logger,
        lock: StorageLock? = nil,
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.logger = logger
        self.onListening = onListening
        self.heldLock = Mutex(lock)
        (self.events, self.continuation) = AsyncStream.makeStream(
            of: IngestEvent.self,
            bufferingPolicy: .bufferingNewest(10_000)
        )
    }

    public func run() async throws {
        defer { self.continuation.finish() }
        try self.configuration.validate()
        let limits = DescriptorLimit.raiseToHard()
        if limits.after.soft != limits.before.soft {
            self.logger.info(
                "raised the descriptor limit to the hard limit",
                metadata: ["from": "\(limits.before.soft)", "to": "\(limits.after.soft)"]
            )
        }
        let layout = StorageLayout(root: self.configuration.storageRoot)
        let lock = try self.heldLock.withLock { $0 } ?? StorageLock(layout: layout, node: self.configuration.node)
        defer { self.releaseLock() }
        let repaired = StorageRecovery(layout: layout, logger: self.logger).repairInterruptedStreams(
            node: lock.node
        )
        if !repaired.isEmpty {
            self.logger.warning(
                "repaired streams left open by an earlier crash",
                metadata: ["count": "\(repaired.count)"]
            )
        }
        for stream in repaired {
            let sidecarPath = String(stream.wavPath.dropLast(".wav".count)) + ".json"
            if let sidecar = try? StreamSidecar.load(from: sidecarPath) {
                self.continuation.yield(.streamRepaired(sidecar, wavPath: stream.wavPath))
            }
        }

        let finalizer = StreamFinalizer(logger: self.logger)
        let ingest = StreamIngest(
            configuration: self.configuration,
            finalizer: finalizer,
            events: self.continuation,
            metricsSnapshot: self.metrics,
            pauses: self.pauses,
            logger: self.logger
        )
        let server = WebSocketServer(configuration: self.configuration.server, handler: ingest, logger: self.logger)
        let alreadyStopped = self.stopRequested.withLock { stopped in
            self.server.withLock { $0 = server }
            return stopped
        }
        if alreadyStopped { server.requestStop() }

        let logger = self.logger
        let configuration = self.configuration
        let onListening = self.onListening
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await server.run { port in
                    let budget = server.descriptorBudget
                    logger.info(
                        "listening",
                        metadata: [
                            "host": "\(configuration.server.host)", "port": "\(port)",
                            "stream_path": "\(configuration.streamPath)",
                            "scheme": "\(configuration.server.tls == nil ? "ws" : "wss")",
                            "storage": "\(configuration.storageRoot)",
                            "auth": "\(configuration.authDisabled ? "disabled" : "basic")",
                        ]
                    )
                    if let budget {
                        logger.info(
                            "descriptor budget",
                            metadata: [
                                "descriptor_limit": "\(budget.limit)", "open_at_start": "\(budget.baseline)",
                                "reserve": "\(budget.reserve)",
                                "stream_capacity": "\(min(budget.streamCapacity, configuration.maxStreams))",
                                "max_pending_connections": "\(configuration.server.maxPendingConnections)",
                                "max_pending_per_source": "\(configuration.server.maxPendingPerSource)",
                            ]
                        )
                        if budget.streamCapacity < configuration.maxStreams {
                            logger.warning(
                                "the descriptor limit allows fewer streams than ingest.max_streams; raise the hard limit (ulimit -Hn, LimitNOFILE=)",
                                metadata: [
                                    "stream_capacity": "\(budget.streamCapacity)",
                                    "max_streams": "\(configuration.maxStreams)",
                                ]
                            )
                        }
                    }
                    onListening(port)
                }
            } onGracefulShutdown: {
                server.requestStop()
            }
        } onCancel: {
            server.requestStop()
        }
        await finalizer.drain()
        withExtendedLifetime(lock) {}
        withExtendedLifetime(ingest) {}
        self.logger.info("stopped: every stream is finalized")
    }

    /// Lets go of a lock handed to ``init(configuration:logger:lock:onListening:)`` (a server that will not run).
    public func releaseLock() {
        self.heldLock.withLock { $0 = nil }
    }

    /// The stream door's descriptor budget, once it listens.
    public var descriptorBudget: DescriptorBudget? { self.server.withLock { $0 }?.descriptorBudget }

    /// The stream counters in Prometheus text format, as of the last housekeeping round.
    public func metricsText() -> String {
        self.metrics.current.prometheusText()
    }

    /// Starts a graceful stop without a signal (tests, the demo).
    public func stop() {
        let server = self.stopRequested.withLock { stopped in
            stopped = true
            return self.server.withLock { $0 }
        }
        server?.requestStop()
    }
}
