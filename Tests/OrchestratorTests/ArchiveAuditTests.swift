import Catalog
import ExorecTesting
import Foundation
import Glibc
import MediaStore
import Orchestrator
import Testing

/// The audit side of proving the archive: a verify's entries, and what `exorec audit verify` prints
/// (``AuditChainText``) when an entry was deleted or edited behind exorec's back.
@Suite(.timeLimit(.minutes(2))) struct ArchiveAuditTests {
    /// Runs SQL on the catalog file with the `sqlite3` shell, as someone tampering with it would.
    static func sqlite(_ path: String, _ sql: String) throws {
        let process = try ChildProcess(
            executable: "/usr/bin/sqlite3",
            arguments: [path, sql],
            standardOutput: .nullDevice
        )
        let status = process.waitUntilExit()
        #expect(status == 0, "sqlite3: \(process.standardError)")
    }

    /// Five verify runs over a real archive: five `archive.verified` entries after the test calls' own.
    static func withAuditedArchive(_ body: (_ root: String, _ catalog: Catalog) async throws -> Void) async throws {
        try await ArchiveVerifierTests.withArchive { archive in
            for _ in 0..<5 { _ = try await archive.verifier().verify() }
            try await body(archive.root, archive.catalog)
        }
    }

    @Test func anIntactLogPrintsItsHeadAsAnAnchor() async throws {
        try await Self.withAuditedArchive { _, catalog in
            let report = try await catalog.verifyAuditChain()
            let head = try #require(report.head)
            let lines = AuditChainText.lines(report)
            #expect(report.isIntact)
            #expect(lines.first == "audit log intact: \(report.entries) entries")
            #expect(lines.contains("head: \(head.seq):\(head.hash)"))
            #expect(AuditAnchor(text: head.text) == head)
            #expect(try await catalog.verifyAuditChain(anchor: head).isIntact)
        }
    }

    @Test func aDeletedEntryIsCaughtAndNamed() async throws {
        try await Self.withAuditedArchive { root, catalog in
            let entries = try await catalog.auditEntries()
            let victim = try #require(entries.dropLast().last { $0.action == "archive.verified" })
            try Self.sqlite(
                "\(root)/catalog.sqlite",
                "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = \(victim.seq);"
            )
            #expect(try await catalog.auditEntries().count == entries.count - 1)

            let report = try await catalog.verifyAuditChain()
            #expect(!report.isIntact)
            #expect(Set(report.problems.map(\.kind)) == [.sequenceGap, .brokenLink])
            #expect(report.problems.allSatisfy { $0.seq == victim.seq + 1 })
            let lines = AuditChainText.lines(report)
            #expect(lines.first?.hasPrefix("audit log NOT intact") == true)
            #expect(
                lines.contains(
                    "problem: sequence-gap at seq \(victim.seq + 1): expected seq \(victim.seq), found \(victim.seq + 1)"
                )
            )
            // A broken chain's head is never offered as an anchor to keep.
            #expect(!lines.contains { $0.contains("keep this head elsewhere") })
            #expect(lines.contains { $0.contains("do not keep this head as an anchor") })
        }
    }

    @Test func anEditedEntryIsCaught() async throws {
        try await Self.withAuditedArchive { root, catalog in
            // Someone hides a damaged file: a verify's counts rewritten in place.
            let victim = try #require(try await catalog.auditEntries().first { $0.action == "archive.verified" })
            try Self.sqlite(
                "\(root)/catalog.sqlite",
                "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET detail = replace(detail, '\"ok\":\"4\"', '\"ok\":\"5\"') "
                    + "WHERE seq = \(victim.seq);"
            )
            let edited = try #require(try await catalog.auditEntries(after: victim.seq - 1, limit: 1).first)
            #expect(edited.detail != victim.detail, "the edit took effect")

            let report = try await catalog.verifyAuditChain()
            #expect(report.problems.map(\.kind) == [.hashMismatch])
            #expect(report.problems.first?.seq == victim.seq)
            #expect(
                AuditChainText.lines(report).contains { $0.hasPrefix("problem: hash-mismatch at seq \(victim.seq)") }
            )
        }
    }

    @Test func truncationIsCaughtOnlyWithAnAnchor() async throws {
        try await Self.withAuditedArchive { root, catalog in
            let anchor = try #require(try await catalog.verifyAuditChain().head)
            try Self.sqlite(
                "\(root)/catalog.sqlite",
                "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = \(anchor.seq);"
            )
            #expect(try await catalog.verifyAuditChain().isIntact)
            let report = try await catalog.verifyAuditChain(anchor: AuditAnchor(text: anchor.text))
            #expect(report.problems.map(\.kind) == [.anchorMismatch])
            #expect(report.problems.first?.seq == anchor.seq)
        }
    }

    @Test func auditLinesShowEachEntry() async throws {
        try await ArchiveVerifierTests.withArchive { archive in
            let wav = try #require(archive.streams["CAarch1"])
            #expect(unlink(archive.absolute(wav)) == 0)
            _ = try await archive.verifier().verify(at: Timestamp(millisecondsSinceEpoch: 1_795_000_000_000))
            let problem = try #require(try await archive.catalog.auditEntries(path: wav).first)
            #expect(
                AuditChainText.line(problem)
                    == "\(problem.seq)  2026-11-18T11:06:40.000Z  cli  archive.problem  call=CAarch1  path=\(wav)  \(problem.detail)"
            )
            #expect(problem.detailMap["kind"] == "missing")
        }
    }
}
