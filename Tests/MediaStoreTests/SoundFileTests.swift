import ExorecTesting
import Foundation
import Glibc
import MediaStore
import Testing

@Suite struct SoundFileTests {
    /// The fast header refresh must produce the very header libsndfile writes when it closes
    /// the file, so a reader of a growing file sees the same thing a reader of a finished one does.
    @Test(arguments: [1, 2])
    func refreshedHeaderMatchesTheOneLibsndfileWritesAtClose(channels: Int) throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/growing.wav"
        let fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0o644)
        try #require(fd >= 0)
        let file = try SoundFile.create(
            path: path,
            descriptor: fd,
            format: .wav16,
            sampleRate: 8000,
            channels: channels
        )
        let samples = (0..<(1600 * channels)).map { Int16(truncatingIfNeeded: $0 &* 37) }
        try samples.withUnsafeBufferPointer { try file.write($0) }
        try samples.withUnsafeBufferPointer { try file.write($0) }

        file.updateHeader()
        let refreshed = try header(of: path)
        let growing = try SoundFile.open(readingFrom: path)
        #expect(growing.info.frames == 3200, "a reader of the growing file sees every frame written")
        #expect(growing.info.channels == channels)
        try growing.close()

        try file.close()
        let final = try header(of: path)
        #expect(refreshed == final)
        #expect(refreshed.count == 44)
    }

    private func header(of path: String) throws -> [UInt8] {
        Array(try #require(FileManager.default.contents(atPath: path)).prefix(44))
    }
}
