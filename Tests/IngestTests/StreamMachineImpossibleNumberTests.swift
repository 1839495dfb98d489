import ExorecTesting
import ExotelKit
import MediaStore
import Testing

@testable import Ingest

/// Socket-free twins of `ImpossibleNumberTests`: numbers from outside never make the machine's
/// arithmetic overflow; a position beyond any gap ends the stream (1008) after what came before is
/// written, and the close reason names the value.
@Suite struct StreamMachineImpossibleNumberTests {
    typealias Placement = ImpossibleNumberTests.Placement

    @Test func jumpsAheadEndTheStreamAtTheLongestStreamKept() throws {
        var configuration = StreamMachine.Configuration()
        configuration.recorder.maxDurationMs = 120_000
        let h = MachineHarness(configuration)
        let script = StreamScript(streamSid: "jumper", seed: 6)
        h.send(script.start())
        for index in 0..<10 {
            h.send(
                ImpossibleNumberTests.media(script, frame: index, Placement(chunk: nil, timestamp: "\(index * 50_000)"))
            )
        }
        let close = try #require(h.closes.first)
        #expect(close.code == .policyViolation)
        #expect(close.reason.contains("longest stream"), "close reason \(close.reason)")
        let bad = try #require(h.finished)
        #expect(bad.closeReason?.hasPrefix("too-long") == true, "\(bad.closeReason ?? "-")")
        #expect(bad.frames <= 120 * 8000, "at most the longest stream kept: \(bad.frames) frames")
        #expect(bad.frames >= 100 * 8000 + 800, "the frames before the limit are kept: \(bad.frames)")
        #expect(Int64(h.written.count) == bad.frames)
    }

    private func expectClosedWith1008(_ frames: [Placement], writtenFrames expectedFrames: Int) throws {
        let h = MachineHarness()
        let script = StreamScript(streamSid: "impossible", seed: 5)
        h.send(script.start())
        for (index, placement) in frames.enumerated() {
            h.send(ImpossibleNumberTests.media(script, frame: index, placement))
        }
        let close = try #require(h.closes.first)
        #expect(close.code == .policyViolation)
        #expect(close.reason.contains("ahead"), "close reason \(close.reason)")
        let bad = try #require(h.finished)
        let reason = bad.closeReason ?? ""
        #expect(reason.hasPrefix("gap-too-large; "), "the sidecar says why: \(reason)")
        #expect(reason.contains(frames.last!.timestamp != nil ? "media.timestamp" : "media.chunk"), "\(reason)")
        #expect(bad.frames == Int64(expectedFrames), "frames \(bad.frames)")
        #expect(h.written.count == expectedFrames)
    }

    @Test func reportedCrashChunkAfterUnplacedFrameClosesOnlyThatStream() throws {
        try self.expectClosedWith1008(
            [
                .init(chunk: nil, timestamp: nil), .init(chunk: #""0""#, timestamp: nil),
                .init(chunk: #""9223372036854775807""#, timestamp: nil, samples: 1),
            ],
            writtenFrames: 1600
        )
    }

    @Test(arguments: ImpossibleNumberTests.hugeChunkCases)
    func hugeChunkClosesWith1008AfterFinalizing(frames: [Placement]) throws {
        try self.expectClosedWith1008(frames, writtenFrames: 1600)
    }

    @Test(arguments: ImpossibleNumberTests.timestampJumpCases)
    func timestampJumpNearTheInt64LimitClosesWith1008(frames: [Placement]) throws {
        try self.expectClosedWith1008(frames, writtenFrames: 1600)
    }

    @Test func chunkOnlyFramesAfterTimestampedOnesCannotOverflow() throws {
        try self.expectClosedWith1008(
            [
                .init(chunk: nil, timestamp: #""0""#), .init(chunk: #""5""#, timestamp: nil),
                .init(chunk: #""9223372036854775807""#, timestamp: nil, samples: 1),
            ],
            writtenFrames: 1600
        )
    }

    @Test(arguments: ImpossibleNumberTests.oddButHarmlessCases)
    func oddButHarmlessNumbersDoNotEndTheStream(frames: [Placement], invalid: [String: Int64], written: Int) throws {
        let h = MachineHarness()
        let script = StreamScript(streamSid: "odd", seed: 6)
        h.send(script.start())
        for (index, placement) in frames.enumerated() {
            h.send(ImpossibleNumberTests.media(script, frame: index, placement))
        }
        h.send(script.stop())
        #expect(h.closeCode == 1000)
        let odd = try #require(h.finished)
        #expect(odd.closeReason == "stop:callended")
        #expect(odd.invalidMessages == invalid)
        #expect(odd.frames == Int64(written))
        #expect(h.written.count == written)
    }
}
