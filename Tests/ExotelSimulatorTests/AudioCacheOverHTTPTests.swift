import Crypto
import ExotelKit
import ExotelSimulator
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

/// The platform's audio cache through the real network path (`HTTPAudioFetcher` over AsyncHTTPClient):
/// a file changed behind an unchanged URL is not picked up, a cache-busted URL is.
@Suite struct AudioCacheOverHTTPTests {
    /// Serves whatever `content` holds at `/hold.wav` and counts the GETs.
    final class AudioOrigin: Sendable {
        let content = Mutex<[UInt8]>([])
        let requests = Mutex(0)
    }

    private func withAudioOrigin<Value>(
        _ origin: AudioOrigin,
        _ body: (Int) async throws -> Value
    ) async throws -> Value {
        let router = Router()
        router.get("hold.wav") { _, _ -> Response in
            origin.requests.withLock { $0 += 1 }
            let bytes = origin.content.withLock { $0 }
            return Response(
                status: .ok,
                headers: [.contentType: "audio/wav"],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes))
            )
        }
        let port = Mutex<Int?>(nil)
        var logger = Logger(label: "audio-origin")
        logger.logLevel = .warning
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
            for _ in 0..<200 where bound == nil {
                bound = port.withLock { $0 }
                if bound == nil { try await Task.sleep(for: .milliseconds(10)) }
            }
            let result: Result<Value, any Error>
            do {
                result = .success(try await body(try #require(bound, "the audio origin did not start")))
            } catch {
                result = .failure(error)
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return try result.get()
        }
    }

    /// Bytes that stand for a WAV file: the cache keys on the URL and versions by content, not format.
    private func audio(_ label: String) -> [UInt8] { toneWAV(frequency: label == "first" ? 2000 : 3000, seconds: 0.5) }

    private func sha256(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    private func placeCall(on running: RunningSimulator, waitURL: String) async -> String {
        var request = ConnectCallRequest(
            from: "+919876500001",
            callerId: "08047112345",
            destination: .number("+919123456789")
        )
        request.waitURL = waitURL
        return await running.platform.placeCall(accountSid: TestAccounts.primary.sid, request: request).sid
    }

    @Test func changedAudioBehindAnUnchangedURLGoesStaleAndACacheBustedURLIsFetchedAnew() async throws {
        let origin = AudioOrigin()
        try await self.withAudioOrigin(origin) { port in
            try await withTestSimulator(rate: 200) { running, _ in
                let url = "http://127.0.0.1:\(port)/hold.wav?campaign=spring"
                let first = self.audio("first")
                let second = self.audio("second")
                origin.content.withLock { $0 = first }
                let call1 = await self.placeCall(on: running, waitURL: url)
                await running.platform.waitUntilIdle()

                origin.content.withLock { $0 = second }
                let call2 = await self.placeCall(on: running, waitURL: url)
                await running.platform.waitUntilIdle()

                let busted = try CacheBusting.url(url, contentDigest: SHA256.hash(data: second))
                #expect(busted.contains("campaign=spring"))
                let call3 = await self.placeCall(on: running, waitURL: busted)
                await running.platform.waitUntilIdle()

                let played = await running.platform.playedAudio()
                let byCall = Dictionary(played.map { ($0.callSid, $0) }, uniquingKeysWith: { first, _ in first })
                #expect(byCall[call1]?.sha256 == self.sha256(first))
                #expect(byCall[call1]?.fromCache == false)
                #expect(
                    byCall[call2]?.sha256 == self.sha256(first),
                    "the platform keeps playing what it cached for the URL"
                )
                #expect(byCall[call2]?.fromCache == true)
                #expect(byCall[call3]?.sha256 == self.sha256(second), "a new URL is a new fetch")
                #expect(byCall[call3]?.fromCache == false)
                #expect(origin.requests.withLock { $0 } == 2, "one GET per distinct URL")
            }
        }
    }
}
