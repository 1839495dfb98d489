import AsyncHTTPClient
import Catalog
import Crypto
import Doors
import ExotelClient
import ExotelKit
import ExotelSimulator
import Foundation
import Glibc
import Hummingbird
import Ingest
import Logging
import MediaStore
import NIOCore
import NIOHTTP1
import Orchestrator
import ServiceLifecycle
import Synchronization
import Testing

/// The whole pipeline of issue 4, in process, on loopback and free ports: an HTTP origin serving prompt WAVs
/// (whose content a test changes), the platform simulator, and an ``ExorecPipeline`` (catalog, ingest server with
/// streams and status callbacks, stream cataloguer, recording fetcher, reconciler) on a fresh storage root, with a
/// ``CallPlacer`` set up as production sets it up (stream URL with credentials, callback URL with token, prompts
/// cache-busted through HTTP). One ``ScaledClock`` drives the simulator, the client, the fetcher and the
/// reconciler, so a ten-second call and a minute of download backoff take a fraction of a second.
///
/// ```swift
/// try await PipelineHarness.run(.init(rate: 20)) { harness in
///     let call = try await harness.place(CallOrder(from: "+919900000001", destination: .number("+919900000002")))
///     try await harness.settle(call.callSid)
/// }
/// ```
///
/// Everything stops at the end of `run`, on the error path too: the pipeline gracefully (streams finalized,
/// fetcher and reconciler stopped), its catalog closed, then the simulator, then the origin.
final class PipelineHarness: Sendable {
    /// How one harness is set up.
    struct Options: Sendable {
        /// The shared clock's rate (platform seconds per real second).
        var rate: Double = 20
        var scenario = Scenario(defaultRingSeconds: 2, defaultTalkSeconds: 4)
        var callbackFaults = CallbackFaults()
        var recordingDelay: Duration = .zero
        var recordingChannels: RecordingChannels = .dual
        var streamBegin: StreamBegin = .leg1Connect
        var callbackFormat: CallbackContentType? = nil
        var waitURLPath: String? = nil
        /// Ring time allowed per leg (`TimeOut`); short so that no-answer calls end quickly.
        var timeOut: Int? = 10
        /// Fetcher backoff, in platform time.
        var initialBackoff: Duration = .seconds(4)
        var maximumBackoff: Duration = .seconds(16)
        var reconciler = ReconcilerConfiguration()
    }

    static let account = SimulatedAccount(sid: "ACe2e01", apiKey: "key-e2e", apiToken: "token-e2e")
    static let credentials = ExotelCredentials(
        accountSid: account.sid,
        apiKey: account.apiKey,
        apiToken: account.apiToken
    )
    static let streamUser = "exotel"
    static let streamPassword = "stream-s3cret!"
    static let callbackToken = "e2e-callback-token-0123456789"
    static let callerId = "08030752400"
    static let version = "e2e-test"
    /// The leg tones of the simulator (docs/SIMULATOR.md): leg 1 (From) 440 Hz, leg 2 (To) 1000 Hz.
    static let leg1Tone = 440.0
    static let leg2Tone = 1000.0

    let options: Options
    let clock: ScaledClock
    let simulator: RunningSimulator
    let origin: PromptOrigin
    let client: ExotelClient
    let pipeline: ExorecPipeline
    let placer: CallPlacer
    let storageRoot: String
    /// Where the catalog is: the SQLite file in the storage root, or a PostgreSQL URL.
    let catalogLocation: String
    let ingestPort: Int
    /// The platform door's port (status callbacks).
    let callbackPort: Int
    let logger: Logger
    private let group: ServiceGroup
    private let groupRun: Task<Void, any Error>
    private let stopped = Mutex(false)
    private let shutdownFailure = Mutex<String?>(nil)

    private init(
        options: Options,
        clock: ScaledClock,
        simulator: RunningSimulator,
        origin: PromptOrigin,
        client: ExotelClient,
        pipeline: ExorecPipeline,
        placer: CallPlacer,
        storageRoot: String,
        ingestPort: Int,
        callbackPort: Int,
        logger: Logger,
        group: ServiceGroup,
        groupRun: Task<Void, any Error>
    ) {
        self.options = options
        self.clock = clock
        self.simulator = simulator
        self.origin = origin
        self.client = client
        self.pipeline = pipeline
        self.placer = placer
        self.storageRoot = storageRoot
        self.catalogLocation =
            switch pipeline.catalog.location {
            case .sqlite(let path): path
            case .postgres(let url): url
            }
        self.ingestPort = ingestPort
        self.callbackPort = callbackPort
        self.logger = logger
        self.group = group
        self.groupRun = groupRun
    }

    var catalog: Catalog { self.pipeline.catalog }
    var platform: SimulatedPlatform { self.simulator.platform }
    var layout: StorageLayout { self.pipeline.layout }
    var callbackURL: String { "http://127.0.0.1:\(self.callbackPort)/v1/callbacks/status?token=\(Self.callbackToken)" }

    static func logger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        let level = ProcessInfo.processInfo.environment["EXOREC_E2E_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) }
        logger.logLevel = level ?? .critical
        return logger
    }

    /// Runs `body` against a fresh harness and tears everything down afterwards.
    /// - Parameter backend: the catalog's database: SQLite in the storage root, or a fresh schema on the tests'
    ///   PostgreSQL server (`CatalogTestBackend.all`).
    static func run<T: Sendable>(
        _ options: Options = Options(),
        backend: CatalogTestBackend = .sqlite,
        _ body: (PipelineHarness) async throws -> T
    ) async throws -> T {
        switch backend {
        case .sqlite:
            return try await Self.run(options, catalogPath: nil, body)
        case .postgres:
            return try await TestPostgres.withSchema { url in try await Self.run(options, catalogPath: url, body) }
        }
    }

    private static func run<T: Sendable>(
        _ options: Options,
        catalogPath: String?,
        _ body: (PipelineHarness) async throws -> T
    ) async throws -> T {
        let storageRoot = try Self.temporaryDirectory("e2e-storage")
        let recordings = try Self.temporaryDirectory("e2e-sim-recordings")
        defer {
            try? FileManager.default.removeItem(atPath: recordings)
            Self.removeTree(storageRoot)
        }
        let origin = PromptOrigin()
        return try await origin.serve { originPort in
            origin.port = originPort
            var platform = SimulatorConfiguration(
                accounts: [Self.account],
                recordingsDirectory: recordings,
                publicBaseURL: ""
            )
            platform.scenario = options.scenario
            platform.callbackFaults = options.callbackFaults
            platform.recordingDelay = options.recordingDelay
            let clock = ScaledClock(rate: options.rate)
            return try await SimulatorServer.withRunning(
                configuration: SimulatorServerConfiguration(host: "127.0.0.1", port: 0),
                platform: platform,
                clock: clock,
                logger: Self.logger("e2e-simulator")
            ) { simulator in
                let harness = try await Self.start(
                    options: options,
                    clock: clock,
                    simulator: simulator,
                    origin: origin,
                    storageRoot: storageRoot,
                    catalogPath: catalogPath
                )
                let result: Result<T, any Error>
                do {
                    result = .success(try await body(harness))
                } catch {
                    result = .failure(error)
                }
                // The simulator's calls finish (and their callbacks are delivered or given up) before the pipeline
                // stops, so nothing is half-way at teardown.
                await simulator.platform.shutdown()
                try await harness.stop()
                return try result.get()
            }
        }
    }

    private static func start(
        options: Options,
        clock: ScaledClock,
        simulator: RunningSimulator,
        origin: PromptOrigin,
        storageRoot: String,
        catalogPath: String?
    ) async throws -> PipelineHarness {
        let logger = Self.logger("e2e-pipeline")
        var ingest = IngestConfiguration()
        ingest.server.host = "127.0.0.1"
        ingest.server.port = 0
        ingest.server.shutdownGraceMilliseconds = 500
        ingest.credentials = [BasicAuthenticator.Credential(username: Self.streamUser, password: Self.streamPassword)]
        var callbacks = PlatformDoorConfiguration()
        callbacks.port = 0
        callbacks.token = Self.callbackToken
        var api = InternalDoorConfiguration()
        api.port = 0
        // The longest store the platform's 15 s answer deadline allows. With every suite's catalog on one
        // shared disk, a heavily loaded test machine has taken over 9 s to store a terminal callback
        // (three fsynced commits and call.json); the tests check a 200, not the 503 of a store that overran.
        callbacks.storeTimeoutMs = 14_000
        ingest.storageRoot = storageRoot
        let fetcher = RecordingFetcherConfiguration(
            storageRoot: storageRoot,
            workers: 2,
            initialBackoff: options.initialBackoff,
            maximumBackoff: options.maximumBackoff,
            pollInterval: .milliseconds(100),
            exorecVersion: Self.version
        )
        let client = ExotelClient(
            endpoint: try ExotelEndpoint(baseURL: simulator.baseURL),
            credentials: Self.credentials,
            clock: clock,
            rateLimiter: RequestRateLimiter(clock: clock),
            logger: logger
        )
        let port = Mutex<Int?>(nil)
        let callbackPort = Mutex<Int?>(nil)
        let pipeline = try await ExorecPipeline.open(
            configuration: PipelineConfiguration(
                ingest: ingest,
                callbacks: callbacks,
                api: api,
                catalogPath: catalogPath,
                fetcher: fetcher,
                reconciler: options.reconciler,
                exorecVersion: Self.version
            ),
            client: client,
            logger: logger,
            onListening: { bound in port.withLock { $0 = bound } },
            onPlatformListening: { bound in callbackPort.withLock { $0 = bound } }
        )
        // As `exorec serve` runs them (Serve.run), signals aside.
        let group = ServiceGroup(configuration: .init(services: pipeline.serviceConfigurations, logger: logger))
        let groupRun = Task { try await group.run() }
        let deadline = ContinuousClock.now + .seconds(20)
        var ingestPort: Int?
        while ingestPort == nil {
            ingestPort = port.withLock { $0 }
            if ingestPort != nil, callbackPort.withLock({ $0 }) != nil { break }
            ingestPort = nil
            guard ContinuousClock.now < deadline else {
                await group.triggerGracefulShutdown()
                _ = try? await groupRun.value
                try? await pipeline.close()
                throw HarnessFailure("the ingest server did not start listening")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        let bound = ingestPort!
        let boundCallbacks = callbackPort.withLock { $0 }!
        let settings = PlacementSettings(
            callerId: Self.callerId,
            recordingChannels: options.recordingChannels,
            recordingFormat: .mp3,
            streamURL: "ws://127.0.0.1:\(bound)/v1/streams",
            streamUsername: Self.streamUser,
            streamPassword: Self.streamPassword,
            streamBegin: options.streamBegin,
            statusCallbackURL: "http://127.0.0.1:\(boundCallbacks)/v1/callbacks/status?token=\(Self.callbackToken)",
            statusCallbackContentType: options.callbackFormat,
            waitURL: options.waitURLPath.map { origin.url($0) },
            timeOut: options.timeOut
        )
        let placer = CallPlacer(
            settings: settings,
            client: client,
            catalog: pipeline.catalog,
            // Reuse nothing: every placement looks at the origin again, as a long campaign eventually does.
            prompts: PromptPreparer(fetcher: HTTPPromptAudioFetcher(), clock: clock, reuseFor: .zero),
            sidecars: pipeline.sidecars,
            logger: logger
        )
        return PipelineHarness(
            options: options,
            clock: clock,
            simulator: simulator,
            origin: origin,
            client: client,
            pipeline: pipeline,
            placer: placer,
            storageRoot: storageRoot,
            ingestPort: bound,
            callbackPort: boundCallbacks,
            logger: logger,
            group: group,
            groupRun: groupRun
        )
    }

    /// Stops the pipeline gracefully (ingest first: open streams finalized) and closes its catalog. Idempotent.
    ///
    /// The service group's own verdict on the shutdown is kept in ``shutdownError`` rather than thrown, so that
    /// one test checks it on purpose (`EndToEndLifecycleTests`) instead of every test failing at teardown.
    func stop() async throws {
        let already = self.stopped.withLock { stopped in
            defer { stopped = true }
            return stopped
        }
        guard !already else { return }
        await self.group.triggerGracefulShutdown()
        let outcome = await self.groupRun.result
        try await self.pipeline.close()
        if case .failure(let error) = outcome {
            self.shutdownFailure.withLock { $0 = "\(error)" }
        }
    }

    /// What the pipeline's service group threw when it was stopped (nil: a clean stop).
    var shutdownError: String? { self.shutdownFailure.withLock { $0 } }

    // MARK: - Placing

    /// Places through the production placer (prompts fetched and cache-busted, catalogued, call.json written).
    @discardableResult
    func place(_ order: CallOrder) async throws -> PlacedCall {
        try await self.placer.place(order)
    }

    /// Places `order` as the placer would build it, but with `mutate` applied to the request before it is sent
    /// (an unbusted prompt URL, say), and catalogues it the same way.
    @discardableResult
    func placeRaw(_ order: CallOrder, _ mutate: (inout ConnectCallRequest) -> Void) async throws -> PlacedCall {
        var request = try await self.placer.request(for: order)
        mutate(&request)
        let response = try await self.client.connect(request)
        let placed = PlacedCall(request: request, response: response, accountSid: Self.account.sid, placedAt: .now())
        _ = try await self.catalog.recordPlacedCall(placed)
        try await self.pipeline.sidecars.refresh(callSid: placed.callSid)
        return placed
    }

    // MARK: - Waiting

    /// Polls `condition` until it holds (wall-clock `timeout`, generous: this bounds a hang, not a speed).
    func eventually(
        _ what: @autoclosure () -> String,
        timeout: Duration = .seconds(60),
        _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            if try await condition() { return }
            guard ContinuousClock.now < deadline else { throw HarnessFailure("timed out waiting for \(what())") }
            try await Task.sleep(for: .milliseconds(25))
        }
    }

    /// Waits until the simulator is done with `callSid` and the pipeline has caught up with it: terminal in the
    /// catalog, every stream the simulator opened finalized, and a queued recording downloaded (or refused, or
    /// given up).
    func settle(_ callSid: String, timeout: Duration = .seconds(60)) async throws {
        let plan = try #require(await self.platform.plan(ofCall: callSid), "the simulator does not know \(callSid)")
        try await self.eventually("call \(callSid) to be terminal in the catalog", timeout: timeout) {
            try await self.catalog.call(sid: callSid)?.isTerminal == true
        }
        if plan.streamStart != nil {
            try await self.eventually("the stream of \(callSid) to be finalized", timeout: timeout) {
                let streams = try await self.catalog.streams(callSid: callSid)
                return !streams.isEmpty && streams.allSatisfy { $0.state != .recording }
            }
        }
        try await self.eventually("the downloads of \(callSid) to finish", timeout: timeout) {
            let jobs = try await self.catalog.downloadJobs(callSid: callSid)
            return jobs.allSatisfy { [.done, .failed, .refused].contains($0.state) }
        }
    }

    // MARK: - Files

    /// The call's folder (by its placement date).
    func callDirectory(_ callSid: String) async throws -> String {
        let call = try #require(try await self.catalog.call(sid: callSid), "\(callSid) is not in the catalog")
        return self.layout.callDirectory(
            account: try PathSafeIdentifier(call.accountSid, field: "account"),
            callSid: try PathSafeIdentifier(callSid, field: "call"),
            startedAt: call.placedAt
        )
    }

    func absolute(_ relative: String) -> String { "\(self.storageRoot)/\(relative)" }

    /// Names in a directory, sorted (empty when it does not exist).
    static func files(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    /// SHA-256 of a file's bytes, hashed here (not by exorec's code).
    static func freshSHA256(_ path: String) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    static func sha256(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    static func isReadOnly(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        return info.st_mode & 0o222 == 0
    }

    /// Decoded samples (interleaved) and the file's format, through libsndfile (WAV or mp3).
    static func samples(_ path: String) throws -> (info: SoundFile.Info, samples: [Int16]) {
        let file = try SoundFile.open(readingFrom: path)
        defer { try? file.close() }
        return (file.info, file.readAll())
    }

    /// The sample index `seconds` into an 8 kHz signal.
    static func at(_ seconds: Double) -> Int { Int((seconds * 8000).rounded()) }

    /// Samples `from`–`to` seconds into 8 kHz mono `samples`; a window past the end is an issue (and clamped, so a
    /// short file fails the test instead of crashing the test process).
    static func window(
        _ samples: [Int16],
        from: Double,
        to: Double,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> [Int16] {
        let start = Self.at(from)
        let end = Self.at(to)
        #expect(
            start < end && end <= samples.count,
            "window \(from)–\(to) s of \(samples.count) samples",
            sourceLocation: sourceLocation
        )
        return Array(samples[min(start, samples.count)..<min(max(start, end), samples.count)])
    }

    /// Channel `channel` of interleaved `samples`.
    static func channel(_ channel: Int, of samples: [Int16], channels: Int) -> [Int16] {
        stride(from: channel, to: samples.count, by: channels).map { samples[$0] }
    }

    /// Goertzel power of `frequency` in `samples`, normalised by the length (as the simulator's tests measure).
    static func tonePower(_ samples: some Collection<Int16>, frequency: Double, sampleRate: Int) -> Double {
        let coefficient = 2 * cos(2 * Double.pi * frequency / Double(sampleRate))
        var previous = 0.0
        var beforePrevious = 0.0
        for sample in samples {
            let value = Double(sample) + coefficient * previous - beforePrevious
            beforePrevious = previous
            previous = value
        }
        let power = previous * previous + beforePrevious * beforePrevious - coefficient * previous * beforePrevious
        return power / Double(max(samples.count, 1) * max(samples.count, 1))
    }

    /// A canonical 16-bit PCM WAV of a sine tone: what a user hosts at a WaitUrl.
    static func toneWAV(frequency: Double, seconds: Double, sampleRate: Int = 8000) -> [UInt8] {
        ToneWAV.bytes(frequency: frequency, seconds: seconds, sampleRate: sampleRate)
    }

    static func temporaryDirectory(_ label: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("exorec-\(label)-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Removes a storage root whose media files are read-only (their folders are writable, so plain removal works;
    /// kept as a helper so a failure to clean up never fails a test).
    static func removeTree(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    // MARK: - Posting callbacks ourselves

    /// POSTs a body to the pipeline's status-callback endpoint, as the platform would; returns status and body.
    func postCallback(
        _ body: [UInt8],
        contentType: String,
        token: String? = nil
    ) async throws -> (status: Int, body: String) {
        let url = "http://127.0.0.1:\(self.callbackPort)/v1/callbacks/status?token=\(token ?? Self.callbackToken)"
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        request.headers.add(name: "Content-Length", value: "\(body.count)")
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: bytes))
    }

    /// A JSON status callback as the platform sends it (`StatusCallbackContentType=application/json`).
    static func jsonCallback(_ fields: [String: Any]) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]))
    }
}

/// A failure of the harness itself (something did not start or did not happen in time).
struct HarnessFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// An HTTP origin for prompt audio on a free loopback port: serves whatever bytes a test put at a path, counts the
/// GETs per path. The content can change between calls, as a file on a CDN does.
final class PromptOrigin: Sendable {
    private let content = Mutex<[String: [UInt8]]>([:])
    private let requests = Mutex<[String: Int]>([:])
    private let boundPort = Mutex<Int?>(nil)

    var port: Int? {
        get { self.boundPort.withLock { $0 } }
        set { self.boundPort.withLock { $0 = newValue } }
    }

    /// `http://127.0.0.1:PORT<pathAndQuery>`.
    func url(_ pathAndQuery: String) -> String { "http://127.0.0.1:\(self.port ?? 0)\(pathAndQuery)" }

    func set(_ path: String, _ bytes: [UInt8]) { self.content.withLock { $0[path] = bytes } }
    func requestCount(_ path: String) -> Int { self.requests.withLock { $0[path] ?? 0 } }

    func serve<T: Sendable>(_ body: (Int) async throws -> T) async throws -> T {
        let router = Router()
        router.get("**") { request, _ -> Response in
            let path = request.uri.path
            self.requests.withLock { $0[path, default: 0] += 1 }
            guard let bytes = self.content.withLock({ $0[path] }) else { return Response(status: .notFound) }
            return Response(
                status: .ok,
                headers: [.contentType: "audio/wav"],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes))
            )
        }
        let port = Mutex<Int?>(nil)
        let logger = PipelineHarness.logger("e2e-prompt-origin")
        let application = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(services: [application], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let result: Result<T, any Error>
            do {
                let deadline = ContinuousClock.now + .seconds(20)
                var bound: Int?
                while bound == nil, ContinuousClock.now < deadline {
                    bound = port.withLock { $0 }
                    if bound == nil { try await Task.sleep(for: .milliseconds(10)) }
                }
                guard let bound else { throw HarnessFailure("the prompt origin did not start") }
                result = .success(try await body(bound))
            } catch {
                result = .failure(error)
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return try result.get()
        }
    }
}
