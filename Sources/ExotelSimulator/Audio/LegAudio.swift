/// The simulated voices of a call's legs: deterministic tone patterns a test can tell apart.
///
/// Leg 1 (From, "inbound") is a 440 Hz tone, 800 ms on and 200 ms off; leg 2 (To or the bot,
/// "outbound") a 1000 Hz tone, 400 ms on and 100 ms off. Both are functions of the platform time
/// since the call was placed, so the stream and the recording carry the same samples. Each call's tones
/// start at a phase taken from its CallSid (``seed(callSid:)``): two calls never carry the same samples,
/// so two recordings never have the same SHA-256, while the frequencies a test listens for stay the same.
public enum LegAudio {
    public enum Leg: Int, Sendable, Hashable, CaseIterable {
        case leg1 = 1
        case leg2 = 2

        public var frequency: Double { self == .leg1 ? 440 : 1000 }
        /// Length of one on/off cycle and of its tone part, in milliseconds.
        var cycleMilliseconds: Int { self == .leg1 ? 1000 : 500 }
        var onMilliseconds: Int { self == .leg1 ? 800 : 400 }
    }

    /// Peak amplitude: two legs summed stay far from clipping.
    public static let amplitude: Double = 8000

    /// A call's seed: FNV-1a (64-bit) of its CallSid.
    public static func seed(callSid: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in callSid.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// `count` samples of `leg` from platform time `start` at `sampleRate`, silent outside `active`; the
    /// tone's phase is offset by `seed` (one of 65,536 phases per leg; 0: no offset).
    public static func render(
        _ leg: Leg,
        start: Duration,
        count: Int,
        sampleRate: Int,
        active: Range<Duration>,
        seed: UInt64 = 0
    ) -> [Int16] {
        let first = self.sampleIndex(start, sampleRate: sampleRate)
        let activeFrom = self.sampleIndex(active.lowerBound, sampleRate: sampleRate)
        let activeUntil = self.sampleIndex(active.upperBound, sampleRate: sampleRate)
        let cycle = leg.cycleMilliseconds * sampleRate / 1000
        let on = leg.onMilliseconds * sampleRate / 1000
        let step = 2 * Double.pi * leg.frequency / Double(sampleRate)
        let legSeed = leg == .leg1 ? seed : seed >> 16
        let phaseOffset = 2 * Double.pi * Double(legSeed & 0xFFFF) / 65536
        var samples = [Int16](repeating: 0, count: count)
        for offset in 0..<count {
            let index = first + offset
            guard index >= activeFrom, index < activeUntil, index % cycle < on else { continue }
            // Phase from the absolute index (modulo one second) keeps the tone continuous across chunks.
            let phase = step * Double(index % sampleRate) + phaseOffset
            samples[offset] = Int16(self.amplitude * sin(phase))
        }
        return samples
    }

    static func sampleIndex(_ time: Duration, sampleRate: Int) -> Int {
        let (seconds, attoseconds) = time.components
        return Int(seconds) * sampleRate + Int(Double(attoseconds) * 1e-18 * Double(sampleRate))
    }

    /// Sums two signals sample by sample, saturating.
    public static func mix(_ a: [Int16], _ b: [Int16]) -> [Int16] {
        zip(a, b).map { Int16(clamping: Int32($0) + Int32($1)) }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
