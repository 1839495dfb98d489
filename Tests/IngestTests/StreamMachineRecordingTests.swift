import ExorecTesting
import ExotelKit
import MediaStore
import Testing

@testable import Ingest

/// Socket-free twins of the placement, dual-track and rate cases of `StreamRecordingTests`.
@Suite struct StreamMachineRecordingTests {
    @Test(arguments: [8000, 16000, 24000])
    func monoStreamIsStoredSampleExact(rate: Int) throws {
        let h = MachineHarness()
        let script = StreamScript(sampleRate: rate, seed: 1)
        h.send(script.connected())
        h.send(script.start())
        for i in 0..<15 { h.send(script.media(frame: i)) }
        h.send(script.stop())
        #expect(h.closeCode == 1000)
        let sidecar = try #require(h.finished)
        #expect(sidecar.sampleRate == rate)
        #expect(sidecar.channels == 1)
        #expect(sidecar.frames == Int64(15 * rate / 10))
        #expect(sidecar.closeReason == "stop:callended")
        #expect(sidecar.customParameters == ["campaign": "test"])
        #expect(sidecar.gaps.isEmpty)
        #expect(h.channels == 1)
        #expect(h.written == script.expected(frames: 15))
    }

    @Test func dualTrackStreamPutsEachLegInItsChannel() throws {
        var configuration = StreamMachine.Configuration()
        configuration.requestedRate = 16000
        let h = MachineHarness(configuration)
        let script = StreamScript(sampleRate: 16000, seed: 7)
        h.send(script.start())
        for i in 0..<10 {
            // Outbound first on odd frames: arrival order must not matter.
            if i % 2 == 1 { h.send(script.media(frame: i, track: .outbound)) }
            h.send(script.media(frame: i, track: .inbound))
            if i % 2 == 0 { h.send(script.media(frame: i, track: .outbound)) }
        }
        h.send(script.stop())
        let sidecar = try #require(h.finished)
        #expect(sidecar.channels == 2)
        #expect(sidecar.channelMap == ["inbound (leg 1, caller)", "outbound (leg 2, callee)"])
        #expect(h.channels == 2)
        #expect(h.written == script.expected(frames: 10, channels: 2))
        #expect(sidecar.frames == 16000)
    }

    @Test func missingAudioBecomesARecordedGapAndReorderedFramesFindTheirPlace() throws {
        let h = MachineHarness()
        let script = StreamScript(seed: 3)
        h.send(script.start())
        // Frame 2 comes after frame 3 (reordered); frame 5 never comes (gap); frame 1 twice (duplicate).
        for i in [0, 1, 3, 2, 4, 1, 6, 7, 8] { h.send(script.media(frame: i)) }
        h.send(script.stop())
        let sidecar = try #require(h.finished)
        #expect(sidecar.gaps == [.init(channel: 0, startMs: 500, durationMs: 100)])
        #expect(sidecar.gapMsTotal == 100)
        #expect(sidecar.duplicates == 1)
        #expect(sidecar.reorderedFrames == 1)
        var expected = script.expected(frames: 9)
        for i in 4000..<4800 { expected[i] = 0 }
        #expect(h.written == expected)
        #expect(h.placements.filter { $0 == .duplicate }.count == 1)
        #expect(h.placements.filter { $0 == .reordered }.count == 1)
    }

    @Test func dtmfMarksAndUnknownEventsAreKeptInTheSidecar() throws {
        let h = MachineHarness()
        let script = StreamScript(seed: 5)
        h.send(script.start())
        h.send(script.media(frame: 0))
        h.send(
            #"{"event":"dtmf","sequence_number":"3","stream_sid":"\#(script.streamSid)","dtmf":{"digit":"5","duration":"100"}}"#
        )
        h.send(
            #"{"event":"mark","sequence_number":"4","stream_sid":"\#(script.streamSid)","mark":{"name":"greeting"}}"#
        )
        h.send(#"{"event":"clear","stream_sid":"\#(script.streamSid)"}"#)
        h.send(script.stop())
        let sidecar = try #require(h.finished)
        #expect(sidecar.dtmf.map(\.digit) == ["5"])
        #expect(sidecar.dtmf.first?.durationMs == 100)
        #expect(sidecar.marks == 1)
        #expect(sidecar.unknownEvents == 1)
        #expect(h.reportedKinds == ["unknown-event"])
    }

    @Test func sampleRateComesFromQueryThenMediaFormatThenDefault() throws {
        var query = StreamMachine.Configuration()
        query.requestedRate = 16000
        let a = MachineHarness(query)
        a.send(StreamScript(streamSid: "ratea", sampleRate: 16000).start(mediaFormatRate: 8000))
        let b = MachineHarness()
        b.send(StreamScript(streamSid: "rateb", sampleRate: 24000).start())
        let c = MachineHarness()
        c.send(
            #"{"event":"start","stream_sid":"ratec","start":{"stream_sid":"ratec","call_sid":"CAc","account_sid":"acct1"}}"#
        )
        c.send(#"{"event":"stop","stream_sid":"ratec","stop":{"reason":"stopped"}}"#)
        #expect(a.created?.sampleRate == 16000)
        #expect(b.created?.sampleRate == 24000)
        #expect(c.created?.sampleRate == 8000)
        #expect(c.finished?.closeReason == "stop:stopped")
        #expect(c.channels == 1, "a stream without media still gets a (mono, empty) WAV")
    }
}

/// Socket-free twins of `CallPauseIngestTests`: the machine silences frames and drops dtmf while its
/// call is paused, and keeps the intervals.
@Suite struct StreamMachineCallPauseTests {
    static func dtmf(_ script: StreamScript, _ digit: String, sequence: Int64) -> String {
        String(decoding: CallPauseIngestTests.dtmf(script, digit, sequence: sequence), as: UTF8.self)
    }

    @Test func framesDuringThePauseAreSilenceAndItsDTMFIsDropped() throws {
        let pauses = CallPauses()
        let h = MachineHarness()
        h.pauses = pauses
        let script = StreamScript(streamSid: "STpause1", callSid: "CApause1", seed: 11)
        h.send(script.start())
        for i in 0..<10 { h.send(script.media(frame: i)) }
        h.send(Self.dtmf(script, "1", sequence: 100))
        guard case .paused = pauses.pause(callSid: "CApause1", at: .now(), by: "agent-7", reason: "card number") else {
            throw TestFailure("the call did not pause")
        }
        for i in 10..<20 {
            h.send(script.media(frame: i))
            if i == 12 { h.send(Self.dtmf(script, "4", sequence: 101)) }
            if i == 15 { h.send(Self.dtmf(script, "2", sequence: 102)) }
        }
        #expect(pauses.resume(callSid: "CApause1") != nil)
        for i in 20..<30 { h.send(script.media(frame: i)) }
        h.send(Self.dtmf(script, "9", sequence: 103))
        h.send(script.stop())

        let sidecar = try #require(h.finished)
        let frame = Int64(script.frameSamples)
        #expect(sidecar.frames == 30 * frame, "the file keeps its length")
        let expected = script.expected(frames: 30)
        #expect(h.written.count == expected.count)
        let paused = (10 * script.frameSamples)..<(20 * script.frameSamples)
        #expect(Array(h.written[0..<paused.lowerBound]) == Array(expected[0..<paused.lowerBound]))
        #expect(h.written[paused].allSatisfy { $0 == 0 }, "frames of the pause are exact zeros")
        #expect(Array(h.written[paused.upperBound...]) == Array(expected[paused.upperBound...]))
        #expect(sidecar.dtmf.map(\.digit) == ["1", "9"])
        let pause = try #require(sidecar.pauses?.first)
        #expect(sidecar.pauses?.count == 1)
        #expect(pause.startFrame == 10 * frame && pause.endFrame == 20 * frame)
        #expect(pause.by == "agent-7" && pause.reason == "card number" && !pause.endedWithStream)
        #expect(h.pauseLogs == [true, false])
    }

    @Test func aStreamOfAPausedCallStartsPausedAndAnUnresumedPauseEndsWithIt() throws {
        let pauses = CallPauses()
        _ = pauses.pause(callSid: "CApause2", at: .now(), by: "agent-8", reason: nil)
        let h = MachineHarness()
        h.pauses = pauses
        let script = StreamScript(streamSid: "STpause2", callSid: "CApause2", seed: 12)
        h.send(script.start())
        for i in 0..<8 { h.send(script.media(frame: i)) }
        h.send(Self.dtmf(script, "7", sequence: 50))
        h.disconnect()
        let sidecar = try #require(h.finished)
        #expect(sidecar.frames == Int64(8 * script.frameSamples))
        #expect(h.written.count == 8 * script.frameSamples && h.written.allSatisfy { $0 == 0 })
        #expect(sidecar.dtmf.isEmpty)
        let pause = try #require(sidecar.pauses?.first)
        #expect(sidecar.pauses?.count == 1)
        #expect(pause.startFrame == 0 && pause.endFrame == Int64(8 * script.frameSamples) && pause.endedWithStream)
        #expect(pauses.liveStreams(of: "CApause2") == 0)
    }

    @Test func everyLiveStreamOfThePausedCallIsSilencedAndOthersAreNot() throws {
        let pauses = CallPauses()
        let a = StreamScript(streamSid: "STpa", callSid: "CApause3", seed: 21)
        let b = StreamScript(streamSid: "STpb", callSid: "CApause3", seed: 22)
        let other = StreamScript(streamSid: "STpo", callSid: "CAother3", seed: 23)
        let harnesses = [a, b, other].map { script in
            let h = MachineHarness()
            h.pauses = pauses
            h.send(script.start())
            return h
        }
        #expect(pauses.liveStreams(of: "CApause3") == 2)
        _ = pauses.pause(callSid: "CApause3", at: .now(), by: "agent-9", reason: nil)
        for (h, script) in zip(harnesses, [a, b, other]) {
            for i in 0..<5 { h.send(script.media(frame: i)) }
            h.send(script.stop())
            let sidecar = try #require(h.finished)
            #expect(h.written.count == 5 * a.frameSamples)
            if sidecar.callSid == "CApause3" {
                #expect(h.written.allSatisfy { $0 == 0 }, "\(sidecar.streamSid)")
                #expect(sidecar.pauses?.first?.endedWithStream == true)
            } else {
                #expect(h.written == other.expected(frames: 5))
                #expect(sidecar.pauses == nil)
            }
        }
    }
}
