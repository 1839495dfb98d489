import Testing

@testable import Ingest

/// The timeline takes any Int64 as a chunk or timestamp (the parser only lets non-negative ones
/// through, but the timeline does not rely on it): a position it cannot compute without overflow
/// is `gapTooLarge` (far ahead) or `late` (far behind), never a trap. Socket-free, on the machine's
/// `Timeline` (exorec's only placement).
@Suite struct StreamMachineTimelineLimitTests {
    private final class Harness {
        var timeline = StreamMachine.Timeline(
            .init(sampleRate: 8000, channels: 1, reorderWindowMs: 100, maxGapMs: 600_000)
        )
        var buffer = StreamMachine.WriteBuffer(capacity: 64, limitBytes: 1 << 60)
        var output = 0

        func place(samples: Int = 800, ts: Int64? = nil, chunk: Int64? = nil) -> StreamMachine.Timeline.Placement {
            let pcm = [Int16](repeating: 1, count: samples)
            let placement = pcm.withUnsafeBufferPointer { buffer in
                self.timeline.place(channel: 0, timestampMs: ts, chunk: chunk, samples: buffer, into: &self.buffer)
            }
            while let chunk = self.buffer.next() { self.output += chunk.count }
            return placement
        }
    }

    /// A client jumping almost `maxGapMs` ahead with each frame is stopped at `maxDurationMs`, so the
    /// silence it makes exorec write is bounded by the stream's length, not by the number of messages.
    @Test func jumpsAheadStopAtTheLongestStream() {
        var timeline = StreamMachine.Timeline(
            .init(sampleRate: 8000, channels: 1, reorderWindowMs: 100, maxGapMs: 600_000, maxDurationMs: 3_600_000)
        )
        var output = StreamMachine.WriteBuffer(capacity: 64, limitBytes: 1 << 60)
        let pcm = [Int16](repeating: 1, count: 800)
        var written: Int64 = 0
        var placements: [StreamMachine.Timeline.Placement] = []
        for frame in 0..<20 {
            let placement = pcm.withUnsafeBufferPointer { buffer in
                timeline.place(
                    channel: 0,
                    timestampMs: Int64(frame) * 590_000,
                    chunk: nil,
                    samples: buffer,
                    into: &output
                )
            }
            while let chunk = output.next() { written += Int64(chunk.count) }
            placements.append(placement)
            if placement == .beyondMaxDuration { break }
        }
        // 0, 590 s, …, 3540 s fit in the hour; 4130 s does not.
        #expect(placements == Array(repeating: .placed, count: 7) + [.beyondMaxDuration])
        #expect(timeline.committed + timeline.pendingFrames <= 3_600 * 8000)
        #expect(written <= 3_600 * 8000)
    }

    /// The reported crash, at the timeline: `chunkBase + index × samples` overflowed.
    @Test func chunkAfterUnplacedFrameAtTheLimitIsTooFarAhead() {
        let h = Harness()
        #expect(h.place() == .placed)
        #expect(h.place(chunk: 0) == .placed)
        #expect(h.place(samples: 1, chunk: .max) == .gapTooLarge)
        #expect(h.place(chunk: .max / 800) == .gapTooLarge)
        #expect(h.place(chunk: 1) == .placed)
        #expect(h.timeline.committed == 2400 && h.output == 2400)
    }

    @Test(arguments: [Int64.min, -1, Int64.min + 1])
    func chunksBehindAnOriginAtTheLimitAreLate(chunk: Int64) {
        let h = Harness()
        #expect(h.place(chunk: .max) == .placed)
        #expect(h.place(chunk: chunk) == .late)
        #expect(h.place(chunk: .max) == .duplicate)
    }

    @Test func chunkAheadOfANegativeOriginAtTheLimitIsTooFarAhead() {
        let h = Harness()
        #expect(h.place(chunk: .min) == .placed)
        #expect(h.place(chunk: .max) == .gapTooLarge)
        #expect(h.place(chunk: .min + 1) == .placed)
        #expect(h.timeline.committed == 1600)
    }

    @Test func timestampsAcrossTheWholeInt64RangeNeverTrap() {
        let h = Harness()
        #expect(h.place(ts: .min) == .placed)
        #expect(h.place(ts: .max) == .gapTooLarge)
        #expect(h.place(ts: -1) == .gapTooLarge)
        #expect(h.place(ts: .min + 100) == .placed)
        #expect(h.timeline.committed == 1600)

        let g = Harness()
        #expect(g.place(ts: .max) == .placed)
        #expect(g.place(ts: .min) == .late)
        #expect(g.place(ts: 0) == .late)
        #expect(g.place(ts: .max / 8000 + 1) == .late)
    }

    @Test func timestampJustInsideTheMaximumGapIsFilledAndJustOutsideIsRefused() {
        let h = Harness()
        #expect(h.place(ts: 1_000) == .placed)
        // The gap is measured from the commit point (800 frames in): 600 s of gap is 4,800,000 frames.
        #expect(h.place(ts: 1_000 + 600_101) == .gapTooLarge)
        #expect(h.place(ts: 1_000 + 600_100) == .placed)
        h.timeline.finish(into: &h.buffer)
        while let chunk = h.buffer.next() { h.output += chunk.count }
        #expect(h.timeline.committed == 600_100 * 8 + 800)
        #expect(h.output == 600_100 * 8 + 800)
    }

    /// Before: `maxGapMs × rate` trapped in `init` for a huge configured gap.
    @Test func hugeConfiguredGapIsBoundedAndStillRefusesTheLimit() {
        var timeline = StreamMachine.Timeline(
            .init(sampleRate: 24000, channels: 1, reorderWindowMs: 100, maxGapMs: .max)
        )
        var output = StreamMachine.WriteBuffer(capacity: 64, limitBytes: 1 << 60)
        let pcm = [Int16](repeating: 1, count: 2400)
        func place(_ ts: Int64) -> StreamMachine.Timeline.Placement {
            pcm.withUnsafeBufferPointer {
                timeline.place(channel: 0, timestampMs: ts, chunk: nil, samples: $0, into: &output)
            }
        }
        #expect(place(0) == .placed)
        #expect(place(.max) == .gapTooLarge)
        #expect(place(.max / 24) == .gapTooLarge)
        #expect(timeline.committed == 2400)
    }
}
