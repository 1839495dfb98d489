import ExorecTesting
import Glibc
import MediaStore
import Testing

/// `MediaFileCheck`: the existence, size and SHA-256 check that `catalog rebuild` and `archive verify` share.
@Suite struct MediaFileCheckTests {
    /// SHA-256 of the ASCII bytes `abc`.
    static let abcSha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

    private func file(_ content: String) throws -> String {
        let path = "\(makeTemporaryDirectory())/stream-S.wav"
        try FileSystem.writeAtomically(Array(content.utf8), to: path, durable: false)
        return path
    }

    @Test(arguments: [MediaFileCheck.Hashing.never, .always, .whenSizeAgrees])
    func aFileAsTheRecordSaysHasNoFindings(hashing: MediaFileCheck.Hashing) throws {
        let checked = MediaFileCheck.check(try self.file("abc"), bytes: 3, sha256: Self.abcSha, hashing: hashing)
        #expect(checked.findings.isEmpty)
        #expect(checked.hashedBytes == (hashing == .never ? 0 : 3))
    }

    @Test func aMissingFileIsOnlyMissing() {
        let checked = MediaFileCheck.check(
            "\(makeTemporaryDirectory())/gone.wav",
            bytes: 3,
            sha256: Self.abcSha,
            hashing: .always
        )
        #expect(checked.findings == [.missing])
        #expect(checked.isMissing)
        #expect(checked.hashedBytes == 0)
    }

    @Test func aChangedFileOfTheSameSizeDiffersInItsHash() throws {
        let checked = MediaFileCheck.check(
            try self.file("abd"),
            bytes: 3,
            sha256: Self.abcSha,
            hashing: .whenSizeAgrees
        )
        guard case .sha256Differs(let actual, let expected) = checked.findings.first, checked.findings.count == 1 else {
            Issue.record("findings: \(checked.findings)")
            return
        }
        #expect(actual != Self.abcSha && actual.count == 64)
        #expect(expected == Self.abcSha)
        #expect(checked.hashedBytes == 3)
    }

    @Test func aFileOfAnotherSizeIsHashedOnlyWhenAsked() throws {
        let path = try self.file("abcd")
        let rebuild = MediaFileCheck.check(path, bytes: 3, sha256: Self.abcSha, hashing: .always)
        #expect(rebuild.findings.count == 2)
        #expect(rebuild.findings.first == .sizeDiffers(actual: 4, expected: 3))
        if case .sha256Differs = rebuild.findings.last {} else { Issue.record("findings: \(rebuild.findings)") }
        #expect(rebuild.hashedBytes == 4)

        let verify = MediaFileCheck.check(path, bytes: 3, sha256: Self.abcSha, hashing: .whenSizeAgrees)
        #expect(verify.findings == [.sizeDiffers(actual: 4, expected: 3)])
        #expect(verify.hashedBytes == 0)

        let sizeOnly = MediaFileCheck.check(path, bytes: 3, sha256: Self.abcSha, hashing: .never)
        #expect(sizeOnly.findings == [.sizeDiffers(actual: 4, expected: 3)])
    }

    @Test func whatTheRecordDoesNotSayIsNotChecked() throws {
        let path = try self.file("abcd")
        #expect(MediaFileCheck.check(path, bytes: nil, sha256: nil, hashing: .always).findings.isEmpty)
        let hashOnly = MediaFileCheck.check(path, bytes: nil, sha256: Self.abcSha, hashing: .always)
        if case .sha256Differs = hashOnly.findings.first, hashOnly.findings.count == 1 {
        } else {
            Issue.record("findings: \(hashOnly.findings)")
        }
    }

    @Test func anUnreadableFileIsReportedNotThrown() throws {
        // A folder where the file should be: it exists and has a size, but reading it fails (EISDIR), as root too.
        let path = "\(makeTemporaryDirectory())/stream-S.wav"
        #expect(mkdir(path, 0o750) == 0)
        let checked = MediaFileCheck.check(path, bytes: nil, sha256: Self.abcSha, hashing: .always)
        guard case .unreadable(.sha256, _) = checked.findings.first, checked.findings.count == 1 else {
            Issue.record("findings: \(checked.findings)")
            return
        }
        #expect(checked.hashedBytes == 0)
    }
}
