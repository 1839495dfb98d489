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
            guard ContinuousClock.now < deadline else { throw TestFailure("only \(self.entered) of \(count) stores began") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// What a callback test may change: the platform door's settings and the stream door's server.
struct CallbackDoorSetup {
    var callbacks = PlatformDoorConfiguration()
    var server = WebSocketServer.Configuration()
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
    sink: RecordingSink?, logger: Logger? = nil, token: String? = testCallbackToken, configure: (inout CallbackDoorSetup) -> Void = { _ in },
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

/// One HTTP response as `TestHTTPClient` read it.
struct TestHTTPResponse: Sendable {
    var status: Int
    var headers: [String: String]  // lowercased names
    var body: String
}

/// A blocking HTTP/1.1 client over a plain socket, keep-alive: several requests on one connection.
/// Always call it from `onThread`, never on the cooperative pool, which the sink needs.
final class TestHTTPClient {
    private let fd: Int32
    private var buffered: [UInt8] = []
    private var isClosed = false

    init(port: Int) throws {
        self.fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard self.fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(self.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            Glibc.close(self.fd)
            throw TestFailure("connect to 127.0.0.1:\(port): errno \(errno)")
        }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(self.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { self.close() }

    func close() {
        guard !self.isClosed else { return }
        self.isClosed = true
        Glibc.close(self.fd)
    }

    /// Drops the connection with a reset (a client that vanished).
    func abort() {
        guard !self.isClosed else { return }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(self.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        self.close()
    }

    /// Sends a request with `Content-Length` (unless `headers` already has a length or
    /// `Transfer-Encoding`), without waiting for the answer.
    func send(_ method: String, _ path: String, contentType: String? = nil, body: [UInt8] = [], headers: [String] = []) throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        let explicit = headers.contains { $0.lowercased().hasPrefix("content-length:") || $0.lowercased().hasPrefix("transfer-encoding:") }
        if !explicit && (method == "POST" || method == "PUT" || !body.isEmpty) { head += "Content-Length: \(body.count)\r\n" }
        for header in headers { head += header + "\r\n" }
        head += "\r\n"
        try self.write(Array(head.utf8) + body)
    }

    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(self.fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TestFailure("send: errno \(errno)")
            }
            offset += n
        }
    }

    /// Reads one response (head and `Content-Length` body).
    func readResponse() throws -> TestHTTPResponse {
        let separator: [UInt8] = [13, 10, 13, 10]
        var headEnd: Int?
        while true {
            if self.buffered.count >= 4 {
                headEnd = (0...(self.buffered.count - 4)).first { Array(self.buffered[$0..<$0 + 4]) == separator }
                if headEnd != nil { break }
            }
            try self.fill()
        }
        let head = String(decoding: self.buffered[..<headEnd!], as: UTF8.self)
        self.buffered.removeFirst(headEnd! + 4)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusLine = lines.removeFirst()
        let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        while self.buffered.count < length { try self.fill() }
        let body = String(decoding: self.buffered[..<length], as: UTF8.self)
        self.buffered.removeFirst(length)
        return TestHTTPResponse(status: status, headers: headers, body: body)
    }

    /// Sends a request and reads its answer.
    func request(_ method: String, _ path: String, contentType: String? = nil, body: [UInt8] = [], headers: [String] = []) throws -> TestHTTPResponse {
        try self.send(method, path, contentType: contentType, body: body, headers: headers)
        return try self.readResponse()
    }

    /// Whether the server has closed the connection (reads until EOF, at most `timeoutSeconds`).
    /// Whether the server has closed the connection, without waiting (data already sent is skipped).
    func isClosedNow() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT)) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET || errno == EPIPE }
        }
    }

    func waitForEOF(timeoutSeconds: Int = 5) -> Bool {
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(self.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress!, $0.count, 0) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress!, $0.count, 0) }
        if n < 0, errno == EINTR { return }
        guard n > 0 else { throw TestFailure(n == 0 ? "the server closed the connection" : "recv: errno \(errno)") }
        self.buffered += chunk[0..<n]
    }

    /// One request on a fresh connection.
    static func request(
        port: Int, _ method: String, _ path: String, contentType: String? = nil, body: [UInt8] = [], headers: [String] = []
    ) async throws -> TestHTTPResponse {
        try await onThread {
            let client = try TestHTTPClient(port: port)
            defer { client.close() }
            return try client.request(method, path, contentType: contentType, body: body, headers: headers)
        }
    }
}

/// Runs `curl` with `arguments` and returns its standard output (curl's `-w` output goes there).
func curl(_ arguments: [String]) async throws -> String {
    try await onThread {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-sS", "--max-time", "20"] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestFailure("curl \(arguments) exited with \(process.terminationStatus)") }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Keeps every log record, for tests of what is (and is not) logged.
final class CapturedLogs: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
        /// The message and metadata in one line, as a log reader would see them.
        var line: String { "\(self.message) \(self.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))" }
    }

    private let records = Mutex<[Record]>([])

    var all: [Record] { self.records.withLock { $0 } }
    func append(_ record: Record) { self.records.withLock { $0.append(record) } }

    var logger: Logger {
        var logger = Logger(label: "exorec.test.captured") { _ in CapturingHandler(sink: self) }
        logger.logLevel = .trace
        return logger
    }

    struct CapturingHandler: LogHandler {
        let sink: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
            self.sink.append(Record(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
        }
    }
}

/// One thread may write (a trickling body) while another reads the answer: a socket allows it, and
/// nothing else of the client is touched meanwhile.
extension TestHTTPClient: @unchecked Sendable {}
