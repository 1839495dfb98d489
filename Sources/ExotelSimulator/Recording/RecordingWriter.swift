public import ExotelKit
import Foundation
public import MediaStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a call's recording: the conversation from both parties connected to the call's end,
/// `single` = both legs mixed into one channel, `dual` = stereo with leg 1 in channel 0 and leg 2 in
/// channel 1; mp3 or mp3-hq through libsndfile.
public enum RecordingWriter {
    /// The SoundFile format for a request's `RecordingFormat`.
    public static func format(for recordingFormat: RecordingFormat) -> SoundFile.Format {
        switch recordingFormat {
        case .mp3: .mp3
        case .mp3HQ: .mp3HQ
        }
    }

    /// Writes `<directory>/<accountSid>/<callSid>.mp3` (never overwriting) and returns its path.
    public static func write(
        directory: String, accountSid: String, callSid: String, channels: RecordingChannels, format: RecordingFormat,
        sampleRate: Int, window: Range<Duration>, leg1Active: Range<Duration>?, leg2Active: Range<Duration>?
    ) throws -> String {
        let accountDirectory = (directory as NSString).appendingPathComponent(accountSid)
        try FileManager.default.createDirectory(atPath: accountDirectory, withIntermediateDirectories: true)
        let path = (accountDirectory as NSString).appendingPathComponent("\(callSid).mp3")
        let descriptor = open(path, O_CREAT | O_EXCL | O_WRONLY, 0o644)
        guard descriptor >= 0 else {
            throw MediaError.io(path: path, operation: "open", errno: errno)
        }
        let channelCount = channels == .dual ? 2 : 1
        let file = try SoundFile.create(
            path: path, descriptor: descriptor, format: self.format(for: format), sampleRate: sampleRate, channels: channelCount)
        do {
            let total = LegAudio.sampleIndex(window.upperBound - window.lowerBound, sampleRate: sampleRate)
            let block = sampleRate  // one second at a time keeps memory flat for long calls
            var written = 0
            while written < total {
                let count = min(block, total - written)
                let start = window.lowerBound + .seconds(Double(written) / Double(sampleRate))
                let leg1 = Self.render(.leg1, leg1Active, start: start, count: count, sampleRate: sampleRate)
                let leg2 = Self.render(.leg2, leg2Active, start: start, count: count, sampleRate: sampleRate)
                var samples: [Int16]
                if channelCount == 2 {
                    samples = [Int16](repeating: 0, count: count * 2)
                    for index in 0..<count {
                        samples[2 * index] = leg1[index]
                        samples[2 * index + 1] = leg2[index]
                    }
                } else {
                    samples = LegAudio.mix(leg1, leg2)
                }
                try samples.withUnsafeBufferPointer { try file.write($0) }
                written += count
            }
            try file.close()
        } catch {
            try? file.close()
            throw error
        }
        return path
    }

    private static func render(_ leg: LegAudio.Leg, _ active: Range<Duration>?, start: Duration, count: Int, sampleRate: Int) -> [Int16] {
        guard let active else { return [Int16](repeating: 0, count: count) }
        return LegAudio.render(leg, start: start, count: count, sampleRate: sampleRate, active: active)
    }
}
