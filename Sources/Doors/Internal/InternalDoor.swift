public import Ingest
public import Logging
public import ServiceLifecycle

/// The internal door as a `Service`: a Hummingbird server on `api.host`:`api.port` (loopback by
/// default) for live consumers and scrapers: `GET /v1/events`, `GET /v1/media/ID`, `GET /metrics`.
/// A graceful shutdown answers parked long polls with an empty page and ends event streams.
public final class InternalDoor: Service, Sendable {
    public let configuration: InternalDoorConfiguration
    /// Why `/v1/events` and `/v1/media` answer 404, or nil when they are on.
    public let offReason: String?
    /// Connections the door closed before a request reached its responder (`/metrics`).
    public let connections: DoorConnectionCounters
    private let server: DoorServer<ConsumerResponder>

    /// - Parameters:
    ///   - source: what `/v1/events` and `/v1/media/ID` read; nil leaves them off.
    ///   - pauses: what `POST /v1/calls/CALLSID/pause|resume` act on; nil leaves them off.
    ///   - metrics: the Prometheus text `/metrics` serves (read each scrape; must be thread-safe).
    ///   - connections: where the door counts the connections it closes (give it to `metrics` too).
    ///   - mount: routes the door hands over whole under their prefix (the web console), or nil.
    public init(
        configuration: InternalDoorConfiguration,
        source: (any ConsumerFeedSource)?,
        pauses: (any CallPauseControl)? = nil,
        metrics: @escaping @Sendable () -> String,
        connections: DoorConnectionCounters = DoorConnectionCounters(door: "internal"),
        mount: (any InternalDoorMount)? = nil,
        logger: Logger,
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) throws(IngestError) {
        self.connections = connections
        try configuration.validate()
        let responder = ConsumerResponder(
            configuration: configuration,
            source: source,
            pauses: pauses,
            metrics: metrics,
            mount: mount,
            logger: logger
        )
        self.configuration = configuration
        self.offReason = responder.offReason
        let offReason = responder.offReason
        do {
            self.server = try DoorServer(
                name: "internal",
                host: configuration.host,
                port: configuration.port,
                limits: configuration.limits,
                tls: nil,
                responder: responder,
                counters: connections,
                logger: logger
            ) { port in
                logger.info(
                    "internal door listening",
                    metadata: [
                        "url": "http://\(configuration.host):\(port)",
                        "consumer_api":
                            "\(offReason == nil ? "/v1/events, /v1/media/ID, /v1/calls/CALLSID/pause|resume" : "off")",
                        "metrics": "/metrics",
                        "console": "\(mount.map { $0.pathPrefix + "/" } ?? "off")",
                    ]
                )
                if let offReason, configuration.token != nil {
                    logger.warning(
                        "the consumer API is off: GET /v1/events answers 404",
                        metadata: ["reason": "\(offReason)"]
                    )
                }
                onListening(port)
            }
        } catch {
            throw .configuration(key: "api", reason: "the internal door cannot be set up: \(error)")
        }
    }

    public func run() async throws {
        try await self.server.run()
    }
}
