import AsyncHTTPClient
import Catalog
import Console
import Doors
import ExotelKit
import Foundation
import Ingest
import Logging
import MediaStore
import NIOCore
import NIOHTTP1
import Orchestrator
import ServiceLifecycle
import Synchronization
import Testing

/// A pipeline (ingest, doors, catalog) with the console mounted on its internal door, on loopback; the catalog
/// on SQLite or on a schema of the test PostgreSQL. Two harnesses can share one catalog (two nodes).
final class ConsoleHarness: Sendable {
    /// Cheap hashes for tests (ln=10); the configuration's own default is 15.
    static let passwords = ["vera": "viewer-password", "audrey": "auditor-password", "adam": "admin-password"]
    static let users: [ConsoleUser] = [
        ConsoleUser(
            name: "vera",
            role: .viewer,
            passwordHash: try! PasswordHash.make(password: passwords["vera"]!, logN: 10)
        ),
        ConsoleUser(
            name: "audrey",
            role: .auditor,
            passwordHash: try! PasswordHash.make(password: passwords["audrey"]!, logN: 10)
        ),
        ConsoleUser(
            name: "adam",
            role: .admin,
            passwordHash: try! PasswordHash.make(password: passwords["adam"]!, logN: 10)
        ),
    ]

    let storageRoot: String
    let port: Int
    let pipeline: ExorecPipeline
    var catalog: Catalog { self.pipeline.catalog }
    var base: String { "http://127.0.0.1:\(self.port)" }

    private init(storageRoot: String, port: Int, pipeline: ExorecPipeline) {
        self.storageRoot = storageRoot
        self.port = port
        self.pipeline = pipeline
    }

    static let logger: Logger = {
        var logger = Logger(label: "exorec.tests.console")
        logger.logLevel = .warning
        return logger
    }()

    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("exorec-console-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Runs `body` with a catalog location for `backend` (a fresh PostgreSQL schema, or a SQLite file under `storage`).
    static func withCatalogPath<R>(
        _ backend: CatalogTestBackend,
        storage: String,
        _ body: (String) async throws -> R
    ) async throws -> R {
        switch backend {
        case .sqlite: return try await body(storage + "/catalog.sqlite")
        case .postgres: return try await TestPostgres.withSchema(body)
        }
    }

    static func run(
        catalogPath: String,
        storageRoot: String,
        node: String = "n1",
        tweak: @Sendable (inout ConsoleConfiguration) -> Void = { _ in },
        _ body: (ConsoleHarness) async throws -> Void
    ) async throws {
        var ingest = IngestConfiguration()
        ingest.server.host = "127.0.0.1"
        ingest.server.port = 0
        ingest.server.shutdownGraceMilliseconds = 500
        ingest.credentials = [BasicAuthenticator.Credential(username: "test", password: "test-secret")]
        ingest.storageRoot = storageRoot
        var api = InternalDoorConfiguration()
        api.port = 0
        var callbacks = PlatformDoorConfiguration()
        callbacks.port = 0
        var nodeConfiguration = NodeConfiguration()
        nodeConfiguration.id = node
        let port = Mutex<Int?>(nil)
        var console = ConsoleConfiguration(users: Self.users, exorecVersion: "console-test")
        console.maxFailuresPerName = 3
        console.maxFailuresPerAddress = 50
        tweak(&console)
        let configured = console
        let pipeline = try await ExorecPipeline.open(
            configuration: PipelineConfiguration(
                ingest: ingest,
                callbacks: callbacks,
                api: api,
                catalogPath: catalogPath,
                node: nodeConfiguration,
                exorecVersion: "console-test"
            ),
            client: nil,
            logger: Self.logger,
            onInternalListening: { bound in port.withLock { $0 = bound } },
            internalMount: { catalog, layout in
                try ConsoleResponder(configuration: configured, catalog: catalog, layout: layout, logger: Self.logger)
            }
        )
        let group = ServiceGroup(configuration: .init(services: pipeline.serviceConfigurations, logger: Self.logger))
        let running = Task { try await group.run() }
        let deadline = ContinuousClock.now + .seconds(30)
        while port.withLock({ $0 }) == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        let result: Result<Void, any Error>
        if let bound = port.withLock({ $0 }) {
            do {
                result = .success(
                    try await body(ConsoleHarness(storageRoot: storageRoot, port: bound, pipeline: pipeline))
                )
            } catch { result = .failure(error) }
        } else {
            result = .failure(TestPostgresError("the internal door did not start listening"))
        }
        await group.triggerGracefulShutdown()
        _ = try? await running.value
        try? await pipeline.close()
        try result.get()
    }

    // MARK: - Calls and media

    static func placed(
        sid: String,
        at time: Timestamp,
        from: String = "09876543210",
        to: String = "09123456789"
    ) -> PlacedCall {
        var response = PlatformCall(sid: sid, status: "completed")
        response.accountSid = "acct1"
        response.from = from
        response.to = to
        return PlacedCall(
            callSid: sid,
            accountSid: "acct1",
            placedAt: time,
            parameters: ["From": from, "To": to, "CallerId": "08047112233"],
            platformCall: response
        )
    }

    /// A two-channel WAV (leg 1 a 440 Hz tone, leg 2 silent for its first half) catalogued as the call's stream.
    func addDualStream(callSid: String, seconds: Double = 2) async throws -> String {
        let rate = 8000
        let frames = Int(seconds * Double(rate))
        var pcm: [UInt8] = []
        for index in 0..<frames {
            let left = Int16(8000 * sin(2 * Double.pi * 440 * Double(index) / Double(rate)))
            let right: Int16 =
                index < frames / 2 ? 0 : Int16(4000 * sin(2 * Double.pi * 660 * Double(index) / Double(rate)))
            for value in [left, right] {
                pcm.append(UInt8(truncatingIfNeeded: value))
                pcm.append(UInt8(truncatingIfNeeded: value >> 8))
            }
        }
        func le32(_ value: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        func le16(_ value: Int) -> [UInt8] { (0..<2).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        let bytes =
            Array("RIFF".utf8) + le32(36 + pcm.count) + Array("WAVEfmt ".utf8) + le32(16) + le16(1) + le16(2)
            + le32(rate) + le32(rate * 4) + le16(4) + le16(16) + Array("data".utf8) + le32(pcm.count) + pcm
        let relative = "media/acct1/\(callSid)/stream-ST\(callSid).wav"
        try FileSystem.makeDirectories(self.storageRoot + "/media/acct1/\(callSid)")
        try FileSystem.writeAtomically(bytes, to: self.storageRoot + "/" + relative, durable: false)
        let sha = try FileSystem.sha256(of: self.storageRoot + "/" + relative)
        try await self.catalog.upsertMediaFile(
            MediaFile(
                callSid: callSid,
                kind: .stream,
                path: relative,
                format: "wav",
                sampleRate: rate,
                channels: 2,
                durationSeconds: seconds,
                bytes: Int64(bytes.count),
                sha256: sha,
                state: .complete,
                createdAt: .now(),
                updatedAt: .now()
            )
        )
        let media = try await self.catalog.mediaFilesWithIDs(callSid: callSid)
        return try #require(media.first?.mediaID)
    }
}

/// A browser, as far as the console can tell: cookies kept, redirects not followed, `Origin` sent on POSTs.
final class TestBrowser: Sendable {
    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
        var text: String { String(decoding: self.body, as: UTF8.self) }
        var location: String? { self.headers.first(name: "location") }
    }

    let base: String
    let address: String
    private let cookies = Mutex<[String: String]>([:])
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    init(_ harness: ConsoleHarness, address: String = "127.0.0.1") {
        self.base = "http://\(address):\(harness.port)"
        self.address = address
    }

    var sessionCookie: String? { self.cookies.withLock { $0["exorec_console"] } }
    func setCookie(_ name: String, _ value: String) { self.cookies.withLock { $0[name] = value } }

    func get(_ path: String, headers: [(String, String)] = []) async throws -> Answer {
        try await self.send(path, method: .GET, headers: headers, body: nil)
    }

    /// A form POST; `csrf` nil leaves the token out, `origin` nil leaves the header out.
    func post(_ path: String, _ fields: [(String, String)], origin: String? = "default") async throws -> Answer {
        var headers = [("Content-Type", "application/x-www-form-urlencoded")]
        if let origin { headers.append(("Origin", origin == "default" ? self.base : origin)) }
        let body = fields.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        return try await self.send(path, method: .POST, headers: headers, body: body)
    }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    private func send(
        _ path: String,
        method: HTTPMethod,
        headers: [(String, String)],
        body: String?
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: self.base + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let cookie = self.cookies.withLock { $0.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
        if !cookie.isEmpty { request.headers.add(name: "Cookie", value: cookie) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await Self.client.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        for header in response.headers[canonicalForm: "set-cookie"] {
            let pair = header.split(separator: ";")[0].split(
                separator: "=",
                maxSplits: 1,
                omittingEmptySubsequences: false
            )
            guard pair.count == 2 else { continue }
            let name = String(pair[0])
            let value = String(pair[1])
            self.cookies.withLock { $0[name] = value.isEmpty ? nil : value }
        }
        return Answer(status: Int(response.status.code), headers: response.headers, body: Array(buffer: bytes))
    }

    /// The hidden CSRF field of the page's first form.
    static func csrf(in page: String) -> String? {
        guard let range = page.range(of: "name=\"csrf\" value=\"") else { return nil }
        return String(page[range.upperBound...].prefix { $0 != "\"" })
    }

    /// Signs in; returns the final answer of the POST (a 303 on success).
    @discardableResult
    func signIn(_ name: String, password: String? = nil) async throws -> Answer {
        let form = try await self.get("/console/sign-in")
        let token = try #require(Self.csrf(in: form.text))
        return try await self.post(
            "/console/sign-in",
            [("csrf", token), ("name", name), ("password", password ?? ConsoleHarness.passwords[name] ?? "")]
        )
    }

    /// The CSRF token of a signed-in page.
    func csrf() async throws -> String {
        let page = try await self.get("/console/calls")
        return try #require(Self.csrf(in: page.text), "no CSRF field in \(page.status) \(page.text.prefix(200))")
    }
}
