#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A canonical 16-bit PCM WAV file of a sine tone, in memory: the hold music the demo hosts and the
/// prompt audio tests serve. Written by hand (a 44-byte header), so tests that read it with
/// libsndfile check a file exorec's libsndfile wrapper did not write.
public enum ToneWAV {
    public static func bytes(
        frequency: Double,
        seconds: Double,
        sampleRate: Int = 8000,
        channels: Int = 1,
        amplitude: Double = 6000
    ) -> [UInt8] {
        let frames = Int(seconds * Double(sampleRate))
        var pcm: [UInt8] = []
        pcm.reserveCapacity(frames * channels * 2)
        for index in 0..<frames {
            let value = Int16(amplitude * sin(2 * Double.pi * frequency * Double(index) / Double(sampleRate)))
            for _ in 0..<channels {
                pcm.append(UInt8(truncatingIfNeeded: value))
                pcm.append(UInt8(truncatingIfNeeded: value >> 8))
            }
        }
        func le32(_ value: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        func le16(_ value: Int) -> [UInt8] { (0..<2).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        return Array("RIFF".utf8) + le32(36 + pcm.count) + Array("WAVEfmt ".utf8) + le32(16) + le16(1) + le16(channels)
            + le32(sampleRate) + le32(sampleRate * channels * 2) + le16(channels * 2) + le16(16) + Array("data".utf8)
            + le32(pcm.count) + pcm
    }
}
