/// Places each channel's audio frames on the stream's sample timeline by timestamp, not by arrival.
///
/// - A frame is placed at `(timestamp - first timestamp) × rate / 1000`; without a timestamp, by its
///   chunk number; without either, right after the channel's previous frame.
/// - In-order mono audio passes straight through without a copy.
/// - A frame that arrives early (after a missing one) waits in a small staging area; if the missing
///   audio shows up within the reorder window it is put in its place (`reordered`), otherwise the
///   hole is filled with silence and recorded as a gap.
/// - A frame whose place was already written is dropped: as a `duplicate` if real audio is there, as
///   `late` if its slot had been filled with silence.
/// - Both channels of a dual stream share one timeline, so they stay aligned to the sample; audio
///   is committed (handed to `emit`, interleaved) only once every channel has it or the window passed.
///
/// Pure logic with no I/O and no clock: `StreamRecorder` feeds it and writes what it emits.
/// Not `Sendable`: one stream owns it on one thread.
public final class StreamTimeline {
    public struct Configuration: Sendable, Hashable {
        public var sampleRate: Int
        public var channels: Int
        /// How much audio may arrive after a hole before the hole becomes silence. 100 ms (one
        /// platform frame) keeps what a crash can lose from the reorder staging under 200 ms.
        public var reorderWindowMs: Int
        /// The largest jump forward in time that is filled with silence; a larger one is refused.
        public var maxGapMs: Int
        /// The longest a stream's timeline may grow: audio placed past it is refused. Without it a
        /// client could jump `maxGapMs` ahead with every 100-byte message and fill the disk with silence.
        public var maxDurationMs: Int

        public init(
            sampleRate: Int,
            channels: Int,
            reorderWindowMs: Int = 100,
            maxGapMs: Int = 600_000,
            maxDurationMs: Int = 15_000_000
        ) {
            self.sampleRate = sampleRate
            self.channels = channels
            self.reorderWindowMs = reorderWindowMs
            self.maxGapMs = maxGapMs
            self.maxDurationMs = maxDurationMs
        }
    }

    public enum Placement: Sendable, Hashable {
        /// Placed where the channel expected it.
        case placed
        /// Placed into a hole left by audio that arrived earlier than it.
        case reordered
        /// Its place already holds real audio: dropped.
        case duplicate
        /// Its place was already filled with silence (or lies before the stream's first frame): dropped.
        case late
        /// It lies further ahead than `maxGapMs`: dropped, and the stream should be closed.
        case gapTooLarge
        /// It ends past `maxDurationMs` from the stream's start: dropped, and the stream should be closed.
        case beyondMaxDuration
    }

    /// A stretch of one channel that was filled with silence, in sample frames.
    public struct Gap: Sendable, Hashable {
        public var channel: Int
        public var start: Int64
        public var length: Int64
    }

    public let configuration: Configuration
    private let channels: Int
    private let rate: Int64
    private let windowFrames: Int64
    private let maxGapFrames: Int64
    private let maxDurationFrames: Int64

    /// Sample frames handed to `emit` so far.
    public private(set) var committed: Int64 = 0
    public private(set) var gaps: [Gap] = []
    public private(set) var gapFramesTotal: Int64 = 0
    public private(set) var duplicates: Int64 = 0
    public private(set) var lateFrames: Int64 = 0
    public private(set) var reorderedFrames: Int64 = 0
    public private(set) var placedFrames: Int64 = 0

    /// Kept bounded so that a stream with pathological timing cannot grow memory; totals go on.
    public static let maxRecordedGaps = 10_000

    private var originMs: Int64?
    private var chunkOrigin: Int64?
    private var chunkBase: Int64 = 0
    private var appendPoint: [Int64]
    private var channelHigh: [Int64]
    /// Per channel, the sorted, disjoint ranges of staged (received, not yet committed) audio.
    private var staged: [[Range<Int64>]]
    private var highWater: Int64 = 0
    /// Interleaved samples for timeline positions `committed ..< committed + stageFrames`; zero
    /// wherever nothing is staged, so holes need no extra pass when they become silence.
    private var stage: UnsafeMutablePointer<Int16>?
    private var stageFrames: Int64 = 0

    /// Zeros shared by every timeline; written once here and only ever read afterwards.
    private nonisolated(unsafe) static let silence: UnsafeMutablePointer<Int16> = {
        let p = UnsafeMutablePointer<Int16>.allocate(capacity: silenceSamples)
        p.initialize(repeating: 0, count: silenceSamples)
        return p
    }()
    private static let silenceSamples = 16_384

    public init(_ configuration: Configuration) {
        precondition(configuration.channels == 1 || configuration.channels == 2, "1 or 2 channels")
        precondition(configuration.sampleRate > 0)
        self.configuration = configuration
        self.channels = configuration.channels
        self.rate = Int64(configuration.sampleRate)
        self.windowFrames = Self.frames(
            ms: configuration.reorderWindowMs,
            rate: configuration.sampleRate,
            limit: Self.maxWindowFrames
        )
        self.maxGapFrames = Self.frames(
            ms: configuration.maxGapMs,
            rate: configuration.sampleRate,
            limit: Self.maxGapFramesLimit
        )
        self.maxDurationFrames = Self.frames(
            ms: configuration.maxDurationMs,
            rate: configuration.sampleRate,
            limit: Self.maxGapFramesLimit
        )
        self.appendPoint = Array(repeating: 0, count: configuration.channels)
        self.channelHigh = Array(repeating: 0, count: configuration.channels)
        self.staged = Array(repeating: [], count: configuration.channels)
        for c in 0..<configuration.channels { self.staged[c].reserveCapacity(8) }
    }

    deinit {
        self.stage?.deallocate()
    }

    /// Bounds on the configured durations, so that no setting can make the arithmetic overflow:
    /// positions stay below `committed + 2^40` frames per frame placed (over a year at 24 kHz).
    static let maxGapFramesLimit: Int64 = 1 << 40
    /// The staging area holds the window: bounded to 10 minutes at 24 kHz whatever is configured.
    static let maxWindowFrames: Int64 = 600 * 24_000

    private static func frames(ms: Int, rate: Int, limit: Int64) -> Int64 {
        let (product, overflow) = Int64(max(ms, 0)).multipliedReportingOverflow(by: Int64(rate))
        return overflow ? limit : min(product / 1000, limit)
    }

    /// Sample frames received but not yet committed (waiting for a hole to fill).
    public var pendingFrames: Int64 { self.highWater - self.committed }

    /// Places one channel's frame of samples.
    ///
    /// - Parameters:
    ///   - channel: 0 for mono and for the inbound track, 1 for the outbound track.
    ///   - emit: receives committed audio, interleaved, in timeline order; called zero or more times.
    @discardableResult
    public func place(
        channel: Int,
        timestampMs: Int64?,
        chunk: Int64?,
        samples: UnsafeBufferPointer<Int16>,
        emit: (UnsafeBufferPointer<Int16>) -> Void
    ) -> Placement {
        precondition(channel >= 0 && channel < self.channels)
        let count = Int64(samples.count)
        guard count > 0 else { return .placed }

        guard let offset = self.offset(channel: channel, timestampMs: timestampMs, chunk: chunk, count: count) else {
            self.lateFrames += 1
            return .late
        }
        if offset - self.committed > self.maxGapFrames { return .gapTooLarge }
        // `offset` is at most committed + 2^40 here and `count` a frame's samples: no overflow.
        if offset + count > self.maxDurationFrames { return .beyondMaxDuration }

        var start = offset
        var source = samples
        let end = offset + count
        if end <= self.committed {
            if self.isSilenceFilled(channel: channel, from: offset, to: end) {
                self.lateFrames += 1
                return .late
            }
            self.duplicates += 1
            return .duplicate
        }
        if start < self.committed {
            // Only the part still ahead of the commit point can be placed.
            source = UnsafeBufferPointer(rebasing: samples[Int(self.committed - start)...])
            start = self.committed
        }
        if self.overlapsStaged(channel: channel, from: start, to: end) {
            self.duplicates += 1
            return .duplicate
        }

        let reordered = start < self.channelHigh[channel]
        self.channelHigh[channel] = max(self.channelHigh[channel], end)
        self.appendPoint[channel] = max(self.appendPoint[channel], end)
        self.placedFrames += 1
        if reordered { self.reorderedFrames += 1 }

        if self.channels == 1 && start == self.committed && self.staged[0].isEmpty {
            emit(source)
            self.committed = end
            self.highWater = max(self.highWater, end)
            return .placed
        }

        // Keep the staging area bounded: audio further back than the window (plus this frame) is
        // committed now, holes and all.
        let span = Int64(source.count)
        if end - self.committed > self.windowFrames + span {
            self.commit(to: end - self.windowFrames - span, emit: emit)
        }
        self.ensureStage(frames: self.windowFrames + span)
        self.copyToStage(channel: channel, at: start, source)
        self.insertStaged(channel: channel, start..<end)
        self.highWater = max(self.highWater, end)
        self.settle(emit: emit)
        return reordered ? .reordered : .placed
    }

    /// Commits everything still staged, filling holes with silence. Call once, at the end.
    public func finish(emit: (UnsafeBufferPointer<Int16>) -> Void) {
        if self.highWater > self.committed {
            self.commit(to: self.highWater, emit: emit)
        }
    }

    // MARK: - Placement

    /// Where a frame starts on the timeline; nil when it lies before the stream's first frame, and
    /// `Self.beyondAnyGap` when its position does not even fit in an Int64.
    ///
    /// Chunk and timestamp come from outside and may be any Int64 (the parser lets through
    /// 0...Int64.max; direct callers anything), so every step is checked for overflow: a position
    /// that overflows is further ahead than any `maxGapFrames` and is refused as `gapTooLarge` by
    /// the caller. Checked arithmetic is a flag test per operation; the per-frame path stays cheap.
    @inline(__always)
    private func offset(channel: Int, timestampMs: Int64?, chunk: Int64?, count: Int64) -> Int64? {
        if let timestampMs {
            let origin = self.originMs ?? timestampMs
            self.originMs = origin
            let (relative, behind) = timestampMs.subtractingReportingOverflow(origin)
            if behind { return timestampMs < origin ? nil : Self.beyondAnyGap }
            guard relative >= 0 else { return nil }
            let (product, overflow) = relative.multipliedReportingOverflow(by: self.rate)
            return overflow ? Self.beyondAnyGap : product / 1000
        }
        if let chunk {
            let origin: Int64
            if let chunkOrigin = self.chunkOrigin {
                origin = chunkOrigin
            } else {
                origin = chunk
                self.chunkOrigin = chunk
                self.chunkBase = self.appendPoint[channel]
            }
            let (index, behind) = chunk.subtractingReportingOverflow(origin)
            if behind { return chunk < origin ? nil : Self.beyondAnyGap }
            guard index >= 0 else { return nil }
            let (product, overflow1) = index.multipliedReportingOverflow(by: count)
            let (offset, overflow2) = self.chunkBase.addingReportingOverflow(product)
            return overflow1 || overflow2 ? Self.beyondAnyGap : offset
        }
        return self.appendPoint[channel]
    }

    /// A position past every possible gap: `beyondAnyGap - committed` cannot overflow (committed ≥ 0)
    /// and always exceeds `maxGapFrames`.
    private static let beyondAnyGap = Int64.max

    private func isSilenceFilled(channel: Int, from start: Int64, to end: Int64) -> Bool {
        for gap in self.gaps.reversed() where gap.channel == channel {
            if gap.start < end && start < gap.start + gap.length { return true }
            if gap.start + gap.length <= start { break }
        }
        return false
    }

    private func overlapsStaged(channel: Int, from start: Int64, to end: Int64) -> Bool {
        for range in self.staged[channel] where range.lowerBound < end && start < range.upperBound {
            return true
        }
        return false
    }

    private func insertStaged(channel: Int, _ range: Range<Int64>) {
        var ranges = self.staged[channel]
        self.staged[channel] = []  // keep `ranges` uniquely referenced: appends stay in place
        var index = ranges.endIndex
        while index > 0 && ranges[index - 1].lowerBound > range.lowerBound { index -= 1 }
        ranges.insert(range, at: index)
        // Merge neighbours that touch.
        var merged = index
        if merged > 0 && ranges[merged - 1].upperBound == ranges[merged].lowerBound {
            ranges[merged - 1] = ranges[merged - 1].lowerBound..<ranges[merged].upperBound
            ranges.remove(at: merged)
            merged -= 1
        }
        if merged + 1 < ranges.count && ranges[merged].upperBound == ranges[merged + 1].lowerBound {
            ranges[merged] = ranges[merged].lowerBound..<ranges[merged + 1].upperBound
            ranges.remove(at: merged + 1)
        }
        self.staged[channel] = ranges
    }

    /// Turns holes that are too old to wait for into silence, then commits what every channel has
    /// contiguously.
    ///
    /// A hole is too old once more than the reorder window of audio has arrived after it. A channel
    /// with nothing staged beyond a point (a track that went quiet) is filled up to the window
    /// behind the newest audio, so one dead track never holds the other back for long.
    private func settle(emit: (UnsafeBufferPointer<Int16>) -> Void) {
        let horizon = self.highWater - self.windowFrames
        for channel in 0..<self.channels {
            var cursor = self.committed
            var holes: [Range<Int64>] = []
            for range in self.staged[channel] {
                if range.lowerBound > cursor && self.highWater - range.lowerBound > self.windowFrames {
                    holes.append(cursor..<range.lowerBound)
                }
                cursor = range.upperBound
            }
            if cursor < horizon { holes.append(cursor..<horizon) }
            for hole in holes {
                self.recordGap(channel: channel, from: hole.lowerBound, to: hole.upperBound)
                self.insertStaged(channel: channel, hole)
            }
        }
        var frontier = Int64.max
        for channel in 0..<self.channels {
            if let first = self.staged[channel].first, first.lowerBound == self.committed {
                frontier = min(frontier, first.upperBound)
            } else {
                frontier = self.committed
            }
        }
        if frontier > self.committed && frontier != Int64.max {
            self.commit(to: frontier, emit: emit)
        }
    }

    // MARK: - Staging and committing

    private func ensureStage(frames needed: Int64) {
        guard needed > self.stageFrames else { return }
        let samples = Int(needed) * self.channels
        let grown = UnsafeMutablePointer<Int16>.allocate(capacity: samples)
        grown.initialize(repeating: 0, count: samples)
        if let old = self.stage {
            grown.update(from: old, count: Int(self.stageFrames) * self.channels)
            old.deallocate()
        }
        self.stage = grown
        self.stageFrames = needed
    }

    private func copyToStage(channel: Int, at position: Int64, _ source: UnsafeBufferPointer<Int16>) {
        guard let stage = self.stage, let base = source.baseAddress else { return }
        let first = Int(position - self.committed)
        if self.channels == 1 {
            (stage + first).update(from: base, count: source.count)
        } else {
            var target = stage + first * 2 + channel
            for i in 0..<source.count {
                target.pointee = base[i]
                target += 2
            }
        }
    }

    /// Hands `committed ..< target` to `emit`, with silence wherever a channel has no audio, and
    /// records those holes as gaps.
    private func commit(to target: Int64, emit: (UnsafeBufferPointer<Int16>) -> Void) {
        guard target > self.committed else { return }
        for channel in 0..<self.channels {
            var cursor = self.committed
            for range in self.staged[channel] {
                if range.lowerBound >= target { break }
                if range.lowerBound > cursor { self.recordGap(channel: channel, from: cursor, to: range.lowerBound) }
                cursor = max(cursor, range.upperBound)
            }
            if cursor < target { self.recordGap(channel: channel, from: cursor, to: target) }
        }

        let fromStage = min(target - self.committed, self.stageFrames)
        if fromStage > 0, let stage = self.stage {
            emit(UnsafeBufferPointer(start: stage, count: Int(fromStage) * self.channels))
        }
        var silent = (target - self.committed - fromStage) * Int64(self.channels)
        while silent > 0 {
            let n = Int(min(silent, Int64(Self.silenceSamples - Self.silenceSamples % self.channels)))
            emit(UnsafeBufferPointer(start: Self.silence, count: n))
            silent -= Int64(n)
        }

        if let stage = self.stage {
            let shift = Int(fromStage) * self.channels
            let total = Int(self.stageFrames) * self.channels
            if shift >= total {
                stage.update(repeating: 0, count: total)
            } else if shift > 0 {
                stage.update(from: stage + shift, count: total - shift)
                (stage + (total - shift)).update(repeating: 0, count: shift)
            }
        }
        for channel in 0..<self.channels {
            var ranges = self.staged[channel]
            self.staged[channel] = []
            var keep = 0
            for range in ranges where range.upperBound > target {
                ranges[keep] = max(range.lowerBound, target)..<range.upperBound
                keep += 1
            }
            ranges.removeLast(ranges.count - keep)
            self.staged[channel] = ranges
        }
        self.committed = target
        self.highWater = max(self.highWater, target)
    }

    private func recordGap(channel: Int, from start: Int64, to end: Int64) {
        let length = end - start
        guard length > 0 else { return }
        self.gapFramesTotal += length
        if let last = self.gaps.lastIndex(where: { $0.channel == channel }),
            self.gaps[last].start + self.gaps[last].length == start
        {
            self.gaps[last].length += length
            return
        }
        if self.gaps.count < Self.maxRecordedGaps {
            self.gaps.append(Gap(channel: channel, start: start, length: length))
        }
    }
}
