import ExorecTesting
import Foundation
import Testing

/// `exorec export` as a user runs it, on the archive `exorec demo` leaves behind (5 calls: 3 completed with a
/// mono stream and an mp3 recording each, one busy, one no-answer). Bags are validated by Python's `bagit` and
/// audio opened by Python's soundfile.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ExportCommandTests {
    struct Report: Decodable {
        struct Problem: Decodable {
            var kind: String
            var path: String
        }

        var calls: Int
        var selected: Int
        var exported: Int
        var resumed: Int
        var payload_files: Int
        var problems: [Problem]
        var audit_seq: Int
    }

    /// One demo run shared by the tests (it takes a few seconds).
    static let storage: Task<String, any Error> = Task {
        let storage = makeTemporaryDirectory()
        let demo = try await ExorecProcess.run(["demo", "--storage", storage, "--speed", "40", "--quiet"])
        guard demo.status == 0 else { throw TestFailure("demo failed: \(demo.errors)") }
        return storage
    }

    func export(
        _ arguments: [String],
        storage: String? = nil
    ) async throws -> (status: Int32, output: String, errors: String) {
        let root = if let storage { storage } else { try await Self.storage.value }
        return try await ExorecProcess.run(["export"] + arguments + ["--storage", root])
    }

    static func audio(under root: String) -> [String] {
        let names = FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []
        return names.filter { [".wav", ".flac", ".mp3", ".ogg"].contains(where: $0.hasSuffix) }.sorted()
    }

    @Test func aBagOfFlacLegsValidatesWithPythonBagitAndEveryFileOpens() async throws {
        let destination = "\(makeTemporaryDirectory())/bag"
        let result = try await self.export([destination, "--bag", "--format", "flac", "--split-legs", "--json"])
        #expect(result.status == 0, "\(result.output)\(result.errors)")
        let report = try JSONDecoder().decode(Report.self, from: Data(result.output.utf8))
        #expect(report.calls == 5 && report.selected == 6 && report.exported == 6 && report.problems.isEmpty)
        #expect(!result.errors.contains("files,"), "no progress bar without a terminal")

        #expect(try await OutsideReader.bagitProblem(destination) == nil)
        let audio = Self.audio(under: "\(destination)/data")
        #expect(audio.count >= 6)
        for file in audio {
            let info = try await OutsideReader.soundfileInfo("\(destination)/data/\(file)")
            #expect(info.format == "FLAC" && info.channels == 1 && info.sampleRate == 8000, "\(file): \(info)")
            #expect(info.frames > 0)
        }
        // A dual recording became two legs of the same length.
        if let leg1 = audio.first(where: { $0.hasSuffix("-leg1.flac") }) {
            let leg2 = leg1.replacingOccurrences(of: "-leg1.flac", with: "-leg2.flac")
            #expect(audio.contains(leg2))
            #expect(
                try await OutsideReader.soundfileInfo("\(destination)/data/\(leg1)").frames
                    == (try await OutsideReader.soundfileInfo("\(destination)/data/\(leg2)").frames)
            )
        }
    }

    @Test func filtersAndFormatsAsTheCatalogCommandsSelect() async throws {
        let destination = "\(makeTemporaryDirectory())/recordings"
        let result = try await self.export([
            destination, "--status", "completed", "--kind", "recording", "--format", "mp3",
        ])
        #expect(result.status == 0, "\(result.output)\(result.errors)")
        #expect(result.output.contains("3 call(s), 3 of 3 file(s) exported"), "\(result.output)")
        let audio = Self.audio(under: destination)
        #expect(audio.count == 3 && audio.allSatisfy { $0.hasSuffix("/recording.mp3") })
        for file in audio {
            let info = try await OutsideReader.soundfileInfo("\(destination)/\(file)")
            #expect(info.format == "MP3" && info.sampleRate == 8000)
        }
        let top = try FileManager.default.contentsOfDirectory(atPath: destination)
        #expect(top.count == 4 && top.contains("export.json") && !top.contains("bagit.txt"))
    }

    /// An export takes every matching call unless --limit is given; a given limit that stops the selection
    /// says so on standard error.
    @Test func everyMatchingCallUnlessLimited() async throws {
        let all = try await self.export(["\(makeTemporaryDirectory())/all", "--quiet"])
        #expect(all.status == 0 && all.output.contains("5 call(s)"), "\(all.output)\(all.errors)")
        #expect(!all.errors.contains("--limit"))
        let two = try await self.export(["\(makeTemporaryDirectory())/two", "--quiet", "--limit", "2"])
        #expect(two.status == 0 && two.output.contains("2 call(s)"), "\(two.output)\(two.errors)")
        #expect(two.errors.contains("stopped at --limit 2 calls"))
    }

    @Test func refusesToOverwriteAndKeepsItsExitCodes() async throws {
        let destination = "\(makeTemporaryDirectory())/once"
        #expect(try await self.export([destination, "--quiet"]).status == 0)
        let again = try await self.export([destination])
        #expect(again.status == 1)
        #expect(again.errors.contains("never overwrites"), "\(again.errors)")

        let nowhere = "\(makeTemporaryDirectory())/none"
        let none = try await self.export([nowhere, "--custom-field", "no-such-field", "--json"])
        #expect(none.status == 4, "\(none.errors)")
        #expect(none.errors.contains("no calls matched"))
        #expect(!FileManager.default.fileExists(atPath: nowhere))

        #expect(try await self.export([nowhere, "--format", "aiff"]).status == 64)
        #expect(try await self.export([nowhere, "--split-legs"]).status == 64, "splitting needs an encoding format")
        #expect(try await self.export([nowhere, "--description", "x"]).status == 64, "a bag description without --bag")
        #expect(try await self.export([nowhere, "--jsonl"]).status == 64)
        let typo = try await ExorecProcess.run(["export", nowhere, "--storage", "\(makeTemporaryDirectory())/typo"])
        #expect(typo.status == 1 && typo.errors.contains("no catalog"))

        let help = try await ExorecProcess.run(["export", "--help"])
        #expect(
            help.output.contains("EXAMPLES:") && help.output.contains("--split-legs")
                && help.output.contains("EXIT CODES")
        )
    }

    /// A killed export process (no unwinding, its lock dropped by the kernel) is finished by running the
    /// same command again, and the result is the bag a run that was never killed writes.
    @Test func aKilledExportIsFinishedByTheSameCommandAndMatchesAnUninterruptedOne() async throws {
        let destination = "\(makeTemporaryDirectory())/killed"
        let arguments = [destination, "--bag", "--format", "flac", "--split-legs", "--quiet"]
        let killed = try await self.export(arguments + ["--fault-after-files", "2"])
        #expect(killed.status == 137, "\(killed.output)\(killed.errors)")
        #expect(FileManager.default.fileExists(atPath: "\(destination)/.exorec-export-journal.json"))
        #expect(
            !FileManager.default.fileExists(atPath: "\(destination)/bagit.txt"),
            "a partial bag does not look like a bag"
        )

        let resumed = try await self.export(arguments + ["--json"])
        #expect(resumed.status == 0, "\(resumed.output)\(resumed.errors)")
        let report = try JSONDecoder().decode(Report.self, from: Data(resumed.output.utf8))
        #expect(report.resumed == 2 && report.exported == 6 && report.problems.isEmpty, "\(resumed.output)")
        #expect(try await OutsideReader.bagitProblem(destination) == nil)
        #expect(!FileManager.default.fileExists(atPath: "\(destination)/.exorec-export-journal.json"))

        let clean = "\(makeTemporaryDirectory())/clean"
        #expect(try await self.export([clean, "--bag", "--format", "flac", "--split-legs", "--quiet"]).status == 0)
        // Every payload file is the same, byte for byte; export.json differs only in its start time.
        let manifest = { (bag: String) in
            try String(contentsOfFile: "\(bag)/manifest-sha256.txt", encoding: .utf8).split(separator: "\n").filter {
                !$0.hasSuffix(" data/export.json")
            }
        }
        #expect(try manifest(destination) == (try manifest(clean)))
        #expect(try manifest(clean).count == 13)
        let withoutStart = { (bag: String) in
            try String(contentsOfFile: "\(bag)/data/export.json", encoding: .utf8).split(separator: "\n").filter {
                !$0.contains("\"started_at\"")
            }
        }
        #expect(try withoutStart(destination) == (try withoutStart(clean)))
    }

    @Test func aTamperedSourceExitsThreeIsNotExportedAndIsAudited() async throws {
        let copy = "\(makeTemporaryDirectory())/storage"
        let cp = try await OutsideReader.run(["cp", "-a", try await Self.storage.value, copy])
        #expect(cp.isEmpty)
        let mp3 = try #require(Self.audio(under: "\(copy)/media").first { $0.hasSuffix("recording.mp3") })
        let path = "\(copy)/media/\(mp3)"
        #expect(chmod(path, 0o644) == 0)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count / 2] ^= 0x5a
        try bytes.write(to: URL(fileURLWithPath: path))

        let destination = "\(makeTemporaryDirectory())/damaged"
        let result = try await self.export([destination, "--bag", "--json"], storage: copy)
        #expect(result.status == 3, "\(result.output)\(result.errors)")
        let report = try JSONDecoder().decode(Report.self, from: Data(result.output.utf8))
        #expect(report.problems.map(\.kind) == ["changed"])
        #expect(report.problems.first?.path == "media/\(mp3)")
        #expect(report.exported == 5)
        #expect(try await OutsideReader.bagitProblem(destination) == nil, "the rest is a valid bag")

        let audit = try await ExorecProcess.run(["audit", "ls", "--storage", copy, "--json"])
        #expect(audit.status == 0, "\(audit.errors)")
        #expect(audit.output.contains("export.problem") && audit.output.contains("export.completed"))
        #expect(try await ExorecProcess.run(["audit", "verify", "--storage", copy]).status == 0)
    }
}
