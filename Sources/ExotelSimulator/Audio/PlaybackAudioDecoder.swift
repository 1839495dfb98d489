import Foundation
import MediaStore

/// Why fetched prompt audio was not played.
public enum PlaybackAudioError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The platform plays WAV only (exotel-platform.md §2, `WaitUrl`).
    case notWAV(firstBytes: String)
    case unreadable(reason: String)
    case empty

    public var description: String {
        switch self {
        case .notWAV(let firstBytes): "not a WAV file (the platform plays WAV only); it starts with \(firstBytes)"
        case .unreadable(let reason): "a WAV file libsndfile cannot read: \(reason)"
        case .empty: "a WAV file with no audio"
        }
    }
}

/// Turns the bytes behind a `WaitUrl` / `StartPlaybackValueNew` into mono audio, as the platform
/// would before playing them: WAV only (any encoding libsndfile reads: PCM, µ-law, A-law, float),
/// channels averaged into one.
enum PlaybackAudioDecoder {
    static func decode(_ bytes: [UInt8]) throws(PlaybackAudioError) -> AudioClip {
        guard Self.isWAV(bytes) else {
            let shown = bytes.prefix(4).map { $0 >= 0x20 && $0 < 0x7f ? String(UnicodeScalar($0)) : "." }.joined()
            throw .notWAV(firstBytes: "\"\(shown)\"")
        }
        // libsndfile reads from a path: a private temporary file, removed at once.
        let path = NSTemporaryDirectory() + "exorec-prompt-\(UInt64.random(in: .min ... .max)).wav"
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw .unreadable(reason: "cannot write a temporary copy")
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file: SoundFile
        do {
            file = try SoundFile.open(readingFrom: path)
        } catch {
            throw .unreadable(reason: "\(error)")
        }
        defer { try? file.close() }
        let interleaved = file.readAll()
        let channels = max(file.info.channels, 1)
        guard interleaved.count >= channels else { throw .empty }
        guard channels > 1 else { return AudioClip(samples: interleaved, sampleRate: file.info.sampleRate) }
        var mono = [Int16](repeating: 0, count: interleaved.count / channels)
        for frame in mono.indices {
            var sum = 0
            for channel in 0..<channels { sum += Int(interleaved[frame * channels + channel]) }
            mono[frame] = Int16(clamping: sum / channels)
        }
        return AudioClip(samples: mono, sampleRate: file.info.sampleRate)
    }

    /// RIFF/WAVE (or RF64/BW64) container magic.
    static func isWAV(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 12 else { return false }
        let container = String(decoding: bytes[0..<4], as: UTF8.self)
        let form = String(decoding: bytes[8..<12], as: UTF8.self)
        return ["RIFF", "RF64", "BW64"].contains(container) && form == "WAVE"
    }
}
