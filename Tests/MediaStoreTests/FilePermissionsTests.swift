import Foundation
import Glibc
import MediaStore
import Testing

/// Files 0640, folders 0750, finished media 0440, the reader group: nothing exorec stores is world-readable.
@Suite(.serialized) struct FilePermissionsTests {
    /// The process umask, read without changing it.
    static var umaskValue: mode_t {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("Umask:") }
        return line.flatMap { mode_t($0.dropFirst("Umask:".count).trimmingCharacters(in: .whitespaces), radix: 8) }
            ?? 0o022
    }

    static func mode(_ path: String) -> mode_t {
        var info = stat()
        guard stat(path, &info) == 0 else { return 0o7777 }
        return info.st_mode & 0o7777
    }

    static func group(_ path: String) -> gid_t {
        var info = stat()
        _ = stat(path, &info)
        return info.st_gid
    }

    @Test func createdFilesAreNotWorldReadable() throws {
        let root = makeTemporaryPath()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let layout = StorageLayout(root: root)
        let directory = "\(root)/media/a/b"
        let reserved = try layout.reserveStreamFile(
            in: directory,
            streamSid: try PathSafeIdentifier("MZ1", field: "stream_sid")
        )
        close(reserved.descriptor)
        try FileSystem.writeAtomically(Array("{}".utf8), to: reserved.sidecarPath, durable: false)

        let mask = Self.umaskValue
        #expect(Self.mode(reserved.wavPath) == 0o640 & ~mask)
        #expect(Self.mode(reserved.sidecarPath) == 0o640 & ~mask)
        for folder in ["\(root)/media", "\(root)/media/a", directory] {
            #expect(Self.mode(folder) == 0o750 & ~mask, "\(folder)")
        }
        try FileSystem.makeReadOnly(reserved.wavPath)
        #expect(Self.mode(reserved.wavPath) == 0o440, "finished media: read-only, not world-readable")
    }

    @Test func aReaderGroupIsGivenToNewFilesAndFolders() throws {
        // A group the process belongs to: a supplementary one when there is one, else its own.
        var groups = [gid_t](repeating: 0, count: 64)
        let count = getgroups(Int32(groups.count), &groups)
        let group = (0..<Int(max(count, 0))).map { groups[$0] }.first { $0 != getegid() } ?? getegid()
        let root = makeTemporaryPath()
        defer {
            FilePermissions.setReaderGroup(nil)
            try? FileManager.default.removeItem(atPath: root)
        }
        FilePermissions.setReaderGroup(group)
        try FileSystem.makeDirectories("\(root)/calls")
        try FileSystem.writeAtomically(Array("{}".utf8), to: "\(root)/calls/call.json", durable: false)
        FilePermissions.setReaderGroup(nil)

        #expect(Self.group("\(root)/calls") == group)
        #expect(Self.mode("\(root)/calls") & S_ISGID != 0, "setgid: files libraries create inside inherit the group")
        #expect(Self.group("\(root)/calls/call.json") == group)
    }

    @Test func groupNamesResolve() {
        #expect(FilePermissions.groupID(named: "0") == 0)
        #expect(FilePermissions.groupID(named: "root") == 0)
        #expect(FilePermissions.groupID(named: "no-such-group-exorec") == nil)
    }

    private func makeTemporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("exorec-modes-\(UUID().uuidString)").path
    }
}
