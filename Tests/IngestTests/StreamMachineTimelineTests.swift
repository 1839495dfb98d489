import Testing

@testable import Ingest

/// Drives the machine's timeline with whole frames and collects what it commits to the write buffer
/// (drained after every frame, as the shell would).
private final class TimelineHarness {
    var timeline: StreamMachine.Timeline
    var buffer = StreamMachine.WriteBuffer(capacity: 64, limitBytes: 1 << 60)
    var output: [Int16] = []

    init(rate: Int = 80, channels: Int = 1, windowMs: Int = 100, maxGapMs: Int = 600_000) {
        self.timeline = StreamMachine.Timeline(
            .init(sampleRate: rate, channels: channels, reorderWindowMs: windowMs, maxGapMs: maxGapMs)
        )
    }

    @discardableResult
    func place(
        _ samples: [Int16],
        channel: Int = 0,
        ts: Int64?,
        chunk: Int64? = nil
    )
        -> StreamMachine.Timeline
        .Placement
    {
        let placement = samples.withUnsafeBufferPointer { buffer in
            self.timeline.place(channel: channel, timestampMs: ts, chunk: chunk, samples: buffer, into: &self.buffer)
        }
        self.drain()
        return placement
    }

    func finish() {
        self.timeline.finish(into: &self.buffer)
        self.drain()
    }

    private func drain() { while let chunk = self.buffer.next() { self.output += Array(chunk) } }
}

/// 100 ms of audio at the harness's 80 Hz (8 samples) whose every sample names its frame.
private func frame(_ index: Int, samples: Int = 8) -> [Int16] { Array(repeating: Int16(index), count: samples) }

/// Placement by timestamp, chunk and arrival, socket-free, on the machine's `Timeline` (exorec's only placement).
@Suite struct StreamMachineTimelineTests {
    @Test func inOrderMonoPassesThroughImmediately() {
        let h = TimelineHarness()
        for i in 0..<5 { #expect(h.place(frame(i + 1), ts: Int64(i) * 100) == .placed) }
        #expect(h.output == (1...5).flatMap { frame($0) })
        #expect(h.timeline.pendingFrames == 0)
        #expect(h.timeline.gaps.isEmpty)
    }

    @Test func firstTimestampIsTheOrigin() {
        let h = TimelineHarness()
        h.place(frame(1), ts: 100)
        h.place(frame(2), ts: 200)
        h.finish()
        #expect(h.output == frame(1) + frame(2))
    }

    @Test func missingFrameBecomesSilenceAfterTheWindowAndIsRecordedAsGap() {
        let h = TimelineHarness()
        h.place(frame(1), ts: 0)
        h.place(frame(3), ts: 200)  // frame 2 lost
        h.place(frame(4), ts: 300)
        h.finish()
        #expect(h.output == frame(1) + frame(0) + frame(3) + frame(4))
        #expect(h.timeline.gaps == [.init(channel: 0, start: 8, length: 8)])
        #expect(h.timeline.gapFramesTotal == 8)
    }

    @Test func lateFrameWithinWindowIsPutInItsPlace() {
        let h = TimelineHarness()
        h.place(frame(1), ts: 0)
        h.place(frame(3), ts: 200)
        #expect(h.output == frame(1))  // frame 3 waits for frame 2
        #expect(h.place(frame(2), ts: 100) == .reordered)
        #expect(h.output == frame(1) + frame(2) + frame(3))
        #expect(h.timeline.gaps.isEmpty)
        #expect(h.timeline.reorderedFrames == 1)
    }

    @Test func frameArrivingAfterItsSlotWasSilencedIsLate() {
        let h = TimelineHarness(windowMs: 100)
        h.place(frame(1), ts: 0)
        h.place(frame(3), ts: 200)
        h.place(frame(4), ts: 300)  // window passed: frame 2's slot is silence now
        #expect(h.place(frame(2), ts: 100) == .late)
        h.finish()
        #expect(h.output == frame(1) + frame(0) + frame(3) + frame(4))
        #expect(h.timeline.lateFrames == 1)
    }

    @Test func duplicatesAreDroppedWhetherCommittedOrStaged() {
        let h = TimelineHarness()
        h.place(frame(1), ts: 0)
        #expect(h.place(frame(9), ts: 0) == .duplicate)
        h.place(frame(3), ts: 200)
        #expect(h.place(frame(9), ts: 200) == .duplicate)
        h.place(frame(2), ts: 100)
        h.finish()
        #expect(h.output == frame(1) + frame(2) + frame(3))
        #expect(h.timeline.duplicates == 2)
    }

    @Test func dualChannelsStayAlignedToTheSample() {
        let h = TimelineHarness(channels: 2)
        // outbound arrives first for frame 1, inbound first for frame 2
        h.place(frame(-1, samples: 4), channel: 1, ts: 0)
        h.place(frame(1, samples: 4), channel: 0, ts: 0)
        h.place(frame(2, samples: 4), channel: 0, ts: 100)  // 100 ms = sample 8 at 80 Hz
        h.finish()
        // Frame 1 on both channels; frame 2 inbound only; samples 4..<8 are a gap on both.
        let expected: [Int16] =
            [1, -1, 1, -1, 1, -1, 1, -1] + Array(repeating: 0, count: 8) + [2, 0, 2, 0, 2, 0, 2, 0]
        #expect(h.output == expected)
        #expect(
            Set(h.timeline.gaps) == [.init(channel: 0, start: 4, length: 4), .init(channel: 1, start: 4, length: 8)]
        )
    }

    @Test func dualInterleavesBothTracks() {
        let h = TimelineHarness(channels: 2)
        for i in 0..<3 {
            h.place(frame(i + 1, samples: 8), channel: 0, ts: Int64(i) * 100)
            h.place(frame(-(i + 1), samples: 8), channel: 1, ts: Int64(i) * 100)
        }
        #expect(h.timeline.pendingFrames == 0)
        let expected = (1...3).flatMap { i in (0..<8).flatMap { _ in [Int16(i), Int16(-i)] } }
        #expect(h.output == expected)
    }

    @Test func silentSecondTrackIsFilledAfterTheWindow() {
        let h = TimelineHarness(channels: 2, windowMs: 100)
        for i in 0..<5 { h.place(frame(i + 1, samples: 8), channel: 0, ts: Int64(i) * 100) }
        #expect(h.timeline.committed >= 3 * 8)  // does not wait forever for channel 1
        h.finish()
        #expect(h.output.count == 5 * 8 * 2)
        #expect(h.timeline.gaps == [.init(channel: 1, start: 0, length: 40)])
    }

    @Test func framesWithoutTimestampArePlacedByChunkThenByArrival() {
        let h = TimelineHarness()
        h.place(frame(1), ts: nil, chunk: 1)
        h.place(frame(3), ts: nil, chunk: 3)
        h.place(frame(2), ts: nil, chunk: 2)
        h.place(frame(4), ts: nil, chunk: nil)
        h.finish()
        #expect(h.output == frame(1) + frame(2) + frame(3) + frame(4))
    }

    @Test func hugeJumpIsRefusedAndSmallerJumpsAreFilled() {
        let h = TimelineHarness(maxGapMs: 1000)
        h.place(frame(1), ts: 0)
        #expect(h.place(frame(2), ts: 5000) == .gapTooLarge)
        #expect(h.place(frame(3), ts: 600) == .placed)
        h.finish()
        #expect(h.output.count == 8 * 7)
        #expect(h.timeline.gapFramesTotal == 8 * 5)
    }

    @Test func timestampBeforeOriginIsLate() {
        let h = TimelineHarness()
        h.place(frame(2), ts: 100)
        #expect(h.place(frame(1), ts: 0) == .late)
    }
}
