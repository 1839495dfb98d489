import Catalog
import MediaStore
import Testing

@Suite(.timeLimit(.minutes(1)))
struct CatalogAuditTests {
    /// Five entries about files, as the ingest and the fetcher would write them.
    static func appendFive(_ catalog: Catalog) async throws -> [AuditEntry] {
        var entries: [AuditEntry] = []
        for index in 1...5 {
            entries.append(
                try await catalog.appendAudit(
                    AuditEvent(
                        at: at(Int64(index)),
                        actor: index % 2 == 0 ? "fetcher" : "ingest",
                        action: index % 2 == 0 ? "recording.downloaded" : "stream.finalized",
                        callSid: "CA\(index)",
                        path: "media/acme/CA\(index)/file-\(index)",
                        detail: ["bytes": "\(index * 1000)", "sha256": "x\(index)"]
                    )
                )
            )
        }
        return entries
    }

    @Test(arguments: CatalogTestBackend.all) func chainIsLinkedAndVerifies(backend: CatalogTestBackend) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            let entries = try await Self.appendFive(catalog)
            #expect(entries.map(\.seq) == [1, 2, 3, 4, 5])
            #expect(entries[0].prevHash == AuditEntry.genesisHash)
            for index in 1..<entries.count { #expect(entries[index].prevHash == entries[index - 1].hash) }
            #expect(entries[1].detail == #"{"bytes":"2000","sha256":"x2"}"#)
            #expect(entries[1].detailMap == ["bytes": "2000", "sha256": "x2"])

            let report = try await catalog.verifyAuditChain()
            #expect(report.isIntact)
            #expect(report.entries == 5)
            #expect(report.head == AuditAnchor(seq: 5, hash: entries[4].hash))
            #expect(try await catalog.auditEntries(callSid: "CA2") == [entries[1]])
            #expect(try await catalog.auditEntries(after: 3).map(\.seq) == [4, 5])
            #expect(try await catalog.verifyAuditChain(anchor: report.head).isIntact)
        }
    }

    /// The canonical encoding is pinned: a hash computed elsewhere from the documented format matches.
    @Test func hashFormatIsPinned() {
        let hash = AuditEntry.computeHash(
            seq: 1,
            at: Timestamp(millisecondsSinceEpoch: 1000),
            actor: "a",
            action: "b",
            callSid: nil,
            path: "p",
            detail: "{}",
            prevHash: AuditEntry.genesisHash
        )
        // sha256 of: [1,1000,"a","b",null,"p","{}","0000…0000"]
        let canonical = #"[1,1000,"a","b",null,"p","{}",""# + AuditEntry.genesisHash + #""]"#
        #expect(hash == sha256Hex(canonical))
    }

    /// The table refuses UPDATE and DELETE outright (until someone drops the triggers).
    @Test(arguments: CatalogTestBackend.all) func logIsAppendOnly(backend: CatalogTestBackend) async throws {
        try await withTestCatalog(backend) { catalog, path async throws in
            _ = try await Self.appendFive(catalog)
            await #expect(throws: (any Error).self) {
                try await rawSQL(path, "UPDATE audit_log SET actor = 'x' WHERE seq = 2")
            }
            await #expect(throws: (any Error).self) { try await rawSQL(path, "DELETE FROM audit_log WHERE seq = 2") }
            #expect(try await catalog.verifyAuditChain().isIntact)
        }
    }

    @Test(arguments: CatalogTestBackend.all) func editedEntryIsDetected(backend: CatalogTestBackend) async throws {
        try await withTestCatalog(backend) { catalog, path async throws in
            _ = try await Self.appendFive(catalog)
            _ = try await rawSQL(
                path,
                dropTrigger("audit_log_no_update", on: "audit_log", path),
                #"UPDATE audit_log SET detail = '{"bytes":"9","sha256":"x2"}' WHERE seq = 2"#
            )
            let report = try await catalog.verifyAuditChain()
            #expect(!report.isIntact)
            #expect(report.problems.map(\.kind) == [.hashMismatch])
            #expect(report.problems.first?.seq == 2)
        }
    }

    @Test(arguments: CatalogTestBackend.all) func removedEntryIsDetected(backend: CatalogTestBackend) async throws {
        try await withTestCatalog(backend) { catalog, path async throws in
            _ = try await Self.appendFive(catalog)
            _ = try await rawSQL(
                path,
                dropTrigger("audit_log_no_delete", on: "audit_log", path),
                "DELETE FROM audit_log WHERE seq = 3"
            )
            let report = try await catalog.verifyAuditChain()
            #expect(report.entries == 4)
            #expect(Set(report.problems.map(\.kind)) == [.sequenceGap, .brokenLink])
            #expect(report.problems.allSatisfy { $0.seq == 4 })
        }
    }

    @Test(arguments: CatalogTestBackend.all) func reorderedEntriesAreDetected(backend: CatalogTestBackend) async throws
    {
        try await withTestCatalog(backend) { catalog, path async throws in
            _ = try await Self.appendFive(catalog)
            _ = try await rawSQL(
                path,
                dropTrigger("audit_log_no_update", on: "audit_log", path),
                "UPDATE audit_log SET seq = -2 WHERE seq = 2",
                "UPDATE audit_log SET seq = 2 WHERE seq = 3",
                "UPDATE audit_log SET seq = 3 WHERE seq = -2"
            )
            let report = try await catalog.verifyAuditChain()
            #expect(!report.isIntact)
            #expect(report.problems.contains { $0.kind == .hashMismatch && $0.seq == 2 })
            #expect(report.problems.contains { $0.kind == .hashMismatch && $0.seq == 3 })
            #expect(report.problems.contains { $0.kind == .brokenLink })
        }
    }

    /// Dropping the newest entries leaves a valid shorter chain; an anchor remembered earlier reveals it, and
    /// so it does a forger who rewrote an entry and recomputed every hash after it.
    @Test(arguments: CatalogTestBackend.all) func truncationAndRehashingNeedAnAnchor(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, path async throws in
            let entries = try await Self.appendFive(catalog)
            let anchor = try #require(try await catalog.verifyAuditChain().head)

            _ = try await rawSQL(
                path,
                dropTrigger("audit_log_no_delete", on: "audit_log", path),
                "DELETE FROM audit_log WHERE seq = 5"
            )
            #expect(try await catalog.verifyAuditChain().isIntact)
            let truncated = try await catalog.verifyAuditChain(anchor: anchor)
            #expect(truncated.problems.map(\.kind) == [.anchorMismatch])

            // Re-append entry 5 with forged content and a correct hash: the chain checks out, the anchor does not.
            var forged = entries[4]
            forged.detail = #"{"bytes":"1","sha256":"forged"}"#
            forged.hash = forged.recomputedHash
            let values = [
                "5", "\(forged.at.millisecondsSinceEpoch)", "'\(forged.actor)'", "'\(forged.action)'",
                "'\(forged.callSid ?? "")'",
                "'\(forged.path ?? "")'", "'\(forged.detail)'", "'\(forged.prevHash)'", "'\(forged.hash)'",
            ]
            _ = try await rawSQL(
                path,
                "INSERT INTO audit_log (seq, at, actor, action, call_sid, path, detail, prev_hash, hash) VALUES ("
                    + values.joined(separator: ", ") + ")"
            )
            #expect(try await catalog.verifyAuditChain().isIntact)
            let rewritten = try await catalog.verifyAuditChain(anchor: anchor)
            #expect(rewritten.problems.map(\.kind) == [.anchorMismatch])
            #expect(rewritten.problems.first?.seq == 5)
        }
    }
}
