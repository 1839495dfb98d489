import ExotelKit
import Foundation
import Ingest
import Logging
import MediaStore
import Synchronization

/// A live ingest server on 127.0.0.1 and a free port, with a fresh storage root, for one test.
public final class TestIngest: Sendable {
    public let port: Int
    public let storageRoot: String
    public let server: IngestServer
    private let finished = Mutex<[StreamSidecar]>([])
    private let started = Mutex<[StreamSidecar]>([])

    init(port: Int, storageRoot: String, server: IngestServer) {
        self.port = port
        self.storageRoot = storageRoot
        self.server = server
    }

    func record(_ event: IngestEvent) {
        switch event {
        case .streamStarted(let sidecar, _): self.started.withLock { $0.append(sidecar) }
        case .streamFinished(let sidecar, _), .streamFinalizeFailed(let sidecar, _, _), .streamRepaired(let sidecar, _):
            self.finished.withLock { $0.append(sidecar) }
        case .streamsGrew: break
        }
    }

    public var finishedStreams: [StreamSidecar] { self.finished.withLock { $0 } }
    public var startedStreams: [StreamSidecar] { self.started.withLock { $0 } }

    /// Waits until `count` streams are finalized (or fails after `timeout`).
    public func waitForFinished(_ count: Int, timeout: Duration = .seconds(30)) async throws -> [StreamSidecar] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let done = self.finishedStreams
            if done.count >= count { return done }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("only \(self.finishedStreams.count) of \(count) streams finished within \(timeout)")
    }

    public func waitForStarted(_ count: Int, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if self.startedStreams.count >= count { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestFailure("only \(self.startedStreams.count) of \(count) streams started within \(timeout)")
    }

    /// The WAV path of a finished stream.
    public func wavPath(of sidecar: StreamSidecar) -> String {
        let files = FileSystem.files(under: "\(self.storageRoot)/media", withSuffix: sidecar.file)
        return files.first { $0.hasSuffix("/\(sidecar.callSid ?? sidecar.streamSid)/\(sidecar.file)") }
            ?? "\(self.storageRoot)/media/missing/\(sidecar.file)"
    }

    /// A plain HTTP GET; returns status and body.
    public func get(_ path: String) throws -> (status: Int, body: String) {
        try Self.get(port: self.port, path)
    }

    /// Waits until this server has read `frames` media frames (its published metrics), so what a test
    /// checks next is what the server did with them, not how soon a busy machine let it read them.
    public func waitForMediaFrames(_ frames: Int, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while self.server.metrics.current.mediaFrames != frames {
            guard ContinuousClock.now < deadline else {
                throw TestFailure("the server did not read \(frames) frames within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The server's metrics in Prometheus text once they contain every one of `lines` (each a whole line),
    /// or, after `timeout`, as they are (the caller's checks then fail and show them). They are published
    /// once per housekeeping round, so a count is seen a moment after it changed.
    public func metricsText(containing lines: [String], timeout: Duration = .seconds(30)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            let text = self.server.metricsText()
            if lines.allSatisfy({ text.contains($0 + "\n") }) || ContinuousClock.now >= deadline { return text }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits until the server whose internal door is on `port` has read `frames` media frames (its
    /// `/metrics`; `token` is `api.token` when the server has one).
    public static func waitForMediaFrames(
        _ frames: Int,
        port: Int,
        token: String? = nil,
        timeout: Duration = .seconds(30)
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        let path = token.map { "/metrics?token=\($0)" } ?? "/metrics"
        while !(try Self.get(port: port, path).body.contains("exorec_ingest_media_frames_total \(frames)\n")) {
            guard ContinuousClock.now < deadline else {
                throw TestFailure("the server did not read \(frames) frames within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// A plain HTTP GET to any server on the loopback port (an `exorec serve` process, say).
    public static func get(port: Int, _ path: String) throws -> (status: Int, body: String) {
        let fd = try TestWebSocketClient.connect(port: port)
        defer { close(fd) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n <= 0 { break }
            response += chunk[0..<n]
            if let text = String(bytes: response, encoding: .utf8), let split = text.range(of: "\r\n\r\n"),
                let length = text[..<split.lowerBound].split(separator: "\r\n").first(where: {
                    $0.lowercased().hasPrefix("content-length:")
                }),
                let expected = Int(length.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)),
                text.utf8.count - text.utf8.distance(from: text.utf8.startIndex, to: split.upperBound) >= expected
            {
                break
            }
        }
        let text = String(decoding: response, as: UTF8.self)
        let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return (status, body)
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A unique, empty folder under the system's temporary directory.
public func makeTemporaryDirectory(_ prefix: String = "exorec-test") -> String {
    let template = "\(NSTemporaryDirectory())/\(prefix)-XXXXXX"
    var bytes = Array(template.utf8CString)
    let path = bytes.withUnsafeMutableBufferPointer { buffer -> String in
        guard let result = mkdtemp(buffer.baseAddress!) else { return template }
        return String(cString: result)
    }
    return path
}

/// Runs `body` against a live ingest server (127.0.0.1, port 0, credentials `test:test-secret`),
/// then stops it gracefully and waits until every stream is finalized, on success and on error.
///
/// - Parameters:
///   - logger: the server's logger; by default one that is silent unless `EXOREC_TEST_LOG` is set.
public func withTestIngest<T: Sendable>(
    storageRoot: String? = nil,
    logger: Logger? = nil,
    configure: (inout IngestConfiguration) -> Void = { _ in },
    _ body: (TestIngest) async throws -> T
) async throws -> T {
    var configuration = IngestConfiguration()
    configuration.server.port = 0
    configuration.server.shutdownGraceMilliseconds = 1000
    configuration.credentials = [.init(username: "test", password: "test-secret")]
    configuration.storageRoot = storageRoot ?? makeTemporaryDirectory()
    configure(&configuration)

    var defaultLogger = Logger(label: "exorec.test")
    defaultLogger.logLevel = ProcessInfo.processInfo.environment["EXOREC_TEST_LOG"] == nil ? .critical : .debug
    let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
    let server = IngestServer(configuration: configuration, logger: logger ?? defaultLogger) { port in
        portContinuation.yield(port)
        portContinuation.finish()
    }
    let serverTask = Task { try await server.run() }
    var port: Int?
    for await p in portStream { port = p }
    guard let port else {
        _ = try await serverTask.value  // surfaces the start-up error
        throw TestFailure("the ingest server stopped before it listened")
    }
    let ingest = TestIngest(port: port, storageRoot: configuration.storageRoot, server: server)
    let eventTask = Task {
        for await event in server.events { ingest.record(event) }
    }
    do {
        let result = try await body(ingest)
        server.stop()
        try await serverTask.value
        await eventTask.value
        return result
    } catch {
        server.stop()
        _ = try? await serverTask.value
        await eventTask.value
        throw error
    }
}

/// A `StreamRecorder` for `stream` (account `acct`, call `CA<stream>`) on mono audio, as a server would
/// have one open: the tests that leave a stream's files behind (crash repair, catalog catch-up) start here.
public func openTestRecorder(
    layout: StorageLayout,
    stream: String,
    startedAt: Timestamp = .now()
) throws -> StreamRecorder {
    let recorder = try StreamRecorder(
        layout: layout,
        identity: StreamIdentity(
            account: try PathSafeIdentifier("acct", field: "account"),
            callSid: try PathSafeIdentifier("CA\(stream)", field: "call"),
            streamSid: try PathSafeIdentifier(stream, field: "stream"),
            from: "+1",
            to: "+2",
            customParameters: [:],
            queryParameters: [:]
        ),
        sampleRate: 8000,
        startedAt: startedAt,
        configuration: .init(),
        exorecVersion: "test"
    )
    try recorder.setChannels(1)
    return recorder
}
