import ExorecTesting
import ExotelKit
import Foundation
import MediaStore
import Testing

@testable import Ingest

/// The registry and one stream's bookkeeping of PCI pauses, without sockets.
@Suite struct CallPauseStateTests {
    static let t0 = Timestamp(millisecondsSinceEpoch: 1_800_000_000_000)

    @Test func registryPausesOnceAndBumpsItsGenerationOnlyOnChanges() {
        let pauses = CallPauses()
        let g0 = pauses.generation
        guard case .paused(let first) = pauses.pause(callSid: "CA1", at: Self.t0, by: "agent-7", reason: "card") else {
            Issue.record("the first pause should pause")
            return
        }
        let g1 = pauses.generation
        #expect(g1 != g0)
        guard
            case .alreadyPaused(let again) = pauses.pause(callSid: "CA1", at: Self.t0, by: "someone-else", reason: nil)
        else {
            Issue.record("a second pause should say it was paused already")
            return
        }
        #expect(again == first, "the earlier pause goes on unchanged")
        #expect(pauses.generation == g1, "an idempotent pause changes nothing a stream must look at")
        #expect(pauses.pause(of: "CA1") == first)
        #expect(pauses.pause(of: "CA2") == nil)
        #expect(pauses.resume(callSid: "CA2") == nil)
        #expect(pauses.generation == g1)
        #expect(pauses.resume(callSid: "CA1") == first)
        #expect(pauses.generation != g1)
        #expect(pauses.pause(of: "CA1") == nil)
    }

    @Test func liveStreamsAreCountedPerCall() {
        let pauses = CallPauses()
        #expect(pauses.streamStarted(callSid: "CA1") == nil)
        _ = pauses.pause(callSid: "CA1", at: Self.t0, by: "a", reason: nil)
        #expect(
            pauses.streamStarted(callSid: "CA1") != nil,
            "a stream that starts while its call is paused learns it at once"
        )
        #expect(pauses.liveStreams(of: "CA1") == 2)
        pauses.streamEnded(callSid: "CA1")
        pauses.streamEnded(callSid: "CA1")
        pauses.streamEnded(callSid: "CA1")
        #expect(pauses.liveStreams(of: "CA1") == 0)
    }

    @Test func aPauseWhoseCallEndedLongAgoIsForgotten() {
        let pauses = CallPauses()
        _ = pauses.pause(callSid: "CAold", at: Self.t0, by: "a", reason: nil)
        _ = pauses.streamStarted(callSid: "CAlive")
        _ = pauses.pause(callSid: "CAlive", at: Self.t0, by: "a", reason: nil)
        let later = Timestamp(millisecondsSinceEpoch: Self.t0.millisecondsSinceEpoch + CallPauses.forgetAfterMs + 1)
        _ = pauses.pause(callSid: "CAnew", at: later, by: "a", reason: nil)
        #expect(pauses.pause(of: "CAold") == nil, "no stream for longer than the longest call: forgotten")
        #expect(pauses.pause(of: "CAlive") != nil, "a call with a live stream keeps its pause")
        #expect(pauses.pause(of: "CAnew") != nil)
    }

    @Test func trackerOpensAndClosesIntervalsAtTheTimelineEnd() {
        var tracker = StreamPauseTracker()
        let entry = CallPauses.Entry(id: 1, pausedAt: Self.t0, by: "agent-7", reason: "card")
        let changed1 = tracker.apply(nil, generation: 1, timelineEnd: 0, now: Self.t0)
        #expect(!changed1)
        let changed2 = tracker.apply(entry, generation: 2, timelineEnd: 8000, now: Self.t0)
        #expect(changed2)
        #expect(tracker.isPaused)
        let changed3 = tracker.apply(entry, generation: 3, timelineEnd: 9000, now: Self.t0)
        #expect(!changed3, "the same pause seen again changes nothing")
        let later = Timestamp(millisecondsSinceEpoch: Self.t0.millisecondsSinceEpoch + 1000)
        let changed4 = tracker.apply(nil, generation: 4, timelineEnd: 16000, now: later)
        #expect(changed4)
        #expect(!tracker.isPaused)
        #expect(
            tracker.intervals == [
                StreamSidecar.Pause(
                    startFrame: 8000,
                    endFrame: 16000,
                    pausedAt: Self.t0,
                    resumedAt: later,
                    by: "agent-7",
                    reason: "card"
                )
            ]
        )
        let changed5 = tracker.streamEnded(timelineEnd: 20000, at: later)
        #expect(!changed5, "nothing is open")
    }

    @Test func aPauseAndResumeSeenTogetherBecomeTwoIntervals() {
        var tracker = StreamPauseTracker()
        let first = CallPauses.Entry(id: 1, pausedAt: Self.t0, by: "a", reason: nil)
        let second = CallPauses.Entry(id: 2, pausedAt: Self.t0, by: "b", reason: nil)
        _ = tracker.apply(first, generation: 1, timelineEnd: 100, now: Self.t0)
        // Resumed and paused again between two frames: the first interval ends where the second begins.
        let changed6 = tracker.apply(second, generation: 3, timelineEnd: 300, now: Self.t0)
        #expect(changed6)
        #expect(tracker.intervals.map(\.startFrame) == [100, 300])
        #expect(tracker.intervals.map(\.endFrame) == [300, nil])
        #expect(tracker.intervals.map(\.by) == ["a", "b"])
    }

    @Test func anUnresumedPauseEndsWithTheStream() {
        var tracker = StreamPauseTracker()
        _ = tracker.apply(
            CallPauses.Entry(id: 1, pausedAt: Self.t0, by: "a", reason: nil),
            generation: 1,
            timelineEnd: 800,
            now: Self.t0
        )
        let changed7 = tracker.streamEnded(timelineEnd: 4000, at: Self.t0)
        #expect(changed7)
        let interval = tracker.intervals.last
        #expect(interval?.endFrame == 4000)
        #expect(interval?.endedWithStream == true)
        #expect(interval?.resumedAt == Self.t0)
        #expect(!tracker.isPaused)
    }

    @Test func theNumberOfIntervalsIsBounded() {
        var tracker = StreamPauseTracker()
        for i in 0..<(StreamPauseTracker.maxIntervals + 50) {
            _ = tracker.apply(
                CallPauses.Entry(id: UInt64(i + 1), pausedAt: Self.t0, by: "a", reason: nil),
                generation: UInt64(2 * i + 1),
                timelineEnd: Int64(i * 10),
                now: Self.t0
            )
            _ = tracker.apply(nil, generation: UInt64(2 * i + 2), timelineEnd: Int64(i * 10 + 5), now: Self.t0)
        }
        #expect(tracker.intervals.count == StreamPauseTracker.maxIntervals)
        #expect(tracker.intervals.last?.endFrame == Int64((StreamPauseTracker.maxIntervals + 49) * 10 + 5))
    }
}

/// PCI pause over a real WebSocket: frames the stream handles while its call is paused become exact
/// zeros in the WAV (the file keeps its length), `dtmf` of the pause is stored nowhere, and audio and
/// `dtmf` outside it are kept sample-exact.
@Suite(.timeLimit(.minutes(2))) struct CallPauseIngestTests {
    static func dtmf(_ script: StreamScript, _ digit: String, sequence: Int64) -> [UInt8] {
        script.encoder.dtmf(streamSid: script.streamSid, sequenceNumber: sequence, digit: digit, durationMs: 120)
    }

    static func samples(_ path: String) throws -> [Int16] {
        let file = try SoundFile.open(readingFrom: path)
        defer { try? file.close() }
        return file.readAll()
    }

    @Test func framesDuringThePauseAreSilenceAndItsDTMFIsDropped() async throws {
        try await withTestIngest { ingest in
            let script = StreamScript(streamSid: "STpause1", callSid: "CApause1", seed: 11)
            let client = try TestWebSocketClient(port: ingest.port)
            try client.sendText(script.start())
            for i in 0..<10 { try client.sendText(script.media(frame: i)) }
            try client.sendText(Self.dtmf(script, "1", sequence: 100))
            try await ingest.waitForMediaFrames(10)

            guard
                case .paused = ingest.server.pauses.pause(
                    callSid: "CApause1",
                    at: .now(),
                    by: "agent-7",
                    reason: "card number"
                )
            else {
                throw TestFailure("the call did not pause")
            }
            for i in 10..<20 {
                try client.sendText(script.media(frame: i))
                if i == 12 { try client.sendText(Self.dtmf(script, "4", sequence: 101)) }
                if i == 15 { try client.sendText(Self.dtmf(script, "2", sequence: 102)) }
            }
            try await ingest.waitForMediaFrames(20)
            #expect(ingest.server.pauses.resume(callSid: "CApause1") != nil)
            for i in 20..<30 { try client.sendText(script.media(frame: i)) }
            try client.sendText(Self.dtmf(script, "9", sequence: 103))
            try client.sendText(script.stop())
            _ = try await client.closed()

            let sidecar = try #require(try await ingest.waitForFinished(1).first)
            let frame = Int64(script.frameSamples)
            #expect(sidecar.frames == 30 * frame, "the file keeps its length")
            let samples = try Self.samples(ingest.wavPath(of: sidecar))
            let expected = script.expected(frames: 30)
            #expect(samples.count == expected.count)
            let before = 0..<(10 * script.frameSamples)
            let paused = (10 * script.frameSamples)..<(20 * script.frameSamples)
            let after = (20 * script.frameSamples)..<(30 * script.frameSamples)
            #expect(Array(samples[before]) == Array(expected[before]))
            #expect(samples[paused].allSatisfy { $0 == 0 }, "frames of the pause are exact zeros")
            #expect(expected[paused].contains { $0 != 0 }, "the test audio itself is not silent")
            #expect(Array(samples[after]) == Array(expected[after]))

            #expect(sidecar.dtmf.map(\.digit) == ["1", "9"])
            let pauses = try #require(sidecar.pauses)
            #expect(pauses.count == 1)
            #expect(pauses.first?.startFrame == 10 * frame)
            #expect(pauses.first?.endFrame == 20 * frame)
            #expect(pauses.first?.by == "agent-7")
            #expect(pauses.first?.reason == "card number")
            #expect(pauses.first?.endedWithStream == false)
            #expect(pauses.first?.resumedAt != nil)

            // Nowhere on disk: the sidecar's text has no trace of the digits pressed in the pause.
            let sidecarPath = String(ingest.wavPath(of: sidecar).dropLast(4)) + ".json"
            let text = String(decoding: try FileSystem.read(sidecarPath), as: UTF8.self)
            #expect(!text.contains("\"4\"") && !text.contains("\"2\""), "\(text)")
            #expect(try StreamSidecar.load(from: sidecarPath) == sidecar)
        }
    }

    @Test func aStreamOfAPausedCallStartsPausedAndAnUnresumedPauseEndsWithIt() async throws {
        try await withTestIngest { ingest in
            _ = ingest.server.pauses.pause(callSid: "CApause2", at: .now(), by: "agent-8", reason: nil)
            let script = StreamScript(streamSid: "STpause2", callSid: "CApause2", seed: 12)
            let client = try TestWebSocketClient(port: ingest.port)
            try client.sendText(script.start())
            for i in 0..<8 { try client.sendText(script.media(frame: i)) }
            try client.sendText(Self.dtmf(script, "7", sequence: 50))
            try await ingest.waitForMediaFrames(8)
            // The connection drops while the call is still paused.
            client.abort()

            let sidecar = try #require(try await ingest.waitForFinished(1).first)
            #expect(sidecar.frames == Int64(8 * script.frameSamples))
            let samples = try Self.samples(ingest.wavPath(of: sidecar))
            #expect(samples.count == 8 * script.frameSamples)
            #expect(samples.allSatisfy { $0 == 0 })
            #expect(sidecar.dtmf.isEmpty)
            let pause = try #require(sidecar.pauses?.first)
            #expect(sidecar.pauses?.count == 1)
            #expect(pause.startFrame == 0)
            #expect(pause.endFrame == Int64(8 * script.frameSamples))
            #expect(pause.endedWithStream)
            #expect(ingest.server.pauses.liveStreams(of: "CApause2") == 0)
        }
    }

    @Test func everyLiveStreamOfThePausedCallIsSilencedAndOthersAreNot() async throws {
        try await withTestIngest { ingest in
            let a = StreamScript(streamSid: "STpa", callSid: "CApause3", seed: 21)
            let b = StreamScript(streamSid: "STpb", callSid: "CApause3", seed: 22)
            let other = StreamScript(streamSid: "STpo", callSid: "CAother3", seed: 23)
            let clients = try [a, b, other].map { script in
                let client = try TestWebSocketClient(port: ingest.port)
                try client.sendText(script.start())
                return client
            }
            try await ingest.waitForStarted(3)
            #expect(ingest.server.pauses.liveStreams(of: "CApause3") == 2)
            _ = ingest.server.pauses.pause(callSid: "CApause3", at: .now(), by: "agent-9", reason: nil)
            for (client, script) in zip(clients, [a, b, other]) {
                for i in 0..<5 { try client.sendText(script.media(frame: i)) }
                try client.sendText(script.stop())
                _ = try await client.closed()
            }
            let finished = try await ingest.waitForFinished(3)
            for sidecar in finished {
                let samples = try Self.samples(ingest.wavPath(of: sidecar))
                #expect(samples.count == 5 * a.frameSamples)
                if sidecar.callSid == "CApause3" {
                    #expect(samples.allSatisfy { $0 == 0 }, "\(sidecar.streamSid)")
                    #expect(sidecar.pauses?.first?.endedWithStream == true)
                } else {
                    #expect(samples == other.expected(frames: 5))
                    #expect(sidecar.pauses == nil)
                }
            }
        }
    }
}
