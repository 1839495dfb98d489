import ExotelKit
import Foundation
import MediaStore
import Testing

@testable import ExotelSimulator

@Suite("Engine: recordings")
struct EngineRecordingTests {
    static let scenario = Scenario(defaultRingSeconds: 1, defaultTalkSeconds: 4)

    func record(
        _ channels: RecordingChannels?,
        _ format: RecordingFormat?,
        delay: Duration = .zero
    ) async throws
        -> (harness: EngineHarness, sid: String, recording: SimulatedRecording)
    {
        let harness = EngineHarness(scenario: Self.scenario, recordingDelay: delay)
        var request = twoNumberRequest()
        request.record = true
        request.recordingChannels = channels
        request.recordingFormat = format
        let placed = await harness.place(request)
        await harness.platform.waitUntilIdle()
        let recording = try #require(await harness.platform.recording(accountSid: "acme", callSid: placed.sid))
        return (harness, placed.sid, recording)
    }

    func read(_ path: String) throws -> (info: SoundFile.Info, samples: [Int16]) {
        let file = try SoundFile.open(readingFrom: path)
        defer { try? file.close() }
        return (file.info, file.readAll())
    }

    @Test func singleIsMonoWithBothLegsMixed() async throws {
        let (harness, sid, recording) = try await self.record(nil, nil)
        defer { harness.cleanUp() }
        #expect(recording.path == "\(harness.directory)/acme/\(sid).mp3")
        #expect(recording.contentType == "audio/mpeg")
        let (info, samples) = try self.read(recording.path)
        #expect(info.channels == 1)
        #expect(info.sampleRate == 8000)
        #expect(abs(Double(info.frames) - 4 * 8000) < 8000 * 0.2)
        let middle = samples[8000..<16000]
        #expect(tonePower(middle, frequency: 440, sampleRate: 8000) > 1e5)
        #expect(tonePower(middle, frequency: 1000, sampleRate: 8000) > 1e5)
        let details = await harness.platform.call(accountSid: "acme", sid: sid)
        #expect(details?.recordingURL == "http://127.0.0.1:9/v1/Accounts/acme/Recordings/\(sid).mp3")
    }

    @Test func dualPutsLeg1LeftAndLeg2Right() async throws {
        let (harness, _, recording) = try await self.record(.dual, .mp3)
        defer { harness.cleanUp() }
        let (info, samples) = try self.read(recording.path)
        #expect(info.channels == 2)
        let left = stride(from: 16000, to: 32000, by: 2).map { samples[$0] }
        let right = stride(from: 16001, to: 32000, by: 2).map { samples[$0] }
        #expect(tonePower(left, frequency: 440, sampleRate: 8000) > 1e5)
        #expect(
            tonePower(left, frequency: 1000, sampleRate: 8000) < tonePower(left, frequency: 440, sampleRate: 8000) / 100
        )
        #expect(tonePower(right, frequency: 1000, sampleRate: 8000) > 1e5)
        #expect(
            tonePower(right, frequency: 440, sampleRate: 8000) < tonePower(right, frequency: 1000, sampleRate: 8000)
                / 100
        )
    }

    /// Issue 12: every call carried the same audio, so two calls' recordings had the same SHA-256.
    @Test func twoCallsHaveDistinctAudio() async throws {
        let harness = EngineHarness(scenario: Self.scenario)
        defer { harness.cleanUp() }
        var paths: [String] = []
        for _ in 0..<2 {
            var request = twoNumberRequest()
            request.record = true
            let placed = await harness.place(request)
            await harness.platform.waitUntilIdle()
            paths.append(try #require(await harness.platform.recording(accountSid: "acme", callSid: placed.sid)).path)
        }
        #expect(paths[0] != paths[1])
        let files = try paths.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        #expect(files[0] != files[1], "two calls' recordings are the same file")
        let (first, second) = (try self.read(paths[0]).samples, try self.read(paths[1]).samples)
        let count = min(first.count, second.count)
        #expect(count > 8000 && first[8000..<count] != second[8000..<count], "two calls carry the same samples")
        // Still the legs' tones: the seed moves their phase, not their frequencies.
        #expect(tonePower(second[8000..<16000], frequency: 440, sampleRate: 8000) > 1e5)
        #expect(tonePower(second[8000..<16000], frequency: 1000, sampleRate: 8000) > 1e5)
    }

    @Test func mp3HQIsLargerThanMp3() async throws {
        let plain = try await self.record(.single, .mp3)
        defer { plain.harness.cleanUp() }
        let hq = try await self.record(.single, .mp3HQ)
        defer { hq.harness.cleanUp() }
        let plainSize = try #require(
            try FileManager.default.attributesOfItem(atPath: plain.recording.path)[.size] as? Int
        )
        let hqSize = try #require(try FileManager.default.attributesOfItem(atPath: hq.recording.path)[.size] as? Int)
        #expect(hqSize > plainSize * 3 / 2)
        let header = try #require(FileHandle(forReadingAtPath: hq.recording.path)?.readData(ofLength: 3))
        // Either an ID3 tag or an MPEG frame sync starts an mp3 file.
        #expect(Array(header) == Array("ID3".utf8) || (header.first == 0xFF))
    }

    @Test func recordingDelayMovesAvailability() async throws {
        let (harness, _, recording) = try await self.record(nil, nil, delay: .seconds(100_000))
        defer { harness.cleanUp() }
        #expect(harness.clock.now < recording.availableAt)
        #expect(harness.clock.now.advanced(by: .seconds(100_000)) > recording.availableAt)
    }

    @Test func noConversationNoRecording() async throws {
        let harness = EngineHarness(scenario: Scenario(rules: [ScenarioRule(number: "09800000002", outcome: .busy)]))
        defer { harness.cleanUp() }
        var request = twoNumberRequest()
        request.record = true
        let placed = await harness.place(request)
        await harness.platform.waitUntilIdle()
        #expect(await harness.platform.recording(accountSid: "acme", callSid: placed.sid) == nil)
        #expect(await harness.platform.call(accountSid: "acme", sid: placed.sid)?.recordingURL == nil)
    }
}
