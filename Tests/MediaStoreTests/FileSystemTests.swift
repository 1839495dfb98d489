import ExorecTesting
import Foundation
import Glibc
import MediaStore
import Testing

@Suite struct FileSystemTests {
    /// Entry names of every length, up to the 255 bytes a name may have, are read whole and in place.
    @Test func filesAreListedByTheirWholeNames() throws {
        let directory = makeTemporaryDirectory("file-system-names")
        let names =
            [1, 2, 7, 8, 15, 16, 100, 250].map { String(repeating: "n", count: $0) + ".wav" }
            + [String(repeating: "x", count: 251) + ".wav"]
        for name in names { try Data().write(to: URL(fileURLWithPath: "\(directory)/\(name)")) }
        try FileManager.default.createDirectory(atPath: "\(directory)/sub", withIntermediateDirectories: false)
        try Data().write(to: URL(fileURLWithPath: "\(directory)/sub/inner.wav"))
        let found = FileSystem.files(under: directory, withSuffix: ".wav")
        #expect(found == (names.map { "\(directory)/\($0)" } + ["\(directory)/sub/inner.wav"]).sorted())
    }
}
