import AsyncHTTPClient
import ExotelKit
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Where the HTTP front of the simulator listens and what it enforces.
public struct SimulatorServerConfiguration: Sendable, Hashable {
    /// Address to bind; loopback unless the simulator must be reachable from elsewhere.
    public var host: String
    /// Port to bind; 0 picks a free one (``RunningSimulator/port`` says which).
    public var port: Int
    /// API requests a minute per account (`Calls/connect` and Call Details); the platform allows 200.
    public var requestsPerMinute: Int
    /// Largest request body accepted; `Calls/connect` forms are a few hundred bytes.
    public var maximumBodySize: Int

    public init(host: String = "127.0.0.1", port: Int = 0, requestsPerMinute: Int = 200, maximumBodySize: Int = 1 << 20)
    {
        self.host = host
        self.port = port
        self.requestsPerMinute = requestsPerMinute
        self.maximumBodySize = maximumBodySize
    }
}

/// A simulator that is accepting requests.
public struct RunningSimulator: Sendable {
    public let host: String
    /// The bound port (the chosen one when the configuration asked for port 0).
    public let port: Int
    /// `http://HOST:PORT`: the base URL to point a client at, as for `https://api.exotel.com`.
    public let baseURL: String
    /// The calls, recordings and callbacks behind the REST surface.
    public let platform: SimulatedPlatform
}

/// The simulator's REST surface — `Calls/connect`, Call Details, recordings — over the simulated platform.
///
/// A `Service`: run it in a `ServiceGroup` (graceful shutdown on SIGINT/SIGTERM stops accepting requests,
/// then shuts the platform down) or call ``run()`` in a task and cancel it. The platform is created once the
/// socket is bound, because its recording URLs contain the bound port.
public final class SimulatorServer: Service, Sendable {
    public let configuration: SimulatorServerConfiguration
    private let platformConfiguration: SimulatorConfiguration
    private let clock: ScaledClock
    private let httpClient: HTTPClient
    private let logger: Logger
    private let started = Eventual<RunningSimulator>()
    private let platform = Eventual<SimulatedPlatform>()

    /// - Parameters:
    ///   - platform: accounts, recordings directory, scenario and faults. An empty `publicBaseURL` is filled
    ///     with the bound address (`http://HOST:PORT`, loopback when bound to every interface).
    ///   - clock: shared with the calls and the rate limit; share it with a client's limiter in tests.
    ///   - httpClient: fetches audio URLs and delivers status callbacks.
    public init(
        configuration: SimulatorServerConfiguration = .init(),
        platform: SimulatorConfiguration,
        clock: ScaledClock = ScaledClock(),
        httpClient: HTTPClient = .shared,
        logger: Logger
    ) {
        self.configuration = configuration
        self.platformConfiguration = platform
        self.clock = clock
        self.httpClient = httpClient
        self.logger = logger
    }

    /// Waits until the server accepts requests. Throws if it could not bind (or stopped before it did).
    public func running() async throws -> RunningSimulator {
        try await self.started.value
    }

    /// Serves until cancelled or gracefully shut down, then shuts the platform down.
    public func run() async throws {
        let responder = SimulatorResponder(
            accounts: Dictionary(
                self.platformConfiguration.accounts.map { ($0.sid, $0) },
                uniquingKeysWith: { first, _ in first }
            ),
            limiter: AccountRateLimiter(limit: self.configuration.requestsPerMinute, clock: self.clock),
            platform: self.platform,
            clock: self.clock,
            maximumBodySize: self.configuration.maximumBodySize
        )
        let host = self.configuration.host
        let application = Application(
            responder: responder,
            configuration: .init(
                address: .hostname(host, port: self.configuration.port),
                serverName: "exorec-simulator"
            ),
            onServerRunning: { [self] channel in
                let port = channel.localAddress?.port ?? self.configuration.port
                self.didBind(host: host, port: port)
            },
            logger: self.logger
        )
        do {
            do {
                try await application.run()
            } catch let error as IOError {
                let address =
                    host.contains(":") ? "[\(host)]:\(self.configuration.port)" : "\(host):\(self.configuration.port)"
                throw SimulatorServerError(
                    message: ListenFailure.sentence(
                        door: "simulator",
                        address: address,
                        errno: error.errnoCode,
                        setting: "--port (or EXOREC_SIMULATOR_PORT)"
                    )
                )
            }
        } catch {
            self.platform.resolve(.failure(error))
            self.started.resolve(.failure(error))
            await self.platform.resolvedValue?.shutdown()
            throw error
        }
        let stopped = SimulatorServerError(message: "the simulator stopped before it was listening")
        self.platform.resolve(.failure(stopped))
        self.started.resolve(.failure(stopped))
        await self.platform.resolvedValue?.shutdown()
    }

    private func didBind(host: String, port: Int) {
        // A wildcard address is where to listen, not where to connect: clients reach it over loopback.
        let reachableHost = ["0.0.0.0", "::", "[::]"].contains(host) ? "127.0.0.1" : host
        let baseURL = "http://\(reachableHost.contains(":") ? "[\(reachableHost)]" : reachableHost):\(port)"
        var platformConfiguration = self.platformConfiguration
        if platformConfiguration.publicBaseURL.isEmpty { platformConfiguration.publicBaseURL = baseURL }
        let platform = SimulatedPlatform(
            configuration: platformConfiguration,
            clock: self.clock,
            httpClient: self.httpClient,
            logger: self.logger
        )
        self.platform.resolve(.success(platform))
        self.started.resolve(
            .success(RunningSimulator(host: reachableHost, port: port, baseURL: baseURL, platform: platform))
        )
        self.logger.info("simulator listening", metadata: ["url": "\(baseURL)"])
    }
}

extension SimulatorServer {
    /// Runs a simulator for the duration of `body`, then stops it: the shape tests and `exorec demo` need.
    public static func withRunning<Value>(
        configuration: SimulatorServerConfiguration = .init(),
        platform: SimulatorConfiguration,
        clock: ScaledClock = ScaledClock(),
        httpClient: HTTPClient = .shared,
        logger: Logger,
        _ body: (RunningSimulator) async throws -> Value
    ) async throws -> Value {
        let server = SimulatorServer(
            configuration: configuration,
            platform: platform,
            clock: clock,
            httpClient: httpClient,
            logger: logger
        )
        // A graceful shutdown rather than cancellation: open connections finish their request and the
        // platform is shut down in order, as it is on SIGTERM.
        let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let result: Swift.Result<Value, any Error>
            do {
                result = .success(try await body(try await server.running()))
            } catch {
                result = .failure(error)
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return try result.get()
        }
    }
}

/// The simulator could not serve.
public struct SimulatorServerError: Error, Sendable, Hashable, CustomStringConvertible {
    public let message: String
    public var description: String { self.message }
}
