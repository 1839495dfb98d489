import Foundation
import Hummingbird
import Logging
import MediaStore
import NIOCore
import ServiceLifecycle
import Synchronization

/// The demo's stand-in for a web server hosting prompt audio (`/prompts/NAME.wav`): what a user
/// points `WaitUrl` at. Its files can be replaced while it runs, as a user updates hold music.
final class DemoAudioOrigin: Sendable {
    private let files = Mutex<[String: [UInt8]]>([:])

    func set(_ name: String, _ bytes: [UInt8]) {
        self.files.withLock { $0[name] = bytes }
    }

    /// Serves on 127.0.0.1 (a free port) for the duration of `body`, which gets the base URL.
    func serve<Value>(logger: Logger, _ body: (String) async throws -> Value) async throws -> Value {
        let router = Router()
        router.get("prompts/:name") { _, context -> Response in
            let name = context.parameters.get("name") ?? ""
            guard let bytes = self.files.withLock({ $0[name] }) else { return Response(status: .notFound) }
            return Response(
                status: .ok,
                headers: [.contentType: "audio/wav"],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes))
            )
        }
        let port = Mutex<Int?>(nil)
        let application = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(services: [application], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var bound: Int?
            for _ in 0..<500 where bound == nil {
                bound = port.withLock { $0 }
                if bound == nil { try await Task.sleep(for: .milliseconds(10)) }
            }
            let result: Result<Value, any Error>
            if let bound {
                do {
                    result = .success(try await body("http://127.0.0.1:\(bound)/prompts"))
                } catch {
                    result = .failure(error)
                }
            } else {
                result = .failure(DemoError("the prompt audio origin did not start"))
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return try result.get()
        }
    }

    /// A 16-bit mono WAV of a tone, `seconds` long at 8 kHz (what a user would host as hold music).
    static func toneWAV(frequency: Double, seconds: Double) -> [UInt8] {
        ToneWAV.bytes(frequency: frequency, seconds: seconds)
    }
}

struct DemoError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
