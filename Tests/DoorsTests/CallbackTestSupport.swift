import Doors
import ExorecTesting
import ExotelKit
import Foundation
import Glibc
import Ingest
import Logging
import MediaStore
import ServiceLifecycle
import Synchronization

/// A token that passes `callbacks.token`'s rules.
let testCallbackToken = "cb-token-0123456789abcdef"

/// An in-memory ``StatusCallbackSink`` that records what it is given.
///
/// It can fail every store, answer a CallSid as unknown, or hold every store until `open()` is
/// called (a slow catalog); `entered` counts stores that have begun.
final class RecordingSink: StatusCallbackSink {
    struct State {
        var stored: [ReceivedStatusCallback] = []
        var quarantined: [QuarantinedStatusCallback] = []
        var entered = 0
        var gateOpen = true
    }

    private let state = Mutex(State())
    let failing: Bool
    let unknownCallSids: Set<String>

    init(failing: Bool = false, gated: Bool = false, unknownCallSids: Set<String> = []) {
        self.failing = failing
        self.unknownCallSids = unknownCallSids
        self.state.withLock { $0.gateOpen = !gated }
    }

    struct StoreFailed: Error, CustomStringConvertible {
        var description: String { "the test sink refuses every callback" }
    }

    func store(_ callback: ReceivedStatusCallback) async throws -> StatusCallbackStoreResult {
        self.state.withLock { $0.entered += 1 }
        while !self.state.withLock({ $0.gateOpen }) {
            try await Task.sleep(for: .milliseconds(5))
        }
        if self.failing { throw StoreFailed() }
        self.state.withLock { $0.stored.append(callback) }
        return self.unknownCallSids.contains(callback.callback.callSid) ? .storedUnknownCall : .stored
    }

    func quarantine(_ rejected: QuarantinedStatusCallback) async {
        self.state.withLock { $0.quarantined.append(rejected) }
    }

    func open() { self.state.withLock { $0.gateOpen = true } }
    var stored: [ReceivedStatusCallback] { self.state.withLock { $0.stored } }
    var quarantined: [QuarantinedStatusCallback] { self.state.withLock { $0.quarantined } }
    var entered: Int { self.state.withLock { $0.entered } }

    /// Waits until `count` stores have begun.
    func waitForEntered(_ count: Int, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while self.entered < count {
            guard ContinuousClock.now < deadline else {
                throw TestFailure("only \(self.entered) of \(count) stores began")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// What a callback test may change: the platform door's settings and the stream door's server.
struct CallbackDoorSetup {
    var callbacks = PlatformDoorConfiguration()
    var server = WebSocketServerConfiguration()
}

/// A live stream door (``TestIngest``) and platform door side by side, as `exorec serve` runs them.
final class CallbackDoors: Sendable {
    /// The platform door's port: where callbacks go.
    let port: Int
    /// The stream door's port: where WebSocket streams go.
    let streamPort: Int
    let ingest: TestIngest
    let door: PlatformDoor
    let server: Stopper

    /// Stops both doors gracefully (as SIGTERM would).
    final class Stopper: Sendable {
        let group: ServiceGroup
        let ingest: IngestServer
        init(group: ServiceGroup, ingest: IngestServer) {
            self.group = group
            self.ingest = ingest
        }
        func stop() {
            let group = self.group
            Task { await group.triggerGracefulShutdown() }
            self.ingest.stop()
        }
    }

    init(port: Int, ingest: TestIngest, door: PlatformDoor, group: ServiceGroup) {
        self.port = port
        self.streamPort = ingest.port
        self.ingest = ingest
        self.door = door
        self.server = Stopper(group: group, ingest: ingest.server)
    }

    func waitForFinished(_ count: Int) async throws -> [StreamSidecar] { try await self.ingest.waitForFinished(count) }
}

/// Runs `body` against a live platform door (token ``testCallbackToken`` unless `configure` changes it)
/// with `sink` behind it, next to a live stream door.
func withCallbackIngest<T: Sendable>(
    sink: RecordingSink?,
    logger: Logger? = nil,
    token: String? = testCallbackToken,
    configure: (inout CallbackDoorSetup) -> Void = { _ in },
    _ body: (CallbackDoors) async throws -> T
) async throws -> T {
    var setup = CallbackDoorSetup()
    setup.callbacks.port = 0
    setup.callbacks.host = "127.0.0.1"
    setup.callbacks.token = token
    setup.server.port = 0
    setup.server.shutdownGraceMilliseconds = 1000
    configure(&setup)
    var quiet = Logger(label: "exorec.test")
    quiet.logLevel = ProcessInfo.processInfo.environment["EXOREC_TEST_LOG"] == nil ? .critical : .debug
    let logger = logger ?? quiet
    let server = setup.server
    return try await withTestIngest(logger: logger, configure: { $0.server = server }) { ingest in
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let door = try PlatformDoor(configuration: setup.callbacks, sink: sink, logger: logger) { port in
            continuation.yield(port)
            continuation.finish()
        }
        let group = ServiceGroup(services: [door], gracefulShutdownSignals: [], logger: logger)
        let running = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        var bound: Int?
        for await port in ports { bound = port }
        guard let port = bound else {
            try await running.value
            throw TestFailure("the platform door stopped before it listened")
        }
        let doors = CallbackDoors(port: port, ingest: ingest, door: door, group: group)
        do {
            let result = try await body(doors)
            await group.triggerGracefulShutdown()
            try await running.value
            return result
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            throw error
        }
    }
}

/// The endpoint's path with the right token.
let callbackPath = "/v1/callbacks/status?token=\(testCallbackToken)"

/// Runs `curl` with `arguments` and returns its standard output (curl's `-w` output goes there).
func curl(_ arguments: [String]) async throws -> String {
    let process = try ChildProcess(
        executable: "/usr/bin/curl",
        arguments: ["-sS", "--max-time", "20"] + arguments,
        standardError: .nullDevice
    )
    let status = try await process.waitForExit()
    guard status == 0 else { throw TestFailure("curl \(arguments) exited with \(status)") }
    return process.standardOutput
}
