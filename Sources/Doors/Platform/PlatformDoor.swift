public import Ingest
public import Logging
import NIOSSL
public import ServiceLifecycle

/// The platform door as a `Service`: a Hummingbird server on `callbacks.host`:`callbacks.port`
/// (TLS when `callbacks.tls` is set) answering `POST /v1/callbacks/status` and `GET /healthz`.
/// On graceful shutdown it stops accepting, finishes the requests in progress and waits for every
/// callback still being stored.
///
/// ```swift
/// let door = try PlatformDoor(configuration: config, sink: recorder, logger: logger) { port in print(port) }
/// let group = ServiceGroup(services: [ingest, door], gracefulShutdownSignals: [.sigterm], logger: logger)
/// ```
public final class PlatformDoor: Service, Sendable {
    public static let callbackPath = StatusCallbackResponder.path
    public let configuration: PlatformDoorConfiguration
    /// Counters for `/metrics`.
    public let counters: StatusCallbackCounters
    /// Why `POST /v1/callbacks/status` answers 404, or nil when it is on.
    public let offReason: String?
    private let inFlight: InFlightCounter
    /// Connections the door closed before a request reached its responder (`/metrics`).
    public let connections = DoorConnectionCounters(door: "platform")
    private let server: DoorServer<StatusCallbackResponder>
    private let logger: Logger

    /// - Parameters:
    ///   - sink: where callbacks are stored; nil leaves the endpoint off (404).
    ///   - onListening: called once with the bound port.
    /// - Throws: ``IngestError/configuration(key:reason:)`` for a bad setting or unreadable TLS files.
    public init(
        configuration: PlatformDoorConfiguration,
        sink: (any StatusCallbackSink)?,
        logger: Logger,
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) throws(IngestError) {
        try configuration.validate()
        let tls = try configuration.tls?.serverConfiguration(prefix: "callbacks")
        let counters = StatusCallbackCounters()
        let inFlight = InFlightCounter()
        let responder = StatusCallbackResponder(
            configuration: configuration,
            sink: sink,
            counters: counters,
            inFlight: inFlight,
            logger: logger
        )
        self.configuration = configuration
        self.counters = counters
        self.inFlight = inFlight
        self.offReason = responder.offReason
        self.logger = logger
        let offReason = responder.offReason
        let scheme = tls == nil ? "http" : "https"
        let connections = self.connections
        do {
            self.server = try DoorServer(
                name: "platform",
                host: configuration.host,
                port: configuration.port,
                limits: configuration.limits,
                tls: tls,
                responder: responder,
                counters: connections,
                logger: logger
            ) { port in
                logger.info(
                    "platform door listening",
                    metadata: [
                        "url": "\(scheme)://\(configuration.host):\(port)\(StatusCallbackResponder.path)",
                        "status_callbacks": "\(offReason == nil ? "on" : "off")",
                    ]
                )
                if let offReason {
                    if configuration.token == nil {
                        logger.info(
                            "status callbacks are off: POST \(StatusCallbackResponder.path) answers 404",
                            metadata: ["reason": "\(offReason)"]
                        )
                    } else {
                        logger.warning(
                            "status callbacks are off: POST \(StatusCallbackResponder.path) answers 404",
                            metadata: ["reason": "\(offReason)"]
                        )
                    }
                }
                onListening(port)
            }
        } catch {
            throw .configuration(key: "callbacks.tls", reason: "the TLS configuration cannot be used: \(error)")
        }
    }

    public func run() async throws {
        try await self.server.run()
        let unfinished = await self.inFlight.drain(timeout: .milliseconds(self.configuration.storeTimeoutMs + 1000))
        if unfinished > 0 {
            self.logger.error("stopped with status callbacks still being stored", metadata: ["count": "\(unfinished)"])
        }
    }
}
