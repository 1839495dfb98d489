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
        guard parts.count == 4, let rate = Int(parts[0]), let channels = Int(parts[1]), let frames = Int(parts[2])
        else {
            throw TestFailure("soundfile could not read \(path): \(output)")
        }
        return WavSummary(
            sampleRate: rate,
            channels: channels,
            frames: frames,
            samplesSHA256: String(parts[3]).trimmingCharacters(in: .whitespacesAndNewlines)
        )
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
        guard parts.count == 5, let rate = Int(parts[2]), let channels = Int(parts[3]), let frames = Int(parts[4])
        else {
            throw TestFailure("soundfile could not read \(path): \(output)")
        }
        return AudioInfo(
            format: String(parts[0]),
            subtype: String(parts[1]),
            sampleRate: rate,
            channels: channels,
            frames: frames
        )
    }

    /// G.711 bytes expanded to 16-bit samples by Python's `audioop` (`ulaw2lin` / `alaw2lin`), a decoder exorec
    /// did not write. `law` is `ulaw` or `alaw`. (audioop is deprecated since Python 3.11, removed in 3.13: the
    /// warning is silenced, and a Python without it fails the caller's test with its error.)
    public static func g711Expanded(_ bytes: [UInt8], law: String) async throws -> [Int16] {
        let script = """
            import sys, warnings
            warnings.simplefilter("ignore", DeprecationWarning)
            import audioop
            data = bytes.fromhex(sys.argv[2])
            print((audioop.ulaw2lin if sys.argv[1] == "ulaw" else audioop.alaw2lin)(data, 2).hex())
            """
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let output = try await run(["python3", "-c", script, law, hex]).trimmingCharacters(in: .whitespacesAndNewlines)
        let raw = Array(output.utf8)
        guard raw.count == bytes.count * 4 else {
            throw TestFailure("audioop gave \(raw.count / 2) bytes for \(bytes.count) samples: \(output.prefix(200))")
        }
        func nibble(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : c - 87 }
        return stride(from: 0, to: raw.count, by: 4).map { i in
            let low = nibble(raw[i]) << 4 | nibble(raw[i + 1])
            let high = nibble(raw[i + 2]) << 4 | nibble(raw[i + 3])
            return Int16(bitPattern: UInt16(high) << 8 | UInt16(low))
        }
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
    /// The wait polls: a test that blocked one of the cooperative pool's threads (two on a two-core
    /// machine) for a Python start-up would stall every other test in the process.
    public static func run(_ arguments: [String]) async throws -> String {
        let child = try ChildProcess(executable: "/usr/bin/env", arguments: arguments)
        let status = try await child.waitForExit(timeout: .seconds(600))
        let text = child.standardOutput
        guard status == 0 else {
            throw TestFailure("\(arguments.joined(separator: " ")) exited \(status): \(text)\(child.standardError)")
        }
        return text
    }
}
