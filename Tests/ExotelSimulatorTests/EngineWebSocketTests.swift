import ExorecTesting
import ExotelKit
import Foundation
import Logging
import MediaStore
import Testing

@testable import ExotelSimulator

@Suite("Engine: streaming over a real WebSocket into exorec's ingest")
struct EngineWebSocketTests {
    @Test func ingestReceivesAProtocolCorrectStream() async throws {
        try await withTestIngest { ingest in
            let clock = ScaledClock(rate: 100)
            var configuration = SimulatorConfiguration(
                accounts: [EngineHarness.account],
                recordingsDirectory: makeTemporaryDirectory("engine-ws"),
                publicBaseURL: "http://127.0.0.1:9"
            )
            configuration.scenario = Scenario(defaultRingSeconds: 2, defaultTalkSeconds: 3)
            let logger = Logger(label: "engine-ws")
            let platform = SimulatedPlatform(
                configuration: configuration,
                clock: clock,
                seams: SimulatorSeams(
                    audioFetcher: FakeAudioFetcher(),
                    streamConnector: WebSocketStreamConnector(logger: logger),
                    callbackPoster: FakeCallbackPoster()
                ),
                logger: logger
            )
            var request = twoNumberRequest()
            request.streamURL = "ws://test:test-secret@127.0.0.1:\(ingest.port)/v1/streams?sample-rate=16000&tag=x"
            let placed = await platform.placeCall(accountSid: "acme", request: request)
            await platform.waitUntilIdle()

            let sidecar = try #require(try await ingest.waitForFinished(1).first)
            #expect(sidecar.callSid == placed.sid)
            #expect(sidecar.accountSid == "acme")
            #expect(sidecar.sampleRate == 16000)
            #expect(sidecar.customParameters["tag"] == "x")
            #expect(sidecar.mediaMessages == 30)
            #expect(sidecar.gaps.isEmpty && sidecar.duplicates == 0)
            #expect(sidecar.invalidMessages.isEmpty)
            let file = try SoundFile.open(readingFrom: ingest.wavPath(of: sidecar))
            defer { try? file.close() }
            #expect(file.info.frames == 3 * 16000)
            let samples = file.readAll()
            #expect(tonePower(samples[0..<1600], frequency: 440, sampleRate: 16000) > 1e5)
            #expect(tonePower(samples[0..<1600], frequency: 1000, sampleRate: 16000) > 1e5)
        }
    }
}
