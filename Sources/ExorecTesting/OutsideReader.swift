import Dispatch
import Foundation

/// Reads a WAV with Python's soundfile, a reader exorec did not write.
public enum OutsideReader {
    public struct WavSummary: Sendable, Hashable {
        public var sampleRate: Int
        public var channels: Int
        public var frames: Int
        /// SHA-256 of the interleaved int16 samples as soundfile decodes them.
        public var samplesSHA256: String
    }

    public static func soundfile(_ path: String) async throws -> WavSummary {
        let script = """
            import sys, hashlib, soundfile as sf
            data, rate = sf.read(sys.argv[1], dtype='int16', always_2d=True)
            print(rate, data.shape[1], data.shape[0], hashlib.sha256(data.tobytes()).hexdigest())
            """
        let output = try await run(["python3", "-c", script, path])
        let parts = output.split(separator: " ")
        guard parts.count == 4, let rate = Int(parts[0]), let channels = Int(parts[1]), let frames = Int(parts[2]) else {
            throw TestFailure("soundfile could not read \(path): \(output)")
        }
        return WavSummary(sampleRate: rate, channels: channels, frames: frames, samplesSHA256: String(parts[3]).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// What soundfile (libsndfile under Python) says a file is.
    public struct AudioInfo: Sendable, Hashable {
        /// `WAV`, `FLAC`, `OGG`, `MP3`, …
        public var format: String
        /// `PCM_16`, `VORBIS`, `MPEG_LAYER_III`, …
        public var subtype: String
        public var sampleRate: Int
        public var channels: Int
        public var frames: Int
    }

    /// Opens any audio file with Python's soundfile and decodes it to the end.
    public static func soundfileInfo(_ path: String) async throws -> AudioInfo {
        let script = """
            import sys, soundfile as sf
            info = sf.info(sys.argv[1])
            data, rate = sf.read(sys.argv[1], dtype='int16', always_2d=True)
            print(info.format, info.subtype, rate, data.shape[1], data.shape[0])
            """
        let output = try await run(["python3", "-c", script, path])
        let parts = output.split(whereSeparator: \.isWhitespace)
        guard parts.count == 5, let rate = Int(parts[2]), let channels = Int(parts[3]), let frames = Int(parts[4]) else {
            throw TestFailure("soundfile could not read \(path): \(output)")
        }
        return AudioInfo(format: String(parts[0]), subtype: String(parts[1]), sampleRate: rate, channels: channels, frames: frames)
    }

    /// Validates a BagIt bag with the Python `bagit` package (checksums of every manifest, Payload-Oxum,
    /// completeness): nil when it is valid, the package's complaint otherwise.
    public static func bagitProblem(_ path: String) async throws -> String? {
        let script = """
            import sys, bagit
            try:
                bagit.Bag(sys.argv[1]).validate()
                print("valid")
            except bagit.BagError as error:
                print("invalid:", error)
            """
        let output = try await run(["python3", "-c", script, path]).trimmingCharacters(in: .whitespacesAndNewlines)
        return output == "valid" ? nil : output
    }

    /// Runs a command and returns its standard output (standard error is appended on failure).
    ///
    /// The wait happens on a Dispatch thread: a test that blocked one of the cooperative pool's threads
    /// (two on a two-core machine) for a Python start-up would stall every other test in the process.
    public static func run(_ arguments: [String]) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try runBlocking(arguments) })
            }
        }
    }

    private static func runBlocking(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw TestFailure("\(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(text)\(String(decoding: errors, as: UTF8.self))")
        }
        return text
    }
}
