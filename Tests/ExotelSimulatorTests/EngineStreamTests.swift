import ExotelKit
import Foundation
import Logging
import Synchronization
import Testing

@testable import ExotelSimulator

@Suite("Engine: streaming to StreamUrl")
struct EngineStreamTests {
    /// Leg 1 answers at 2 s, leg 2 at 4 s, the call ends at 7 s.
    static let scenario = Scenario(defaultRingSeconds: 2, defaultTalkSeconds: 3)

    func streamingRequest(
        begin: StreamBegin?,
        url: String = "wss://user:p%40ss@bot.example/ws?sample-rate=16000&lang=hi&agent=7"
    )
        -> ConnectCallRequest
    {
        var request = twoNumberRequest()
        request.streamURL = url
        request.streamBegin = begin
        return request
    }

    @Test func leg2ConnectStreamsTheConversationMixed() async throws {
        let harness = EngineHarness(rate: 200, scenario: Self.scenario)
        defer { harness.cleanUp() }
        let placed = await harness.place(self.streamingRequest(begin: nil))
        await harness.platform.waitUntilIdle()
        let connection = try #require(harness.streams.all.first)
        #expect(harness.streams.all.count == 1)
        #expect(connection.url == "wss://bot.example/ws?sample-rate=16000&lang=hi&agent=7")
        #expect(connection.headers["Authorization"] == "Basic " + Data("user:p@ss".utf8).base64EncodedString())

        let events = connection.events()
        #expect(events.first == "connected" && events.dropFirst().first == "start" && events.last == "stop")
        #expect(events.filter { $0 == "media" }.count == 30)  // 3 s of conversation in 100 ms frames
        let start = try #require(connection.object(1, "start"))
        #expect(start["call_sid"] as? String == placed.sid)
        #expect(start["account_sid"] as? String == "acme")
        #expect(start["from"] as? String == "09800000001" && start["to"] as? String == "09800000002")
        #expect(start["custom_parameters"] as? [String: String] == ["lang": "hi", "agent": "7"])
        let format = try #require(start["media_format"] as? [String: String])
        #expect(format["sample_rate"] == "16000")
        let stop = try #require(connection.object(connection.messages.count - 1, "stop"))
        #expect(stop["reason"] as? String == "callended")
        #expect(stop["call_sid"] as? String == placed.sid)

        let media = connection.media()
        #expect(media.allSatisfy { $0.samples.count == 1600 && $0.track == nil })
        #expect(media.map(\.chunk) == (1...30).map { String($0) })
        #expect(media.map(\.timestamp) == (0..<30).map { String($0 * 100) })
        // Mixed mono: both legs' tones are in the stream (sampled where both patterns are on).
        let both = media[0].samples[0..<1600]
        #expect(tonePower(both, frequency: 440, sampleRate: 16000) > 1e5)
        #expect(tonePower(both, frequency: 1000, sampleRate: 16000) > 1e5)
        // Frames are paced: the last media frame goes out no earlier than the call's end.
        let origin = harness.streams.all[0].messages[0].instant
        let lastMedia = try #require(connection.messages.last(where: { ($0.json["media"] as? SendableBox) != nil }))
        #expect(origin.duration(to: lastMedia.instant) >= .milliseconds(2900))
    }

    @Test func leg1ConnectStartsWhenTheCallerAnswers() async throws {
        let harness = EngineHarness(rate: 200, scenario: Self.scenario)
        defer { harness.cleanUp() }
        _ = await harness.place(self.streamingRequest(begin: .leg1Connect, url: "ws://bot.example/ws"))
        await harness.platform.waitUntilIdle()
        let connection = try #require(harness.streams.all.first)
        #expect(connection.headers["Authorization"] == nil)
        let media = connection.media()
        #expect(media.count == 50)  // from leg 1's answer at 2 s to the end at 7 s
        #expect(media.allSatisfy { $0.samples.count == 800 })  // default 8000 Hz
        // Before leg 2 answers only the caller's tone is there; afterwards the callee's too.
        let early = media[0].samples
        #expect(tonePower(early, frequency: 440, sampleRate: 8000) > 1e5)
        #expect(tonePower(early, frequency: 1000, sampleRate: 8000) < 1e3)
        #expect(tonePower(media[20].samples, frequency: 1000, sampleRate: 8000) > 1e5)
        let start = try #require(connection.object(1, "start"))
        #expect((start["custom_parameters"] as? [String: String])?.isEmpty == true)
    }

    @Test func bothTracksTagInboundAndOutbound() async throws {
        let harness = EngineHarness(rate: 200, scenario: Self.scenario)
        defer { harness.cleanUp() }
        _ = await harness.place(self.streamingRequest(begin: .leg2Connect, url: "wss://bot.example/ws?track=both&x=1"))
        await harness.platform.waitUntilIdle()
        let connection = try #require(harness.streams.all.first)
        let start = try #require(connection.object(1, "start"))
        #expect(start["tracks"] as? [String] == ["inbound", "outbound"])
        #expect(start["custom_parameters"] as? [String: String] == ["x": "1"])
        let media = connection.media()
        #expect(media.count == 60)
        let inbound = media.filter { $0.track == "inbound" }
        let outbound = media.filter { $0.track == "outbound" }
        #expect(inbound.count == 30 && outbound.count == 30)
        #expect(tonePower(inbound[0].samples, frequency: 440, sampleRate: 8000) > 1e5)
        #expect(tonePower(inbound[0].samples, frequency: 1000, sampleRate: 8000) < 1e3)
        #expect(tonePower(outbound[0].samples, frequency: 1000, sampleRate: 8000) > 1e5)
        #expect(tonePower(outbound[0].samples, frequency: 440, sampleRate: 8000) < 1e3)
    }

    /// `track=inbound` / `track=outbound` (exorec's `calls.stream_tracks`): that leg alone, as a mono stream.
    @Test(arguments: [("inbound", 440.0, 1000.0), ("OUTBOUND", 1000.0, 440.0)])
    func oneTrackSendsThatLegAloneUntagged(track: String, heard: Double, absent: Double) async throws {
        let harness = EngineHarness(rate: 200, scenario: Self.scenario)
        defer { harness.cleanUp() }
        _ = await harness.place(self.streamingRequest(begin: .leg2Connect, url: "wss://bot.example/ws?track=\(track)"))
        await harness.platform.waitUntilIdle()
        let connection = try #require(harness.streams.all.first)
        let start = try #require(connection.object(1, "start"))
        #expect(start["tracks"] == nil)
        #expect((start["custom_parameters"] as? [String: String])?.isEmpty == true)
        let media = connection.media()
        #expect(media.count == 30)
        #expect(media.allSatisfy { $0.track == nil })
        #expect(tonePower(media[0].samples, frequency: heard, sampleRate: 8000) > 1e5)
        #expect(tonePower(media[0].samples, frequency: absent, sampleRate: 8000) < 1e3)
        #expect(StreamTarget(streamURL: "wss://h/p?track=\(track)")?.tracks.rawValue == track.lowercased())
        #expect(StreamTarget(streamURL: "wss://h/p?track=sideways")?.tracks == .mixed)
    }

    @Test func voiceBotStreamsFromTheCallersAnswer() async throws {
        let harness = EngineHarness(rate: 200, scenario: Self.scenario)
        defer { harness.cleanUp() }
        let request = ConnectCallRequest(
            from: "09800000001",
            callerId: "08047000000",
            destination: .voiceBot(streamURL: "wss://bot.example/ai?sample-rate=24000", streamType: "bidirectional")
        )
        _ = await harness.place(request)
        await harness.platform.waitUntilIdle()
        let connection = try #require(harness.streams.all.first)
        let media = connection.media()
        #expect(media.count == 30)  // answered at 2 s, 3 s of talk
        #expect(media.allSatisfy { $0.samples.count == 2400 })
        #expect(connection.events().last == "stop")
    }

    @Test func noStreamWhenTheCalleeNeverAnswersAndStreamBeginIsLeg2() async throws {
        let harness = EngineHarness(
            rate: 200,
            scenario: Scenario(
                rules: [ScenarioRule(number: "09800000002", outcome: .busy, ringSeconds: 1)],
                defaultRingSeconds: 2
            )
        )
        defer { harness.cleanUp() }
        _ = await harness.place(self.streamingRequest(begin: .leg2Connect))
        await harness.platform.waitUntilIdle()
        #expect(harness.streams.all.isEmpty)
    }

    @Test func streamTargetParsing() throws {
        let target = try #require(StreamTarget(streamURL: "wss://k:t@h.example:8443/p?sample_rate=24000&a=b"))
        #expect(target.url == "wss://h.example:8443/p?sample_rate=24000&a=b")
        #expect(target.sampleRate == 24000)
        #expect(target.customParameters == ["a": "b"])
        #expect(target.authorization == "Basic " + Data("k:t".utf8).base64EncodedString())
        #expect(StreamTarget(streamURL: "wss://h/p?sample-rate=11025")?.sampleRate == 8000)
        #expect(StreamTarget(streamURL: "https://h/p") == nil)
    }
}

@Suite("Engine: stream handshake retry")
struct EngineStreamRetryTests {
    /// Fails the first handshake, then behaves like `FakeStreamConnector`.
    final class FlakyConnector: StreamConnecting {
        let inner: FakeStreamConnector
        let attempts = Mutex(0)
        init(inner: FakeStreamConnector) { self.inner = inner }
        func withConnection(
            url: String,
            headers: [String: String],
            _ session: @escaping @Sendable (any StreamConnection) async throws -> Void
        ) async throws {
            let attempt = self.attempts.withLock {
                $0 += 1
                return $0
            }
            if attempt == 1 { throw AudioFetchError(url: url, message: "handshake refused") }
            try await self.inner.withConnection(url: url, headers: headers, session)
        }
    }

    @Test func aFailedHandshakeIsRetriedOnce() async throws {
        let clock = ScaledClock(rate: 200)
        let inner = FakeStreamConnector(clock: clock)
        let flaky = FlakyConnector(inner: inner)
        let platform = SimulatedPlatform(
            configuration: {
                var configuration = SimulatorConfiguration(
                    accounts: [EngineHarness.account],
                    recordingsDirectory: NSTemporaryDirectory(),
                    publicBaseURL: "http://x"
                )
                configuration.scenario = Scenario(defaultRingSeconds: 1, defaultTalkSeconds: 1)
                return configuration
            }(),
            clock: clock,
            seams: SimulatorSeams(
                audioFetcher: FakeAudioFetcher(),
                streamConnector: flaky,
                callbackPoster: FakeCallbackPoster()
            ),
            logger: Logger(label: "engine-retry")
        )
        var request = twoNumberRequest()
        request.streamURL = "wss://bot.example/ws"
        _ = await platform.placeCall(accountSid: "acme", request: request)
        await platform.waitUntilIdle()
        #expect(flaky.attempts.withLock { $0 } == 2)
        #expect(inner.all.count == 1)
        #expect(inner.all.first?.media().count == 10)
        #expect(inner.all.first?.events().last == "stop")
    }
}
