import ExorecTesting
import Foundation
import Testing

/// Whether this binary has `exorec audit verify` (the integrator registers it in `Exorec.swift`).

/// `exorec verify` and `exorec audit verify` as a user runs them, over an archive `exorec demo` made.
@Suite(.timeLimit(.minutes(3)))
struct VerifyCommandTests {
    struct Report: Decodable {
        struct Problem: Decodable {
            var kind: String
            var path: String
        }

        var selected: Int
        var ok: Int
        var problems: [Problem]
    }

    static func sqlite(_ path: String, _ sql: String) throws -> Int32 {
        try ChildProcess(
            executable: "/usr/bin/sqlite3",
            arguments: [path, sql],
            standardOutput: .nullDevice,
            standardError: .nullDevice
        ).waitUntilExit()
    }

    @Test func verifyFindsATamperedAndADeletedFileAndAuditVerifyADeletedEntry() async throws {
        let storage = makeTemporaryDirectory()
        let demo = try await ExorecProcess.run(["demo", "--storage", storage, "--speed", "40", "--json"])
        #expect(demo.status == 0, "\(demo.errors)")

        let clean = try await ExorecProcess.run(["verify", "--storage", storage, "--json"])
        #expect(clean.status == 0, "\(clean.output)\(clean.errors)")
        let first = try JSONDecoder().decode(Report.self, from: Data(clean.output.utf8))
        #expect(first.problems.isEmpty)
        #expect(first.selected >= 4 && first.ok == first.selected)
        #expect(!clean.errors.contains("files,"), "no progress bar without a terminal")

        let media = FileManager.default.enumerator(atPath: "\(storage)/media")?.allObjects as? [String] ?? []
        let mp3 = try #require(media.first { $0.hasSuffix("recording.mp3") })
        let wav = try #require(media.first { $0.hasSuffix(".wav") })
        let mp3Path = "\(storage)/media/\(mp3)"
        #expect(chmod(mp3Path, 0o644) == 0)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: mp3Path))
        bytes[bytes.count / 2] ^= 0x5a
        try bytes.write(to: URL(fileURLWithPath: mp3Path))
        try FileManager.default.removeItem(atPath: "\(storage)/media/\(wav)")

        let damaged = try await ExorecProcess.run(["verify", "--storage", storage])
        #expect(damaged.status == 3, "\(damaged.output)\(damaged.errors)")
        #expect(damaged.output.contains("changed") && damaged.output.contains("media/\(mp3)"))
        #expect(damaged.output.contains("missing") && damaged.output.contains("media/\(wav)"))
        #expect(damaged.output.contains("1 missing, 1 changed"))

        let usage = try await ExorecProcess.run(["verify", "--storage", storage, "--kind", "video"])
        #expect(usage.status == 64)
        let nowhere = "\(makeTemporaryDirectory())/typo"
        let noCatalog = try await ExorecProcess.run(["verify", "--storage", nowhere])
        #expect(noCatalog.status == 1, "a root without a catalog is an error, not a clean archive")
        #expect(noCatalog.errors.contains("no catalog"))
        #expect(!FileManager.default.fileExists(atPath: "\(nowhere)/catalog.sqlite"))
        #expect(try await ExorecProcess.run(["audit", "verify", "--storage", nowhere]).status == 1)

        let intact = try await ExorecProcess.run(["audit", "verify", "--storage", storage])
        #expect(intact.status == 0, "\(intact.output)\(intact.errors)")
        let headLine = try #require(intact.output.split(separator: "\n").first { $0.hasPrefix("head: ") })
        let anchor = String(headLine.dropFirst("head: ".count))
        let seq = try #require(Int(anchor.split(separator: ":")[0]))
        #expect(try await ExorecProcess.run(["audit", "verify", "--storage", storage, "--anchor", anchor]).status == 0)
        #expect(
            try await ExorecProcess.run(["audit", "verify", "--storage", storage, "--anchor", "12:xyz"]).status == 64
        )

        #expect(
            try Self.sqlite(
                "\(storage)/catalog.sqlite",
                "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = \(seq - 1);"
            ) == 0
        )
        let broken = try await ExorecProcess.run(["audit", "verify", "--storage", storage])
        #expect(broken.status == 3, "\(broken.output)\(broken.errors)")
        #expect(broken.output.contains("sequence-gap at seq \(seq)"))

        let listed = try await ExorecProcess.run(["audit", "ls", "--storage", storage, "--path", "media/\(mp3)"])
        #expect(listed.status == 0)
        #expect(listed.output.contains("archive.problem"))
    }
}
