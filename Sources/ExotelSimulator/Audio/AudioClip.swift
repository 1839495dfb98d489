/// Mono 16-bit audio at its own sample rate, laid onto the call's timeline at any output rate.
///
/// The platform plays a prompt or a bot's reply at whatever rate it was made; the stream and the
/// recording may run at another. Mixing resamples on the fly (linear interpolation), so nothing
/// keeps a copy per output rate.
public struct AudioClip: Sendable, Hashable {
    public var samples: [Int16]
    public var sampleRate: Int

    public init(samples: [Int16], sampleRate: Int) {
        self.samples = samples
        self.sampleRate = sampleRate
    }

    public var duration: Duration {
        .nanoseconds(Int64(self.samples.count) * 1_000_000_000 / Int64(max(self.sampleRate, 1)))
    }

    /// Adds this clip, starting at platform time `clipStart`, into `output`, whose first sample is
    /// at platform time `outputStart` and which runs at `outputRate`. Only the part inside `window`
    /// sounds; `looping` repeats the clip to fill the window (hold music), else it plays once.
    public func add(
        into output: inout [Int16],
        outputStart: Duration,
        outputRate: Int,
        clipStart: Duration,
        window: Range<Duration>,
        looping: Bool
    ) {
        guard !self.samples.isEmpty, !output.isEmpty else { return }
        let first = LegAudio.sampleIndex(outputStart, sampleRate: outputRate)
        let windowFrom = LegAudio.sampleIndex(window.lowerBound, sampleRate: outputRate)
        let windowUntil = LegAudio.sampleIndex(window.upperBound, sampleRate: outputRate)
        let clipFrom = LegAudio.sampleIndex(clipStart, sampleRate: outputRate)
        let lower = max(first, windowFrom, clipFrom)
        let upper = min(first + output.count, windowUntil)
        guard lower < upper else { return }
        let step = Double(self.sampleRate) / Double(outputRate)
        let count = self.samples.count
        for index in lower..<upper {
            var position = Double(index - clipFrom) * step
            if looping {
                position = position.truncatingRemainder(dividingBy: Double(count))
            } else if position >= Double(count) {
                break
            }
            let whole = Int(position)
            let fraction = position - Double(whole)
            let next = whole + 1 < count ? Int(self.samples[whole + 1]) : (looping ? Int(self.samples[0]) : 0)
            let value = Double(self.samples[whole]) * (1 - fraction) + Double(next) * fraction
            let slot = index - first
            output[slot] = Int16(clamping: Int(output[slot]) + Int(value.rounded()))
        }
    }
}
