import AsyncHTTPClient
import ExorecTesting
import ExotelKit
import ExotelSimulator
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// The two accounts every server test runs with: one to use, one to prove accounts are kept apart.
enum TestAccounts {
    static let primary = SimulatedAccount(sid: "ACprimary01", apiKey: "key-primary", apiToken: "token-primary")
    static let other = SimulatedAccount(sid: "ACother02", apiKey: "key-other", apiToken: "token-other")

    static func authorization(_ user: String, _ password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    static func authorization(_ account: SimulatedAccount) -> String {
        authorization(account.apiKey, account.apiToken)
    }
}

/// A fresh recordings directory under the system temporary directory.
func temporaryDirectory(_ label: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("exorec-\(label)-\(UUID().uuidString)")
        .path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Runs a simulator on a free loopback port for the duration of `body`.
func withTestSimulator<Value>(
    rate: Double = 100,
    requestsPerMinute: Int = 200,
    configure: (inout SimulatorConfiguration) -> Void = { _ in },
    _ body: (RunningSimulator, ScaledClock) async throws -> Value
) async throws -> Value {
    var platform = SimulatorConfiguration(
        accounts: [TestAccounts.primary, TestAccounts.other],
        recordingsDirectory: try temporaryDirectory("recordings"),
        publicBaseURL: ""
    )
    configure(&platform)
    var logger = Logger(label: "simulator-test")
    logger.logLevel = .warning
    let clock = ScaledClock(rate: rate)
    return try await SimulatorServer.withRunning(
        configuration: SimulatorServerConfiguration(host: "127.0.0.1", port: 0, requestsPerMinute: requestsPerMinute),
        platform: platform,
        clock: clock,
        logger: logger
    ) { running in
        try await body(running, clock)
    }
}

/// One answer from the simulator, as a client sees it.
struct WireResponse: Sendable {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]

    var text: String { String(decoding: self.body, as: UTF8.self) }
    func header(_ name: String) -> String? { self.headers[name.lowercased()] }
}

/// Requests against a running simulator through AsyncHTTPClient, a client that is not ours.
struct WireClient: Sendable {
    let baseURL: String

    init(_ running: RunningSimulator) { self.baseURL = running.baseURL }
    init(baseURL: String) { self.baseURL = baseURL }

    func send(
        _ method: NIOHTTP1.HTTPMethod,
        _ path: String,
        authorization: String? = nil,
        contentType: String? = nil,
        body: [UInt8]? = nil
    ) async throws -> WireResponse {
        var request = HTTPClientRequest(url: self.baseURL + path)
        request.method = method
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        var headers: [String: String] = [:]
        for header in response.headers { headers[header.name.lowercased()] = header.value }
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return WireResponse(status: Int(response.status.code), headers: headers, body: Array(bytes.readableBytesView))
    }

    /// `POST …/Calls/connect.json` (or without `.json`) with an urlencoded form.
    func connect(
        _ fields: FormFields,
        account: SimulatedAccount = TestAccounts.primary,
        json: Bool = true,
        query: String = ""
    ) async throws -> WireResponse {
        try await self.send(
            .POST,
            "/v1/Accounts/\(account.sid)/Calls/connect\(json ? ".json" : "")\(query)",
            authorization: TestAccounts.authorization(account),
            contentType: "application/x-www-form-urlencoded",
            body: Array(ExotelKit.URLEncodedForm.encode(fields).utf8)
        )
    }

    /// `POST …/Calls/connect.json` with a multipart form.
    func connectMultipart(
        _ fields: FormFields,
        account: SimulatedAccount = TestAccounts.primary
    ) async throws -> WireResponse {
        let boundary = "exorec-test-\(UUID().uuidString)"
        return try await self.send(
            .POST,
            "/v1/Accounts/\(account.sid)/Calls/connect.json",
            authorization: TestAccounts.authorization(account),
            contentType: MultipartForm.contentType(boundary: boundary),
            body: MultipartForm.encode(fields, boundary: boundary)
        )
    }

    /// `GET …/Calls/<sid>[.json]`.
    func details(
        _ sid: String,
        account: SimulatedAccount = TestAccounts.primary,
        json: Bool = true,
        query: String = ""
    ) async throws -> WireResponse {
        try await self.send(
            .GET,
            "/v1/Accounts/\(account.sid)/Calls/\(sid)\(json ? ".json" : "")\(query)",
            authorization: TestAccounts.authorization(account)
        )
    }
}

/// A two-number call the simulator accepts, with its optional extras.
func twoNumberForm(
    from: String = "+919900000001",
    to: String = "+919900000002",
    _ extra: KeyValuePairs<String, String> = [:]
) -> FormFields {
    var fields = FormFields()
    fields.append("From", from)
    fields.append("To", to)
    fields.append("CallerId", "08030752400")
    for (name, value) in extra { fields.append(name, value) }
    return fields
}

/// Status callbacks the simulator posted, as the receiving application saw them.
final class CallbackInbox: Sendable {
    struct Delivery: Sendable {
        var contentType: String
        var body: [UInt8]
        var callback: StatusCallback?
    }

    private let deliveries = Mutex<[Delivery]>([])

    func record(_ delivery: Delivery) { self.deliveries.withLock { $0.append(delivery) } }
    var all: [Delivery] { self.deliveries.withLock { $0 } }

    func callbacks(for callSid: String) -> [StatusCallback] {
        self.all.compactMap(\.callback).filter { $0.callSid == callSid }
    }
}

/// An HTTP receiver for status callbacks on a free loopback port, for the duration of `body`; it answers
/// every delivery with `status` (and `Connection: close` with `closeConnection`).
func withCallbackReceiver<Value>(
    status: HTTPResponse.Status = .ok,
    closeConnection: Bool = false,
    _ body: (_ url: String, _ inbox: CallbackInbox) async throws -> Value
) async throws -> Value {
    let inbox = CallbackInbox()
    let port = Eventually()
    let responder = CallbackResponder<BasicRequestContext> { request, _ in
        let contentType = request.headers[.contentType] ?? ""
        let bytes = Array(try await request.body.collect(upTo: 1 << 20).readableBytesView)
        inbox.record(
            .init(
                contentType: contentType,
                body: bytes,
                callback: try? StatusCallback.parse(body: bytes, contentType: contentType)
            )
        )
        return Response(status: status, headers: closeConnection ? [.connection: "close"] : [:])
    }
    var logger = Logger(label: "callback-receiver")
    logger.logLevel = .warning
    let application = Application(
        responder: responder,
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in port.set(channel.localAddress?.port ?? 0) },
        logger: logger
    )
    let services = ServiceGroup(configuration: .init(services: [application], logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await services.run() }
        let result: Result<Value, any Error>
        do {
            let bound = try await port.value()
            result = .success(try await body("http://127.0.0.1:\(bound)/callbacks", inbox))
        } catch {
            result = .failure(error)
        }
        await services.triggerGracefulShutdown()
        try await group.waitForAll()
        return try result.get()
    }
}

/// A port number that arrives from another task.
final class Eventually: Sendable {
    private let port = Mutex<Int?>(nil)
    func set(_ value: Int) { self.port.withLock { $0 = value } }
    func value(timeout: Duration = .seconds(30)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let port = self.port.withLock({ $0 }) { return port }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw TestFailure("the callback receiver did not start")
    }
}

/// An external program run to completion without blocking a Swift concurrency thread (the in-process
/// simulator needs those threads to answer the program).
enum ExternalCommand {
    struct Outcome: Sendable {
        var status: Int32
        var output: String
        var errors: String
    }

    /// The full path of `name` on PATH, or nil when it is not installed.
    /// Whether `python3 -c "import <module>"` succeeds: outside checks written in Python are skipped
    /// only when their library is absent (`make deps` installs them).
    static func pythonCanImport(_ module: String) -> Bool {
        guard locate("python3") != nil else { return false }
        let child = try? ChildProcess(
            executable: "/usr/bin/env",
            arguments: ["python3", "-c", "import \(module)"],
            standardOutput: .nullDevice,
            standardError: .nullDevice
        )
        return child?.waitUntilExit() == 0
    }

    static func locate(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    static func run(_ arguments: [String], timeout: Duration = .seconds(60)) async throws -> Outcome {
        let child = try ChildProcess(executable: "/usr/bin/env", arguments: arguments)
        let status: Int32
        do {
            status = try await child.waitForExit(timeout: timeout)
        } catch is ChildProcessError {
            // Killed (SIGKILL) at the timeout: the outcome says so with status 9.
            status = try await child.waitForExit()
        }
        return Outcome(status: status, output: child.standardOutput, errors: child.standardError)
    }
}
