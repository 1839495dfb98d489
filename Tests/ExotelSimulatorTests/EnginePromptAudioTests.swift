import ExotelKit
import Foundation
import MediaStore
import Testing

@testable import ExotelSimulator

/// `WaitUrl` and `StartPlaybackValueNew` audio is heard where the platform plays it, decoded from
/// WAV only, resampled to the stream's rate, and the cached version is what is heard.
@Suite("Engine: prompt audio (WaitUrl, StartPlaybackValueNew)")
struct EnginePromptAudioTests {
    /// Leg 1 answers at 2 s, leg 2 at 4 s, the call ends at 7 s.
    static let scenario = Scenario(defaultRingSeconds: 2, defaultTalkSeconds: 3)
    static let waitTone = 2000.0
    static let newTone = 3000.0

    /// Power of `frequency` in each 100 ms frame of a track ("inbound", "outbound" or nil for mono).
    func power(_ connection: FakeStreamConnector.Connection, track: String?, frequency: Double, rate: Int) -> [Double] {
        connection.media().filter { $0.track == track }.map {
            tonePower($0.samples, frequency: frequency, sampleRate: rate)
        }
    }

    @Test func waitAudioIsPlayedToTheCallerWhileLeg2RingsAndRepeatsUntilItAnswers() async throws {
        let harness = EngineHarness(rate: 200, scenario: Self.scenario)
        defer { harness.cleanUp() }
        let url = "http://audio.example/hold.wav"
        // 0.5 s of 8 kHz audio: it must loop to fill 2 s of ringing, and be resampled to the 16 kHz stream.
        harness.audio.set(url, toneWAV(frequency: Self.waitTone, seconds: 0.5))
        var request = twoNumberRequest()
        request.waitURL = url
        request.streamURL = "wss://bot.example/ws?sample-rate=16000&track=both"
        request.streamBegin = .leg1Connect
        _ = await harness.place(request)
        await harness.platform.waitUntilIdle()

        let connection = try #require(harness.streams.all.first)
        // The stream starts at 2 s: frames 0–19 are leg 2 ringing, 20–49 the conversation.
        let heardByCaller = self.power(connection, track: "outbound", frequency: Self.waitTone, rate: 16000)
        let fromCaller = self.power(connection, track: "inbound", frequency: Self.waitTone, rate: 16000)
        #expect(heardByCaller.count == 50)
        #expect(
            heardByCaller[0..<20].allSatisfy { $0 > 1e5 },
            "wait audio on every ringing frame, looped past its 0.5 s"
        )
        #expect(heardByCaller[20...].allSatisfy { $0 < 1e2 }, "wait audio stops when leg 2 answers")
        #expect(fromCaller.allSatisfy { $0 < 1e2 }, "the caller does not send the wait audio")
        let played = await harness.platform.playedAudio()
        #expect(played.map(\.playedTo) == ["caller"])
    }

    @Test func theStaleCachedVersionIsHeardUntilTheURLIsBusted() async throws {
        let harness = EngineHarness(rate: 200, scenario: Self.scenario)
        defer { harness.cleanUp() }
        let url = "http://audio.example/hold.wav?campaign=spring"
        let version1 = toneWAV(frequency: Self.waitTone, seconds: 1)
        let version2 = toneWAV(frequency: Self.newTone, seconds: 1)
        func call(waitURL: String) async throws -> (old: Double, new: Double) {
            var request = twoNumberRequest()
            request.waitURL = waitURL
            request.streamURL = "wss://bot.example/ws"
            request.streamBegin = .leg1Connect
            let before = harness.streams.all.count
            _ = await harness.place(request)
            await harness.platform.waitUntilIdle()
            let connection = harness.streams.all[before]
            let ringing = connection.media().prefix(20).flatMap(\.samples)
            return (
                tonePower(ringing, frequency: Self.waitTone, sampleRate: 8000),
                tonePower(ringing, frequency: Self.newTone, sampleRate: 8000)
            )
        }
        harness.audio.set(url, version1)
        let first = try await call(waitURL: url)
        harness.audio.set(url, version2)  // the file behind the URL changes
        let unbusted = try await call(waitURL: url)
        let busted = try CacheBusting.url(url, contentDigest: Array(AudioCache.sha256Hex(version2).utf8))
        harness.audio.set(busted, version2)
        let bustedCall = try await call(waitURL: busted)

        #expect(first.old > 1e5 && first.new < 1e2)
        #expect(unbusted.old > 1e5 && unbusted.new < 1e2, "an unchanged URL plays the stale cached audio")
        #expect(bustedCall.new > 1e5 && bustedCall.old < 1e2, "the cache-busted URL plays the new audio")
    }

    func dualRecording(playbackTo: PlaybackAudience?) async throws -> (leg1: [Int16], leg2: [Int16]) {
        let harness = EngineHarness(rate: 200, scenario: Self.scenario)
        defer { harness.cleanUp() }
        let url = "http://audio.example/greeting.wav"
        harness.audio.set(url, toneWAV(frequency: Self.newTone, seconds: 1, sampleRate: 16000, channels: 2))
        var request = twoNumberRequest()
        request.record = true
        request.recordingChannels = .dual
        request.startPlaybackValue = url
        request.startPlaybackTo = playbackTo
        let placed = await harness.place(request)
        await harness.platform.waitUntilIdle()
        let recording = try #require(await harness.platform.recording(accountSid: "acme", callSid: placed.sid))
        let file = try SoundFile.open(readingFrom: recording.path)
        defer { try? file.close() }
        let samples = file.readAll()
        #expect(file.info.channels == 2)
        return (
            stride(from: 0, to: samples.count, by: 2).map { samples[$0] },
            stride(from: 1, to: samples.count, by: 2).map { samples[$0] }
        )
    }

    @Test func startPlaybackIsHeardByTheCalleeOnlyByDefault() async throws {
        let (leg1Side, leg2Side) = try await self.dualRecording(playbackTo: nil)
        // The recording starts when leg 2 answers, which is when the 1 s playback starts.
        let firstSecond = 200..<7800
        let later = 12000..<20000
        #expect(
            tonePower(leg1Side[firstSecond], frequency: Self.newTone, sampleRate: 8000) > 1e5,
            "the callee hears it (leg 1's side)"
        )
        #expect(
            tonePower(leg2Side[firstSecond], frequency: Self.newTone, sampleRate: 8000) < 1e3,
            "the caller does not"
        )
        #expect(tonePower(leg1Side[later], frequency: Self.newTone, sampleRate: 8000) < 1e3, "it plays once")
        #expect(
            tonePower(leg1Side[later], frequency: 440, sampleRate: 8000) > 1e5,
            "leg 1's voice stays in its channel"
        )
    }

    @Test func startPlaybackToBothIsHeardOnBothSides() async throws {
        let (leg1Side, leg2Side) = try await self.dualRecording(playbackTo: .both)
        let firstSecond = 200..<7800
        #expect(tonePower(leg1Side[firstSecond], frequency: Self.newTone, sampleRate: 8000) > 1e5)
        #expect(tonePower(leg2Side[firstSecond], frequency: Self.newTone, sampleRate: 8000) > 1e5)
    }

    @Test func audioThatIsNotWAVIsNotPlayedAndTheCallGoesOn() async throws {
        let harness = EngineHarness(rate: 200, scenario: Self.scenario)
        defer { harness.cleanUp() }
        let url = "http://audio.example/hold.mp3"
        harness.audio.set(url, Array("ID3\u{3}mp3 bytes, not a WAV".utf8))
        var request = twoNumberRequest()
        request.waitURL = url
        request.startPlaybackValue = "http://audio.example/missing.wav"
        let placed = await harness.place(request)
        await harness.platform.waitUntilIdle()

        let rejected = await harness.platform.rejectedAudio()
        #expect(rejected.count == 2)
        let notWAV = try #require(rejected.first { $0.parameter == "WaitUrl" })
        #expect(
            notWAV.callSid == placed.sid && notWAV.reason.hasPrefix("not a WAV file")
                && notWAV.reason.contains("\"ID3.\"")
        )
        let missing = try #require(rejected.first { $0.parameter == "StartPlaybackValueNew" })
        #expect(missing.reason.hasPrefix("fetch failed"))
        #expect(await harness.platform.playedAudio().isEmpty)
        let details = await harness.platform.call(accountSid: "acme", sid: placed.sid)
        #expect(details?.status == "completed")
    }

    @Test func clipsResampleAndLoopOnlyInsideTheirWindow() {
        let clip = AudioClip(samples: (0..<8).map { Int16($0 * 100) }, sampleRate: 8000)  // 1 ms
        var output = [Int16](repeating: 0, count: 64)  // 4 ms at 16 kHz
        clip.add(
            into: &output,
            outputStart: .zero,
            outputRate: 16000,
            clipStart: .zero,
            window: .zero ..< .milliseconds(3),
            looping: true
        )
        #expect(Array(output[0..<4]) == [0, 50, 100, 150], "interpolated at twice the rate")
        #expect(output[16] == 0 && output[18] == 100, "looped after 1 ms")
        #expect(output[48...].allSatisfy { $0 == 0 }, "silent after the window")
        var once = [Int16](repeating: 0, count: 64)
        clip.add(
            into: &once,
            outputStart: .zero,
            outputRate: 16000,
            clipStart: .zero,
            window: .zero ..< .seconds(1),
            looping: false
        )
        #expect(once[15] != 0 && once[16...].allSatisfy { $0 == 0 }, "plays once")
    }
}
