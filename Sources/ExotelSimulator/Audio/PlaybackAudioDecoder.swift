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
        do {
            let (samples, sampleRate) = try AudioProbe.monoSamples(of: bytes)
            return AudioClip(samples: samples, sampleRate: sampleRate)
        } catch {
            switch error {
            case .notWAV(let firstBytes): throw .notWAV(firstBytes: firstBytes)
            case .unreadable(let reason): throw .unreadable(reason: reason)
            case .empty: throw .empty
            }
        }
    }
}
