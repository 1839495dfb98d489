import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// An HTTP server on a loopback address and a free port that answers each path as a test scripted it (audio,
/// a redirect, a status) and records every request it receives with its `Authorization` header, so a test can
/// say which server was reached, and with which credentials. Several run at once with
/// ``withOrigins(_:_:)``.
final class ScriptedOrigin: Sendable {
    enum Answer: Sendable {
        case audio([UInt8], contentType: String = "audio/mpeg")
        case redirect(to: String, status: Int = 302)
        case status(Int)
    }

    struct Seen: Sendable {
        var path: String
        var authorization: String?
    }

    /// The address it listens on (`127.0.0.1`, `127.0.0.2`: all of 127.0.0.0/8 is loopback on Linux).
    let host: String
    private let answers = Mutex<[String: Answer]>([:])
    private let seen = Mutex<[Seen]>([])
    private let boundPort = Mutex<Int?>(nil)

    init(host: String = "127.0.0.1") {
        self.host = host
    }

    var port: Int { self.boundPort.withLock { $0 ?? 0 } }
    /// `host:port`, as an allowlist entry.
    var authority: String { "\(self.host):\(self.port)" }
    /// `http://host:port<path>`.
    func url(_ path: String) -> String { "http://\(self.authority)\(path)" }

    func answer(_ path: String, _ answer: Answer) { self.answers.withLock { $0[path] = answer } }
    /// Every request received so far, in order.
    var requests: [Seen] { self.seen.withLock { $0 } }

    fileprivate func application(logger: Logger) -> some Service {
        let router = Router()
        router.get("**") { request, _ -> Response in
            let path = request.uri.path
            self.seen.withLock { $0.append(Seen(path: path, authorization: request.headers[.authorization])) }
            switch self.answers.withLock({ $0[path] }) {
            case .audio(let bytes, let type):
                return Response(
                    status: .ok,
                    headers: [.contentType: type, .contentLength: "\(bytes.count)"],
                    body: .init(byteBuffer: ByteBuffer(bytes: bytes))
                )
            case .redirect(let target, let status):
                return Response(status: .init(code: status), headers: [.location: target])
            case .status(let code):
                return Response(status: .init(code: code))
            case nil:
                return Response(status: .notFound)
            }
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(self.host, port: 0)),
            onServerRunning: { channel in self.boundPort.withLock { $0 = channel.localAddress?.port } },
            logger: logger
        )
    }

    /// Runs `origins` for the duration of `body` (each bound to its own free port first).
    static func withOrigins<T: Sendable>(_ origins: [ScriptedOrigin], _ body: () async throws -> T) async throws -> T {
        var logger = Logger(label: "scripted-origin")
        logger.logLevel = .error
        let group = ServiceGroup(
            configuration: .init(services: origins.map { $0.application(logger: logger) }, logger: logger)
        )
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let result: Result<T, any Error>
            do {
                let deadline = ContinuousClock.now + .seconds(30)
                while origins.contains(where: { $0.port == 0 }), ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(10))
                }
                guard !origins.contains(where: { $0.port == 0 }) else {
                    throw OriginFailure(description: "a scripted origin did not start")
                }
                result = .success(try await body())
            } catch {
                result = .failure(error)
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return try result.get()
        }
    }
}

struct OriginFailure: Error, CustomStringConvertible {
    var description: String
}
