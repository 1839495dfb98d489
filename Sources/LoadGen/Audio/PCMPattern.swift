import Glibc

/// Deterministic 16-bit PCM for every stream, channel and sample of a run, cheap to send and to re-check.
///
/// Each 100 ms frame starts with a six-sample header that names its stream, channel and frame
/// index, followed by a body taken from a pool of ``poolSize`` distinct blocks. The header makes
/// every frame differ from its neighbours and from every other stream's frames, so a verifier
/// that compares sample by sample catches missing, duplicated, swapped, cross-stream and
/// cross-channel frames, and can say which frame it found instead (``identify(_:)``). The pool
/// lets the sender keep the base64 of each body ready-made: per frame it only encodes the twelve
/// header bytes. Everything is integer arithmetic, so any machine regenerates the same samples.
public struct PCMPattern: Sendable {
    /// Header samples at the start of each frame: 12 bytes, which base64 encodes to exactly 16
    /// characters, so the body's base64 can follow unchanged.
    public static let headerSamples = 6
    /// Distinct body blocks.
    public static let poolSize = 64
    private static let headerMarker: UInt16 = 0x5E00
    private static let checkSeed: UInt16 = 0x3C5A

    public let sampleRate: Int
    public let samplesPerFrame: Int
    /// `poolSize` blocks of `samplesPerFrame - headerSamples` samples each.
    let pool: [[Int16]]

    public init(sampleRate: Int) {
        self.sampleRate = sampleRate
        self.samplesPerFrame = sampleRate * LoadPlan.frameMilliseconds / 1000
        let bodySamples = self.samplesPerFrame - Self.headerSamples
        self.pool = (0..<Self.poolSize).map { Self.makeBlock($0, samples: bodySamples) }
    }

    /// Which pool block carries the body of a frame.
    ///
    /// Odd multipliers of the frame index make neighbouring frames use different blocks even
    /// though the header alone would already tell them apart.
    public func blockIndex(stream: Int, channel: Int, frame: Int) -> Int {
        (stream &* 7 &+ frame &* 13 &+ channel &* 29) & (Self.poolSize - 1)
    }

    /// Sample `position` (0..<6) of a frame's header.
    public func headerSample(_ position: Int, stream: Int, channel: Int, frame: Int) -> Int16 {
        let words = self.headerWords(stream: stream, channel: channel, frame: frame)
        return Int16(bitPattern: words[position])
    }

    /// Stores the header as 12 little-endian bytes, the form that goes on the wire.
    func writeHeader(stream: Int, channel: Int, frame: Int, into out: UnsafeMutableRawPointer) {
        let words = self.headerWords(stream: stream, channel: channel, frame: frame)
        for position in 0..<Self.headerSamples {
            out.storeBytes(of: words[position].littleEndian, toByteOffset: 2 * position, as: UInt16.self)
        }
    }

    /// An `InlineArray` rather than an `Array`: the sender builds a header for every frame it
    /// sends, and a heap allocation there would cost as much as the rest of the frame.
    private func headerWords(stream: Int, channel: Int, frame: Int) -> InlineArray<6, UInt16> {
        let w0 = UInt16(truncatingIfNeeded: stream)
        let w1 = UInt16(truncatingIfNeeded: stream >> 16) & 0x7FFF | UInt16(channel & 1) << 15
        let w2 = UInt16(truncatingIfNeeded: frame)
        let w3 = UInt16(truncatingIfNeeded: frame >> 16)
        let w4 = Self.headerMarker | UInt16(self.blockIndex(stream: stream, channel: channel, frame: frame))
        let w5 = w0 ^ w1 ^ w2 ^ w3 ^ w4 ^ Self.checkSeed
        return [w0, w1, w2, w3, w4, w5]
    }

    /// Sample `index` (counted from the start of the stream) of one stream's channel.
    public func sample(stream: Int, channel: Int, index: Int) -> Int16 {
        let frame = index / self.samplesPerFrame
        let offset = index % self.samplesPerFrame
        if offset < Self.headerSamples {
            return self.headerSample(offset, stream: stream, channel: channel, frame: frame)
        }
        return self.pool[self.blockIndex(stream: stream, channel: channel, frame: frame)][offset - Self.headerSamples]
    }

    /// One whole frame of one channel.
    public func frame(stream: Int, channel: Int, frame: Int) -> [Int16] {
        var samples = (0..<Self.headerSamples).map {
            self.headerSample($0, stream: stream, channel: channel, frame: frame)
        }
        samples += self.pool[self.blockIndex(stream: stream, channel: channel, frame: frame)]
        return samples
    }

    /// Whether `samples` (one channel, starting at a frame boundary) hold exactly the expected frame.
    func matches(_ samples: UnsafeBufferPointer<Int16>, stream: Int, channel: Int, frame: Int) -> Bool {
        guard samples.count == self.samplesPerFrame else { return false }
        let words = self.headerWords(stream: stream, channel: channel, frame: frame)
        for position in 0..<Self.headerSamples where UInt16(bitPattern: samples[position]) != words[position] {
            return false
        }
        let block = self.pool[self.blockIndex(stream: stream, channel: channel, frame: frame)]
        return block.withUnsafeBytes { expected in
            memcmp(samples.baseAddress! + Self.headerSamples, expected.baseAddress!, expected.count) == 0
        }
    }

    /// Which frame a header announces, if the samples start with a valid header.
    public func identify(_ samples: some Collection<Int16>) -> FrameIdentity? {
        guard samples.count >= Self.headerSamples else { return nil }
        let w = samples.prefix(Self.headerSamples).map { UInt16(bitPattern: $0) }
        guard w[4] & 0xFF00 == Self.headerMarker, w[5] == w[0] ^ w[1] ^ w[2] ^ w[3] ^ w[4] ^ Self.checkSeed else {
            return nil
        }
        return FrameIdentity(
            stream: Int(w[0]) | Int(w[1] & 0x7FFF) << 16,
            channel: Int(w[1] >> 15),
            frame: Int(w[2]) | Int(w[3]) << 16
        )
    }

    /// A triangle wave whose period depends on the block, plus a little hashed dither, so that
    /// blocks differ everywhere and the audio is still a plain tone to a listener.
    private static func makeBlock(_ block: Int, samples: Int) -> [Int16] {
        let period = 24 + 6 * block
        let amplitude = 6000
        return (0..<samples).map { index in
            let phase = index % period
            let half = period / 2
            let ramp = phase < half ? phase : period - phase
            let triangle = amplitude * (4 * ramp - period) / period
            var hash =
                UInt32(truncatingIfNeeded: block &* 0x9E37_79B9) ^ UInt32(truncatingIfNeeded: index &* 0x85EB_CA6B)
            hash ^= hash >> 15
            hash = hash &* 0x2C1B_3C6D
            hash ^= hash >> 12
            let dither = Int(hash & 0x1FF) - 256
            return Int16(triangle + dither)
        }
    }
}

/// The stream, channel and frame a frame header names.
public struct FrameIdentity: Sendable, Hashable, Codable, CustomStringConvertible {
    public var stream: Int
    public var channel: Int
    public var frame: Int

    public init(stream: Int, channel: Int, frame: Int) {
        self.stream = stream
        self.channel = channel
        self.frame = frame
    }

    public var description: String { "stream \(self.stream) channel \(self.channel) frame \(self.frame)" }
}
