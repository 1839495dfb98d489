import Foundation
import MediaStore
import Synchronization

/// Waveform peaks of a media file, per channel: for each of ``buckets`` equal slices of the file, the
/// largest absolute sample (0…1). Computed once per final file and cached twice: in memory, and as JSON in
/// `STORAGE/cache/console-peaks/SHA256.json`.
///
/// The cache is outside `media/` on purpose: `exorec verify` reports every file under `media/` the catalog
/// does not know as unexpected, and the peaks are derived data (deleting the folder only costs a
/// recomputation). Keyed by the file's SHA-256, so a repaired or replaced file never shows stale peaks. Not a
/// catalog table: the peaks are large, per file, and cheap to recompute on any node that can read the file.
/// A growing stream's peaks are computed on each request and never cached.
final class WaveformPeaks: Sendable {
    static let buckets = 800
    /// Files longer than this many frames are not read for peaks (about 4 hours at 8 kHz).
    static let maxFrames: Int64 = 8000 * 3600 * 4

    struct Peaks: Codable, Sendable {
        var channels: [[Double]]
        var frames: Int64
        var sampleRate: Int

        enum CodingKeys: String, CodingKey {
            case channels, frames
            case sampleRate = "sample_rate"
        }
    }

    private let folder: String
    private let memory = Mutex<[String: Peaks]>([:])

    init(storageRoot: String) {
        self.folder = storageRoot + "/cache/console-peaks"
    }

    func peaks(path: String, sha256: String?) -> Peaks? {
        if let sha256, Self.isHex(sha256) {
            if let cached = self.memory.withLock({ $0[sha256] }) { return cached }
            let file = "\(self.folder)/\(sha256).json"
            if let bytes = try? FileSystem.read(file, limit: 1 << 20),
                let peaks = try? JSONDecoder().decode(Peaks.self, from: Data(bytes))
            {
                self.remember(sha256, peaks)
                return peaks
            }
            guard let peaks = Self.compute(path: path) else { return nil }
            if let data = try? JSONEncoder().encode(peaks) {
                try? FileSystem.makeDirectories(self.folder)
                try? FileSystem.writeAtomically(Array(data), to: file, durable: false)
            }
            self.remember(sha256, peaks)
            return peaks
        }
        return Self.compute(path: path)
    }

    private func remember(_ key: String, _ peaks: Peaks) {
        self.memory.withLock {
            if $0.count >= 512 { $0.removeAll() }
            $0[key] = peaks
        }
    }

    static func isHex(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    static func compute(path: String) -> Peaks? {
        guard let file = try? SoundFile.open(readingFrom: path) else { return nil }
        defer { try? file.close() }
        let info = file.info
        guard (1...2).contains(info.channels), info.frames > 0, info.frames <= maxFrames else { return nil }
        let channels = info.channels
        let perBucket = max(1, Double(info.frames) / Double(buckets))
        var peaks = [[Double]](repeating: [Double](repeating: 0, count: buckets), count: channels)
        var buffer = [Int16](repeating: 0, count: 4096 * channels)
        var frame: Int64 = 0
        while true {
            let got = buffer.withUnsafeMutableBufferPointer { file.read(into: $0) }
            if got <= 0 { break }
            var index = 0
            while index + channels <= got {
                let bucket = min(buckets - 1, Int(Double(frame) / perBucket))
                for channel in 0..<channels {
                    let value = Double(abs(Int32(buffer[index + channel]))) / 32768
                    if value > peaks[channel][bucket] { peaks[channel][bucket] = value }
                }
                index += channels
                frame += 1
            }
            if frame >= info.frames { break }
        }
        let rounded = peaks.map { $0.map { ($0 * 1000).rounded() / 1000 } }
        return Peaks(channels: rounded, frames: info.frames, sampleRate: info.sampleRate)
    }
}
