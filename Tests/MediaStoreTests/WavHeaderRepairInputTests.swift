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
        #expect(throws: MediaError.self) {
            try WavHeaderRepair.repair(path: path, fallbackRate: 8000, fallbackChannels: 1)
        }
    }

    /// Before: a sidecar's out-of-range channel count or rate trapped in the UInt16/UInt32 conversions.
    @Test(arguments: [(8000, 0), (8000, 70_000), (-8000, 1), (Int.max, 2)])
    func invalidFallbackFormatForAnEmptyFileIsRefused(rate: Int, channels: Int) throws {
        let path = try self.file([])
        #expect(throws: MediaError.self) {
            try WavHeaderRepair.repair(path: path, fallbackRate: rate, fallbackChannels: channels)
        }
    }

    @Test func validFallbackGivesAnEmptyWav() throws {
        let path = try self.file(Array("RIFF".utf8))
        let result = try WavHeaderRepair.repair(path: path, fallbackRate: 16000, fallbackChannels: 2)
        #expect(result == .init(channels: 2, sampleRate: 16000, frames: 0, truncatedBytes: 0))
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == 44)
    }

    /// FuzzWavHeaderRepair's first finding: 31 channels with a 2-byte frame. Before, the repair
    /// counted 16 frames of 31 channels (992 bytes of audio) in a 77-byte file and reported it so.
    @Test func fuzzFindingFrameSizeThatIsNotTheChannelsSamplesIsRefused() throws {
        let input: [UInt8] = [
            0x52, 0x49, 0x46, 0x46, 0xec, 0x00, 0x00, 0x00, 0x57, 0x41, 0x56, 0x45, 0x66, 0x6d, 0x74, 0x20, 0x10, 0x00,
            0x00, 0x00,
            0x01, 0x00, 0x1f, 0x00, 0x01, 0x00, 0x00, 0x40, 0x80, 0x3e, 0x00, 0x00, 0x02, 0x00, 0x10, 0x00, 0x64, 0x61,
            0x74, 0x61,
            0xc8, 0x00, 0x00, 0x62, 0xff, 0x00, 0x00, 0x4c, 0x99, 0xea, 0xd1, 0x88, 0x08, 0x27, 0xdf, 0xeb, 0x7d, 0x22,
            0x1c, 0x5a,
            0xba, 0x91, 0x58, 0xc9, 0xf6, 0x00, 0x95, 0x37, 0x33, 0x6f, 0xd1, 0x52, 0x49, 0x46, 0x46, 0xf8, 0xa6,
        ]
        let path = try self.file(input)
        #expect(throws: MediaError.self) {
            try WavHeaderRepair.repair(path: path, fallbackRate: 8000, fallbackChannels: 1)
        }
        // The same header with a consistent frame size (31 channels × 2 bytes) repairs.
        var consistent = input
        consistent[32] = 62
        let result = try WavHeaderRepair.repair(
            path: try self.file(consistent),
            fallbackRate: 8000,
            fallbackChannels: 1
        )
        #expect(result.channels == 31 && result.frames == 0 && result.truncatedBytes == 33)
    }

    @Test func exorecsOwnFormatsRepair() throws {
        for (channels, rate) in [(UInt16(1), UInt32(8000)), (2, 24000)] {
            let path = try self.file(
                Self.wav(channels: channels, rate: rate, blockAlign: channels * 2, dataBytes: 4 * Int(channels) + 1)
            )
            let result = try WavHeaderRepair.repair(path: path, fallbackRate: 8000, fallbackChannels: 1)
            #expect(result == .init(channels: Int(channels), sampleRate: Int(rate), frames: 2, truncatedBytes: 1))
        }
    }
}
