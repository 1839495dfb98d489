import Catalog
import ExotelClient
import ExotelKit
import ExotelSimulator
import Foundation
import Glibc
import Logging
import MediaStore
import Orchestrator
import Synchronization
import Testing

/// Helpers of the recording fetcher and reconciler tests (copied in spirit from the simulator tests' support:
/// test targets do not import each other).
enum RecordingTests {
    static let account = SimulatedAccount(sid: "ACrec01", apiKey: "key-rec", apiToken: "token-rec")
    static let credentials = ExotelCredentials(
        accountSid: account.sid,
        apiKey: account.apiKey,
        apiToken: account.apiToken
    )
    static let version = "test"

    static func quietLogger(_ label: String = "recording-test") -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = .error
        return logger
    }

    /// A fresh directory under the system temporary directory.
    static func temporaryDirectory(_ label: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("exorec-\(label)-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A storage root and its catalog (opened, migrated, closed after `body`, the root removed): the root's
    /// `catalog.sqlite`, or a fresh schema of the test PostgreSQL server.
    static func withStore<T: Sendable>(
        _ backend: CatalogTestBackend = .sqlite,
        _ body: (_ root: String, _ catalog: Catalog) async throws -> T
    ) async throws -> T {
        let root = try self.temporaryDirectory("storage")
        defer { try? FileManager.default.removeItem(atPath: root) }
        switch backend {
        case .sqlite:
            return try await Catalog.withCatalog(path: "\(root)/catalog.sqlite", logger: self.quietLogger()) {
                catalog in try await body(root, catalog)
            }
        case .postgres:
            return try await TestPostgres.withSchema { url in
                try await Catalog.withCatalog(path: url, logger: self.quietLogger()) { catalog in
                    try await body(root, catalog)
                }
            }
        }
    }

    /// What opens `catalog` again (as another process would): its file, or its URL with the password.
    static func reopenPath(_ catalog: Catalog) -> String {
        switch catalog.location {
        case .sqlite(let path): path
        case .postgres(let url): url
        }
    }

    /// A simulator on a free loopback port, serving ``account``.
    static func withSimulator<T>(
        rate: Double = 100,
        configure: (inout SimulatorConfiguration) -> Void = { _ in },
        _ body: (RunningSimulator, ScaledClock) async throws -> T
    ) async throws -> T {
        let recordings = try self.temporaryDirectory("sim-recordings")
        defer { try? FileManager.default.removeItem(atPath: recordings) }
        var platform = SimulatorConfiguration(
            accounts: [self.account],
            recordingsDirectory: recordings,
            publicBaseURL: ""
        )
        configure(&platform)
        let clock = ScaledClock(rate: rate)
        return try await SimulatorServer.withRunning(
            configuration: SimulatorServerConfiguration(host: "127.0.0.1", port: 0),
            platform: platform,
            clock: clock,
            logger: self.quietLogger("simulator")
        ) { running in
            try await body(running, clock)
        }
    }

    /// A client of the simulator on its clock, with its own rate limiter.
    static func client(_ running: RunningSimulator, clock: ScaledClock) throws -> ExotelClient {
        ExotelClient(
            endpoint: try ExotelEndpoint(baseURL: running.baseURL),
            credentials: self.credentials,
            clock: clock,
            rateLimiter: RequestRateLimiter(clock: clock),
            logger: self.quietLogger("client")
        )
    }

    /// A client that talks to `transport` only (no network), on `clock`.
    static func client(
        transport: FakeTransport,
        clock: ScaledClock,
        maximumRecordingBytes: Int = 512 << 20
    ) -> ExotelClient {
        ExotelClient(
            endpoint: .singapore,
            credentials: self.credentials,
            configuration: ExotelClientConfiguration(retry: .none, maximumRecordingBytes: maximumRecordingBytes),
            clock: clock,
            rateLimiter: RequestRateLimiter(clock: clock),
            transport: transport,
            logger: self.quietLogger("client")
        )
    }

    static func fetcherConfiguration(
        root: String,
        giveUpAfter: Duration = .seconds(30 * 60),
        lease: Duration? = nil,
        workers: Int = 2
    ) -> RecordingFetcherConfiguration {
        RecordingFetcherConfiguration(
            storageRoot: root,
            workers: workers,
            giveUpAfter: giveUpAfter,
            lease: lease,
            pollInterval: .milliseconds(50),
            exorecVersion: self.version
        )
    }

    /// Places a recorded two-number call through the client and records it in the catalog as the placer does.
    static func placeRecordedCall(
        client: ExotelClient,
        catalog: Catalog,
        channels: RecordingChannels = .dual,
        configure: (inout ConnectCallRequest) -> Void = { _ in }
    ) async throws -> PlatformCall {
        var request = ConnectCallRequest(
            from: "+919900000001",
            callerId: "08030752400",
            destination: .number("+919900000002")
        )
        request.record = true
        request.recordingChannels = channels
        configure(&request)
        let call = try await client.connect(request)
        try await catalog.recordPlacedCall(
            PlacedCall(request: request, response: call, accountSid: self.account.sid, placedAt: .now())
        )
        return call
    }

    /// A call in the catalog that no platform placed (for tests with a fake transport).
    static func recordCall(
        _ callSid: String,
        in catalog: Catalog,
        placedAt: Timestamp = .now(),
        metadata: [String: String] = [:]
    ) async throws {
        try await catalog.recordPlacedCall(
            PlacedCall(
                callSid: callSid,
                accountSid: self.account.sid,
                placedAt: placedAt,
                parameters: ["Record": "true"],
                platformCall: PlatformCall(sid: callSid, status: "in-progress"),
                metadata: metadata
            )
        )
    }

    /// The call's folder below `root`.
    static func callDirectory(root: String, callSid: String, placedAt: Timestamp) throws -> String {
        StorageLayout(root: root).callDirectory(
            account: try PathSafeIdentifier(self.account.sid, field: "account"),
            callSid: try PathSafeIdentifier(callSid, field: "call"),
            startedAt: placedAt
        )
    }

    /// Names in a directory (empty when it does not exist).
    static func files(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    static func isReadOnly(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        return info.st_mode & 0o222 == 0
    }

    /// Polls `condition` until it holds; fails the test with `message` after `timeout` (wall-clock).
    static func eventually(
        timeout: Duration = .seconds(60),
        _ message: String,
        _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("timed out: \(message)")
        throw CancellationError()
    }

    /// Runs `service`'s `run()` beside `body`, then cancels it and waits for it to return.
    static func running<T: Sendable>(
        _ run: @escaping @Sendable () async throws -> Void,
        _ body: () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await run() }
            let result: Result<T, any Error>
            do {
                result = .success(try await body())
            } catch {
                result = .failure(error)
            }
            group.cancelAll()
            try await group.waitForAll()
            return try result.get()
        }
    }

    /// A few bytes that pass for an mp3 (an ID3 tag, then MPEG frame headers).
    static let fakeMP3: [UInt8] =
        Array("ID3".utf8) + [0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00] + [0xFF, 0xFB, 0x90, 0x64]
        + [UInt8](repeating: 0x55, count: 400)
}

/// An ``ExotelTransport`` answering from a handler, no network; counts requests per URL.
final class FakeTransport: ExotelTransport {
    typealias Handler = @Sendable (TransportRequest) async -> Result<TransportResponse, TransportError>

    private let handler: Handler
    private let sent = Mutex<[TransportRequest]>([])

    init(_ handler: @escaping Handler) {
        self.handler = handler
    }

    func send(_ request: TransportRequest) async throws(TransportError) -> TransportResponse {
        self.sent.withLock { $0.append(request) }
        return try await self.handler(request).get()
    }

    var requests: [TransportRequest] { self.sent.withLock { $0 } }

    func count(_ url: String) -> Int { self.requests.count { $0.url == url } }

    static func audio(
        _ body: [UInt8] = RecordingTests.fakeMP3,
        type: String = "audio/mpeg"
    ) -> Result<TransportResponse, TransportError> {
        .success(
            TransportResponse(
                status: 200,
                headers: [("Content-Type", type), ("Content-Length", "\(body.count)")],
                body: body
            )
        )
    }

    static func status(_ status: Int) -> Result<TransportResponse, TransportError> {
        .success(
            TransportResponse(
                status: status,
                headers: [("Content-Type", "application/json")],
                body: Array(#"{"RestException":{"Status":\#(status),"Message":"Not found"}}"#.utf8)
            )
        )
    }
}
