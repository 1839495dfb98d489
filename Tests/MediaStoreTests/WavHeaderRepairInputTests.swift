import ExorecTesting
import Foundation
import Testing
@testable import MediaStore

/// WAV header repair reads a file a crash left behind; whatever its bytes, the repair either makes
/// a WAV that describes real audio or refuses with a clear error (found by FuzzWavHeaderRepair).
@Suite struct WavHeaderRepairInputTests {
    private func file(_ bytes: [UInt8]) throws -> String {
        let path = makeTemporaryDirectory() + "/input.wav"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    private static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xff) } }
    private static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }

    /// A 44-byte header with the given format fields, then `dataBytes` bytes of audio.
    private static func wav(channels: UInt16, rate: UInt32, blockAlign: UInt16, dataBytes: Int) -> [UInt8] {
        var h = Array("RIFF".utf8) + le32(UInt32(36 + dataBytes)) + Array("WAVEfmt ".utf8) + le32(16)
        h += le16(1) + le16(channels) + le32(rate) + le32(rate * UInt32(blockAlign)) + le16(blockAlign) + le16(16)
        return h + Array("data".utf8) + le32(UInt32(dataBytes)) + [UInt8](repeating: 7, count: dataBytes)
    }

    /// Before: "repaired" into a sidecar with 0 channels (or a 0 Hz rate).
    @Test(arguments: [(UInt16(0), UInt32(8000)), (UInt16(1), UInt32(0))])
    func formatWithoutChannelsOrRateIsRefused(channels: UInt16, rate: UInt32) throws {
        let path = try self.file(Self.wav(channels: channels, rate: rate, blockAlign: 2, dataBytes: 100))
        #expect(throws: MediaError.self) { try WavHeaderRepair.repair(path: path, fallbackRate: 8000, fallbackChannels: 1) }
    }

    /// Before: a sidecar's out-of-range channel count or rate trapped in the UInt16/UInt32 conversions.
    @Test(arguments: [(8000, 0), (8000, 70_000), (-8000, 1), (Int.max, 2)])
    func invalidFallbackFormatForAnEmptyFileIsRefused(rate: Int, channels: Int) throws {
        let path = try self.file([])
        #expect(throws: MediaError.self) { try WavHeaderRepair.repair(path: path, fallbackRate: rate, fallbackChannels: channels) }
    }

    @Test func validFallbackGivesAnEmptyWav() throws {
        let path = try self.file(Array("RIFF".utf8))
        let result = try WavHeaderRepair.repair(path: path, fallbackRate: 16000, fallbackChannels: 2)
        #expect(result == .init(channels: 2, sampleRate: 16000, frames: 0, truncatedBytes: 0))
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == 44)
    }
}
