import ExotelKit
import Foundation

/// Builds the messages of one stream, as the platform would send them, with PCM that is easy to
/// check: every sample is a function of (stream seed, channel, sample index).
public struct StreamScript: Sendable {
    public var streamSid: String
    public var callSid: String
    public var accountSid: String
    public var sampleRate: Int
    public var seed: Int
    public var encoder = StreamMessageEncoder()

    public init(
        streamSid: String = "stream\(Int.random(in: 1000...999_999))",
        callSid: String = "CA\(Int.random(in: 1000...999_999))",
        accountSid: String = "acct1",
        sampleRate: Int = 8000,
        seed: Int = 1
    ) {
        self.streamSid = streamSid
        self.callSid = callSid
        self.accountSid = accountSid
        self.sampleRate = sampleRate
        self.seed = seed
    }

    /// Samples per 100 ms frame.
    public var frameSamples: Int { self.sampleRate / 10 }

    public static func sample(seed: Int, channel: Int, index: Int) -> Int16 {
        // A cheap, deterministic pattern that differs by seed and channel at every index.
        let x = UInt32(truncatingIfNeeded: index &* 2_654_435_761 &+ seed &* 40_503 &+ channel &* 97)
        return Int16(truncatingIfNeeded: (x >> 16) ^ (x & 0xffff))
    }

    /// The PCM of frame `index` (0-based) for `channel`.
    public func pcm(frame index: Int, channel: Int = 0) -> [Int16] {
        (0..<self.frameSamples).map {
            Self.sample(seed: self.seed, channel: channel, index: index * self.frameSamples + $0)
        }
    }

    /// What the WAV should hold after `frames` frames (interleaved for 2 channels).
    public func expected(frames: Int, channels: Int = 1) -> [Int16] {
        let total = frames * self.frameSamples
        if channels == 1 { return (0..<total).map { Self.sample(seed: self.seed, channel: 0, index: $0) } }
        return (0..<total).flatMap {
            [Self.sample(seed: self.seed, channel: 0, index: $0), Self.sample(seed: self.seed, channel: 1, index: $0)]
        }
    }

    public func connected() -> String { String(decoding: self.encoder.connected(), as: UTF8.self) }

    public func start(tracks: [Track]? = nil, mediaFormatRate: Int? = nil, encoding: String? = "audio/x-raw") -> String
    {
        var start = StreamStart(
            streamSid: self.streamSid,
            callSid: self.callSid,
            accountSid: self.accountSid,
            from: "+919800000001",
            to: "+918000000001",
            customParameters: ["campaign": "test"]
        )
        start.mediaFormat = MediaFormat(
            encoding: encoding,
            sampleRate: mediaFormatRate ?? self.sampleRate,
            bitRate: "16"
        )
        start.tracks = tracks
        return String(decoding: self.encoder.start(start, sequenceNumber: 1), as: UTF8.self)
    }

    /// Media message for frame `index` (0-based): chunk index+1, timestamp index×100 ms.
    public func media(frame index: Int, track: Track? = nil, pcm: [Int16]? = nil) -> String {
        let samples = pcm ?? self.pcm(frame: index, channel: track?.channel ?? 0)
        let bytes = samples.withUnsafeBytes { raw in
            self.encoder.media(
                streamSid: self.streamSid,
                sequenceNumber: Int64(index + 2),
                chunk: Int64(index + 1),
                timestampMs: Int64(index * 100),
                track: track,
                pcm: raw
            )
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Media message for frame `index` carrying `bytes` as they are (G.711: one byte per sample).
    public func media(frame index: Int, bytes: [UInt8]) -> String {
        let message = bytes.withUnsafeBytes { raw in
            self.encoder.media(
                streamSid: self.streamSid,
                sequenceNumber: Int64(index + 2),
                chunk: Int64(index + 1),
                timestampMs: Int64(index * 100),
                track: nil,
                pcm: raw
            )
        }
        return String(decoding: message, as: UTF8.self)
    }

    public func stop(reason: String = "callended") -> String {
        String(
            decoding: self.encoder.stop(
                streamSid: self.streamSid,
                sequenceNumber: 9999,
                callSid: self.callSid,
                accountSid: self.accountSid,
                reason: reason
            ),
            as: UTF8.self
        )
    }
}
