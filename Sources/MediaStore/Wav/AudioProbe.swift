import FoundationEssentials

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What an audio file in memory is, as libsndfile reads it: used to check prompt audio (the
/// platform plays WAV only) before a call is placed.
public enum AudioProbe {
    /// Why bytes are not usable WAV audio.
    public enum Problem: Error, Sendable, Hashable, CustomStringConvertible {
        case notWAV(firstBytes: String)
        case unreadable(reason: String)
        case empty

        public var description: String {
            switch self {
            case .notWAV(let firstBytes): "not a WAV file (it starts with \(firstBytes))"
            case .unreadable(let reason): "a WAV file libsndfile cannot read: \(reason)"
            case .empty: "a WAV file with no audio"
            }
        }
    }

    /// RIFF/WAVE (or RF64/BW64) container magic.
    public static func hasWAVMagic(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 12 else { return false }
        let container = String(decoding: bytes[0..<4], as: UTF8.self)
        return ["RIFF", "RF64", "BW64"].contains(container) && String(decoding: bytes[8..<12], as: UTF8.self) == "WAVE"
    }

    /// The rate, channels and length of WAV bytes, read by libsndfile (so any encoding it reads is fine).
    public static func wavInfo(of bytes: [UInt8]) throws(Problem) -> SoundFile.Info {
        try self.withWAVFile(bytes) { file throws(Problem) in
            guard file.info.frames > 0 else { throw .empty }
            return file.info
        }
    }

    /// WAV bytes decoded to mono 16-bit samples (channels averaged) and their rate.
    public static func monoSamples(of bytes: [UInt8]) throws(Problem) -> (samples: [Int16], sampleRate: Int) {
        try self.withWAVFile(bytes) { file throws(Problem) in
            let interleaved = file.readAll()
            let channels = max(file.info.channels, 1)
            guard interleaved.count >= channels else { throw .empty }
            guard channels > 1 else { return (interleaved, file.info.sampleRate) }
            var mono = [Int16](repeating: 0, count: interleaved.count / channels)
            for frame in mono.indices {
                var sum = 0
                for channel in 0..<channels { sum += Int(interleaved[frame * channels + channel]) }
                mono[frame] = Int16(clamping: sum / channels)
            }
            return (mono, file.info.sampleRate)
        }
    }

    /// Checks the WAV magic, then opens the bytes with libsndfile (which reads from a path: a private
    /// temporary file, removed at once).
    private static func withWAVFile<T>(_ bytes: [UInt8], _ body: (SoundFile) throws(Problem) -> T) throws(Problem) -> T
    {
        guard self.hasWAVMagic(bytes) else {
            let shown = bytes.prefix(4).map { $0 >= 0x20 && $0 < 0x7f ? String(UnicodeScalar($0)) : "." }.joined()
            throw .notWAV(firstBytes: "\"\(shown)\"")
        }
        let directory = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        let path = "\(directory)/exorec-probe-\(UInt64.random(in: .min ... .max)).wav"
        let descriptor = open(path, O_CREAT | O_EXCL | O_WRONLY, 0o600)
        guard descriptor >= 0 else { throw .unreadable(reason: "cannot write a temporary copy (errno \(errno))") }
        defer { unlink(path) }
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        guard written == bytes.count else { throw .unreadable(reason: "cannot write a temporary copy") }
        let file: SoundFile
        do {
            file = try SoundFile.open(readingFrom: path)
        } catch {
            throw .unreadable(reason: "\(error)")
        }
        defer { try? file.close() }
        return try body(file)
    }
}
