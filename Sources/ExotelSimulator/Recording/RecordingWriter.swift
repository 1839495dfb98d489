public import ExotelKit
import Foundation
public import MediaStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a call's recording: the conversation from both parties connected to the call's end,
/// `single` = the call's two channels mixed into one, `dual` = stereo with channel 0 = leg 1's side
/// and channel 1 = leg 2's (or the bot's) side (`CallSoundtrack`); mp3 or mp3-hq through libsndfile.
public enum RecordingWriter {
    /// The SoundFile format for a request's `RecordingFormat`.
    public static func format(for recordingFormat: RecordingFormat) -> SoundFile.Format {
        switch recordingFormat {
        case .mp3: .mp3
        case .mp3HQ: .mp3HQ
        }
    }

    /// Writes `<directory>/<accountSid>/<callSid>.mp3` (never overwriting) and returns its path.
    static func write(
        directory: String,
        accountSid: String,
        callSid: String,
        channels: RecordingChannels,
        format: RecordingFormat,
        sampleRate: Int,
        window: Range<Duration>,
        soundtrack: CallSoundtrack
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
            path: path,
            descriptor: descriptor,
            format: self.format(for: format),
            sampleRate: sampleRate,
            channels: channelCount
        )
        do {
            let total = LegAudio.sampleIndex(window.upperBound - window.lowerBound, sampleRate: sampleRate)
            let block = sampleRate  // one second at a time keeps memory flat for long calls
            var written = 0
            while written < total {
                let count = min(block, total - written)
                let start = window.lowerBound + .seconds(Double(written) / Double(sampleRate))
                var samples: [Int16]
                if channelCount == 2 {
                    let leg1 = soundtrack.renderLoaded(.leg1, from: start, count: count, sampleRate: sampleRate)
                    let leg2 = soundtrack.renderLoaded(.leg2, from: start, count: count, sampleRate: sampleRate)
                    samples = [Int16](repeating: 0, count: count * 2)
                    for index in 0..<count {
                        samples[2 * index] = leg1[index]
                        samples[2 * index + 1] = leg2[index]
                    }
                } else {
                    samples = soundtrack.renderLoadedMix(from: start, count: count, sampleRate: sampleRate)
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
}
