import ExorecTesting
import Foundation
import Testing

/// `exorec hold` and `exorec retention apply` as a user runs them, over an archive `exorec demo` made (5 calls,
/// 3 with a stream and a recording) whose calls are then made 200 days old in the catalog with sqlite3.
@Suite(.timeLimit(.minutes(3)))
struct HoldRetentionCommandTests {
    struct Hold: Decodable {
        var id: Int
        var call_sid: String
        var reason: String
        var placed_by: String
        var released_by: String?
        var release_reason: String?
    }

    struct Report: Decodable {
        struct Deleted: Decodable { var call_sid: String }
        struct Kept: Decodable { var call_sid: String }

        var deleted: [Deleted]
        var held_skipped: [Kept]
        var resumed: [String]
        var files: Int
    }

    struct Plan: Decodable {
        struct Item: Decodable {
            struct Call: Decodable { var call_sid: String }
            var call: Call
            var files: [String]
        }

        var delete: [Item]
        var held: [Report.Kept]
    }

    /// A demo archive whose calls were all placed 200 days ago, and its CallSids (oldest first).
    /// With `catalogURL`, the catalog is then moved there (`catalog migrate`) and the file removed.
    static func oldArchive(catalogURL: String? = nil) async throws -> (storage: String, calls: [String]) {
        let storage = makeTemporaryDirectory()
        let demo = try await ExorecProcess.run(["demo", "--storage", storage, "--speed", "40", "--quiet"])
        #expect(demo.status == 0, "\(demo.errors)")
        let catalog = "\(storage)/catalog.sqlite"
        _ = try Self.sqlite(catalog, "UPDATE calls SET placed_at = placed_at - 200 * 86400000;")
        let calls = try Self.sqlite(catalog, "SELECT call_sid FROM calls ORDER BY placed_at, call_sid;")
            .split(separator: "\n").map(String.init)
        #expect(calls.count == 5)
        if let catalogURL {
            let moved = try await ExorecProcess.run([
                "catalog", "migrate", "--storage", storage, "--to", catalogURL, "-q",
            ])
            #expect(moved.status == 0, "\(moved.errors)")
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: catalog + suffix) }
        }
        return (storage, calls)
    }

    static func sqlite(_ path: String, _ sql: String) throws -> String {
        let process = try ChildProcess(
            executable: "/usr/bin/sqlite3",
            arguments: [path, sql],
            standardError: .nullDevice
        )
        process.waitUntilExit()
        return process.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func mediaFiles(_ storage: String) -> [String] {
        (FileManager.default.enumerator(atPath: "\(storage)/media")?.allObjects as? [String] ?? [])
            .filter { !$0.hasSuffix("/") && $0.contains(".") }
    }

    static func exorec(
        _ arguments: [String],
        _ storage: String,
        catalogURL: String? = nil
    ) async throws -> (status: Int32, output: String, errors: String) {
        try await ExorecProcess.run(
            arguments + ["--storage", storage],
            environment: catalogURL.map { ["EXOREC_CATALOG_URL": $0] } ?? [:]
        )
    }

    /// Holds are placed, refused, listed and released with clear errors and exit codes; a dry run deletes nothing;
    /// `--yes` deletes every old call but the held one, whose files stay; verify and the audit chain pass.
    /// On SQLite and on PostgreSQL (the demo's catalog moved there with `catalog migrate`).
    @Test(arguments: CatalogTestBackend.all) func retentionWithAHeldCall(backend: CatalogTestBackend) async throws {
        switch backend {
        case .sqlite: try await Self.retentionWithAHeldCall(catalogURL: nil)
        case .postgres: try await TestPostgres.withSchema { try await Self.retentionWithAHeldCall(catalogURL: $0) }
        }
    }

    static func retentionWithAHeldCall(catalogURL: String?) async throws {
        let (storage, calls) = try await Self.oldArchive(catalogURL: catalogURL)
        func exorec(
            _ arguments: [String],
            _ storage: String
        ) async throws -> (status: Int32, output: String, errors: String) {
            try await Self.exorec(arguments, storage, catalogURL: catalogURL)
        }
        let heldCall = try #require(calls.first)

        let added = try await exorec(
            ["hold", "add", heldCall, "--reason", "subpoena 118", "--by", "legal", "--json"],
            storage
        )
        #expect(added.status == 0, "\(added.errors)")
        let hold = try JSONDecoder().decode(Hold.self, from: Data(added.output.utf8))
        #expect(hold.call_sid == heldCall && hold.reason == "subpoena 118" && hold.placed_by == "legal")

        let unknown = try await exorec(["hold", "add", "CAnosuchcall", "--reason", "x"], storage)
        #expect(
            unknown.status == 4 && unknown.errors.contains("no call CAnosuchcall in the catalog"),
            "\(unknown.errors)"
        )
        let twice = try await exorec(["hold", "add", heldCall, "--reason", "again"], storage)
        #expect(twice.status == 1 && twice.errors.contains("already on legal hold (subpoena 118)"), "\(twice.errors)")
        let notHeld = try await exorec(["hold", "rm", calls[1], "--reason", "x"], storage)
        #expect(notHeld.status == 4 && notHeld.errors.contains("is not on legal hold"), "\(notHeld.errors)")
        let emptyReason = try await exorec(["hold", "add", heldCall, "--reason", "  "], storage)
        #expect(emptyReason.status == 64 && emptyReason.errors.contains("--reason is empty"))
        let noReason = try await exorec(["hold", "add", heldCall], storage)
        #expect(noReason.status == 64)
        let listed = try await exorec(["hold", "ls"], storage)
        #expect(listed.status == 0 && listed.output.contains(heldCall) && listed.output.contains("subpoena 118"))

        let before = Self.mediaFiles(storage)
        let dry = try await exorec(["retention", "apply", "--older-than", "90d"], storage)
        #expect(dry.status == 0, "\(dry.errors)")
        #expect(dry.output.contains("dry run: would delete 4 calls") && dry.output.contains("Nothing was deleted"))
        #expect(Self.mediaFiles(storage) == before, "a dry run deletes nothing")
        let plan = try JSONDecoder().decode(
            Plan.self,
            from: Data(
                try await exorec(["retention", "apply", "--older-than", "90d", "--json"], storage).output.utf8
            )
        )
        #expect(
            Set(plan.delete.map(\.call.call_sid)) == Set(calls.dropFirst()) && plan.held.map(\.call_sid) == [heldCall]
        )
        #expect(
            try await exorec(["retention", "apply", "--older-than", "300d"], storage).output.contains(
                "would delete 0 calls"
            )
        )

        let applied = try await exorec(["retention", "apply", "--older-than", "90d", "--yes", "--json"], storage)
        #expect(applied.status == 0, "\(applied.errors)")
        let report = try JSONDecoder().decode(Report.self, from: Data(applied.output.utf8))
        #expect(Set(report.deleted.map(\.call_sid)) == Set(calls.dropFirst()))
        #expect(
            report.held_skipped.map(\.call_sid) == [heldCall]
                && report.files == plan.delete.reduce(0) { $0 + $1.files.count }
        )
        let left = Self.mediaFiles(storage)
        #expect(!left.isEmpty && left.allSatisfy { $0.contains("/\(heldCall)/") }, "\(left)")
        #expect(left == before.filter { $0.contains("/\(heldCall)/") })
        if let catalogURL {
            let rows = try await TestPostgres.run(url: catalogURL, ["SELECT COUNT(*) AS n FROM calls"])
            #expect(rows.first?["n"] == "1")
            #expect(!FileManager.default.fileExists(atPath: "\(storage)/catalog.sqlite"), "nothing fell back to a file")
        } else {
            #expect(try Self.sqlite("\(storage)/catalog.sqlite", "SELECT COUNT(*) FROM calls;") == "1")
        }

        let verify = try await exorec(["verify"], storage)
        #expect(verify.status == 0, "\(verify.output)\(verify.errors)")
        let audit = try await exorec(["audit", "verify"], storage)
        #expect(audit.status == 0, "\(audit.output)")
        let trail = try await exorec(["audit", "ls", "--limit", "1000"], storage)
        #expect(trail.output.contains("hold.added") && trail.output.contains("retention.call-deleted"))
        #expect(trail.output.components(separatedBy: "retention.file-deleted").count - 1 == report.files)

        let released = try await exorec(["hold", "rm", heldCall, "--reason", "case closed", "--json"], storage)
        #expect(released.status == 0, "\(released.errors)")
        let all = try JSONDecoder().decode(
            [Hold].self,
            from: Data(try await exorec(["hold", "ls", "--all", "--json"], storage).output.utf8)
        )
        #expect(all.count == 1 && all[0].release_reason == "case closed" && all[0].released_by != nil)
        #expect(try await exorec(["hold", "ls", "--json"], storage).output == "[]\n")
    }

    /// A run killed after three files leaves the call pending: verify says deletion-pending (exit 3); the next
    /// `--yes` finishes it, and the archive and the audit log check out.
    @Test func anInterruptedRetentionRunIsFinishedByTheNext() async throws {
        let (storage, calls) = try await Self.oldArchive()
        let killed = try await Self.exorec(
            ["retention", "apply", "--older-than", "90d", "--yes", "--fault-after-files", "3"],
            storage
        )
        #expect(killed.status == 137, "\(killed.output)\(killed.errors)")
        #expect(
            try Self.sqlite(
                "\(storage)/catalog.sqlite",
                "SELECT COUNT(*) FROM retention_journal WHERE state = 'pending';"
            ) == "1"
        )

        let during = try await Self.exorec(["verify"], storage)
        #expect(
            during.status == 3 && during.output.contains("deletion-pending") && !during.output.contains("missing"),
            "\(during.output)"
        )
        let dry = try await Self.exorec(["retention", "apply", "--older-than", "90d"], storage)
        #expect(dry.output.contains("interrupted deletions to finish"), "\(dry.output)")

        let finished = try await Self.exorec(["retention", "apply", "--older-than", "90d", "--yes", "--json"], storage)
        #expect(finished.status == 0, "\(finished.errors)")
        let report = try JSONDecoder().decode(Report.self, from: Data(finished.output.utf8))
        #expect(report.resumed.count == 1)
        #expect(Set(report.deleted.map(\.call_sid)) == Set(calls), "the rest went too")
        #expect(Self.mediaFiles(storage).isEmpty, "\(Self.mediaFiles(storage))")
        #expect(try Self.sqlite("\(storage)/catalog.sqlite", "SELECT COUNT(*) FROM calls;") == "0")

        let verify = try await Self.exorec(["verify"], storage)
        #expect(verify.status == 0, "\(verify.output)")
        #expect(try await Self.exorec(["audit", "verify"], storage).status == 0)
    }

    /// Bad durations are usage errors that say what is wrong (checked before any catalog is opened).
    @Test(arguments: [
        ("90", "it has no unit; write 90d"), ("0d", "more than zero"), ("6m", "write days, e.g. 180d"),
        ("ninety", "does not start with a number"), ("90x", "unknown unit 'x'"),
    ])
    func badDurationsAreUsageErrors(_ text: String, _ fragment: String) async throws {
        let result = try await ExorecProcess.run([
            "retention", "apply", "--older-than", text, "--storage", makeTemporaryDirectory(),
        ])
        #expect(result.status == 64, "\(result.errors)")
        #expect(
            result.errors.contains("--older-than: '\(text)' is not an age: ") && result.errors.contains(fragment),
            "\(result.errors)"
        )
    }

    @Test func helpShowsExamples() async throws {
        for command in [["hold", "add"], ["hold", "rm"], ["hold", "ls"], ["retention", "apply"]] {
            let help = try await ExorecProcess.run(command + ["--help"])
            #expect(
                help.status == 0 && help.output.contains("EXAMPLES:") && help.output.contains("EXIT CODES:"),
                "\(command)"
            )
        }
        #expect(try await ExorecProcess.run(["retention", "apply"]).status == 64, "--older-than is required")
    }
}
