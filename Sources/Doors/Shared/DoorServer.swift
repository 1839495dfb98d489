import ExotelKit
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Ingest
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle

/// The limits every door applies to its connections, whatever they ask for.
public struct DoorLimits: Sendable, Hashable {
    /// Connections open at once; beyond this the door stops accepting until one closes (the
    /// others wait in the listen backlog).
    public var maxConnections = 256
    /// Connections open at once from one source address; nil: no limit beyond `maxConnections`
    /// (the internal door, whose clients all come from loopback). One source beyond it is closed at
    /// once, so it cannot hold every place with idle sockets.
    public var maxConnectionsPerSource: Int?
    /// A connection with no request in progress (or a request whose head has not arrived) is closed
    /// after this long: a client that sends a header byte every second is cut off here.
    public var idleTimeoutMs: Int64 = 10_000
    /// A request body must arrive completely within this long after its head (408 otherwise, and
    /// the connection is closed). A body the door drains after a refusal has the same deadline,
    /// plus two seconds, after which the connection is closed.
    public var bodyTimeoutMs: Int64 = 10_000
    /// A refused request's body up to this size is read and dropped, so the connection carries the
    /// next request; a larger one, or one of unknown length, is not read: the connection closes
    /// after the answer.
    public static let maxDrainBytes = 1 << 20

    public init() {}

    /// `host` must be an IPv4 or IPv6 literal (as `ingest.host`), so a typo cannot bind elsewhere.
    static func validate(host: String, key: String) throws(IngestError) {
        guard SourceAllowlist.addressBytes(host) != nil else {
            throw .configuration(
                key: key,
                reason: "'\(host)' is not an IPv4 or IPv6 address (127.0.0.1 for loopback, 0.0.0.0 for every interface)"
            )
        }
    }

    func validate(prefix: String) throws(IngestError) {
        guard (1...100_000).contains(self.maxConnections) else {
            throw .configuration(key: "\(prefix).max_connections", reason: "must be between 1 and 100000")
        }
        if let perSource = self.maxConnectionsPerSource, !(1...100_000).contains(perSource) {
            throw .configuration(key: "\(prefix).max_connections_per_source", reason: "must be between 1 and 100000")
        }
        guard (500...600_000).contains(self.idleTimeoutMs) else {
            throw .configuration(key: "\(prefix).idle_timeout", reason: "must be between 500ms and 10m")
        }
        guard (500...600_000).contains(self.bodyTimeoutMs) else {
            throw .configuration(key: "\(prefix).body_timeout", reason: "must be between 500ms and 10m")
        }
    }
}

/// A certificate chain and private key in PEM files: the door terminates TLS itself.
public struct DoorTLS: Sendable, Hashable {
    public var certificatePath: String
    public var keyPath: String

    public init(certificatePath: String, keyPath: String) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }

    /// Loads both files; a failure names the key and the file.
    func serverConfiguration(prefix: String) throws(IngestError) -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(self.certificatePath)
        } catch {
            throw .configuration(
                key: "\(prefix).tls.certificate",
                reason: "cannot read a PEM certificate from '\(self.certificatePath)': \(error)"
            )
        }
        guard !chain.isEmpty else {
            throw .configuration(
                key: "\(prefix).tls.certificate",
                reason: "'\(self.certificatePath)' holds no certificate"
            )
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: self.keyPath, format: .pem)
        } catch {
            throw .configuration(
                key: "\(prefix).tls.key",
                reason: "cannot read a PEM private key from '\(self.keyPath)': \(error)"
            )
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }
}

/// One Hummingbird server for one door, as a swift-service-lifecycle `Service`.
struct DoorServer<Responder: Hummingbird.HTTPResponder>: Service where Responder.Context == DoorContext {
    let name: String
    let address: String
    let application: Application<Responder>

    init(
        name: String,
        host: String,
        port: Int,
        limits: DoorLimits,
        tls: TLSConfiguration?,
        responder: Responder,
        counters: DoorConnectionCounters,
        logger: Logger,
        onListening: @escaping @Sendable (Int) -> Void
    ) throws {
        let perSource = limits.maxConnectionsPerSource.map {
            SourceConnectionLimit(limit: $0, counters: counters, logger: logger)
        }
        let http = HTTPServerBuilder.http1(
            configuration: .init(
                additionalChannelHandlers: Self.handlers(limits: limits, perSource: perSource, counters: counters),
                idleTimeout: .milliseconds(limits.idleTimeoutMs),
                httpDecoderConfiguration: .init(
                    maxHeaderFieldSize: 16 << 10,
                    maxHeaderListSize: 32 << 10,
                    maxHeaderFieldCount: 100
                )
            )
        )
        let server = try tls.map { try HTTPServerBuilder.tls(http, tlsConfiguration: $0) } ?? http
        var serverLogger = logger
        serverLogger[metadataKey: "door"] = "\(name)"
        self.name = name
        self.address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        self.application = Application(
            responder: responder,
            server: server,
            configuration: ApplicationConfiguration(
                address: .hostname(host, port: port),
                serverName: nil,
                backlog: 256,
                reuseAddress: true,
                availableConnectionsDelegate: MaximumAvailableConnections(limits.maxConnections, logger: serverLogger)
            ),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) },
            logger: serverLogger
        )
    }

    /// The handlers each connection gets between the HTTP codec and Hummingbird: the per-source
    /// limit (when set) and the request deadline.
    private static func handlers(
        limits: DoorLimits,
        perSource: SourceConnectionLimit?,
        counters: DoorConnectionCounters
    ) -> [any RemovableChannelHandler] {
        let deadline = RequestDeadlineHandler(deadline: .milliseconds(limits.bodyTimeoutMs + 2000), counters: counters)
        guard let perSource else { return [deadline] }
        return [SourceConnectionLimitHandler(limit: perSource), deadline]
    }

    /// Runs until graceful shutdown; a failure (the address is taken, say) names the door.
    func run() async throws {
        do {
            try await self.application.run()
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as IOError {
            let setting =
                self.name == "platform"
                ? "callbacks.port or --callbacks-port"
                : self.name == "internal" ? "api.port or --api-port" : "its port setting"
            throw IngestError.serverStart(
                reason: ListenFailure.sentence(
                    door: "\(self.name) door",
                    address: self.address,
                    errno: error.errnoCode,
                    setting: setting
                )
            )
        } catch {
            throw IngestError.serverStart(reason: "the \(self.name) door on \(self.address) failed: \(error)")
        }
    }
}
