import Catalog
import MediaStore
import Testing

@Suite(.timeLimit(.minutes(1)))
struct LegalHoldTests {
    /// A hold is placed, refused a second time, released with who and why, and kept as history; each step is audited.
    @Test(arguments: CatalogTestBackend.all) func holdIsPlacedReleasedAndKeptAsHistory(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1"))
            let hold = try await catalog.placeHold(callSid: "CA1", reason: "  subpoena 118 ", by: "alice", at: at(10))
            #expect(hold.reason == "subpoena 118" && hold.placedBy == "alice" && hold.isActive)
            #expect(try await catalog.activeHold(callSid: "CA1") == hold)
            await #expect(throws: CatalogError.alreadyHeld(callSid: "CA1", reason: "subpoena 118")) {
                try await catalog.placeHold(callSid: "CA1", reason: "again", by: "bob", at: at(11))
            }
            let released = try await catalog.releaseHold(callSid: "CA1", reason: "case closed", by: "carol", at: at(20))
            #expect(
                released.releasedBy == "carol" && released.releaseReason == "case closed"
                    && released.releasedAt == at(20)
            )
            await #expect(throws: CatalogError.notHeld(callSid: "CA1")) {
                try await catalog.releaseHold(callSid: "CA1", reason: "twice", by: "carol", at: at(21))
            }
            #expect(try await catalog.legalHolds().isEmpty)
            #expect(try await catalog.legalHolds(includeReleased: true) == [released])

            let entries = try await catalog.auditEntries(callSid: "CA1")
            #expect(entries.map(\.action) == ["hold.added", "hold.released"])
            #expect(entries[0].detailMap["reason"] == "subpoena 118" && entries[0].detailMap["by"] == "alice")
            #expect(entries[1].detailMap["reason"] == "case closed" && entries[1].detailMap["by"] == "carol")
            #expect(try await catalog.verifyAuditChain().isIntact)
        }
    }

    /// Unknown calls and empty reasons get their own errors; a call known only by a callback can be held.
    @Test(arguments: CatalogTestBackend.all) func badHoldsAreRefusedSpecifically(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            await #expect(throws: CatalogError.unknownCall(callSid: "CA404")) {
                try await catalog.placeHold(callSid: "CA404", reason: "x", by: "alice")
            }
            await #expect(throws: CatalogError.notHeld(callSid: "CA404")) {
                try await catalog.releaseHold(callSid: "CA404", reason: "x", by: "alice")
            }
            _ = try await catalog.recordCallback(Fixture.received(Fixture.callback(sid: "CA9"), at: at(5)))
            await #expect(throws: CatalogError.invalidHold(reason: "reason is empty")) {
                try await catalog.placeHold(callSid: "CA9", reason: "   ", by: "alice")
            }
            #expect(try await catalog.placeHold(callSid: "CA9", reason: "fraud", by: "alice").callSid == "CA9")
            #expect(try await catalog.auditEntries().map(\.action) == ["hold.added"])
        }
    }

    /// Candidates are old calls by placement (or first sight for calls exorec did not place), with holds and
    /// work under way flagged; a journaled deletion blocks holds and finishes into an empty catalog for the call.
    @Test(arguments: CatalogTestBackend.all) func retentionCandidatesAndTheJournal(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1", at: at(0)))
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CA2", at: at(100)))
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CA3", at: at(5000)))
            _ = try await catalog.recordCallback(Fixture.received(Fixture.callback(sid: "CA9"), at: at(50)))
            let sha = String(repeating: "ab", count: 32)
            try await catalog.upsertStream(
                from: try Fixture.streamSidecar(
                    callSid: "CA1",
                    streamSid: "ST1",
                    startedAt: at(2),
                    bytes: 44,
                    sha256: sha
                ),
                path: "media/acme/CA1/stream-ST1.wav"
            )
            try await catalog.upsertStream(
                from: try Fixture.streamSidecar(
                    callSid: "CA2",
                    streamSid: "ST2",
                    state: .recording,
                    startedAt: at(101)
                ),
                path: "media/acme/CA2/stream-ST2.wav"
            )
            try await catalog.placeHold(callSid: "CA9", reason: "fraud", by: "alice", at: at(60))

            let candidates = try await catalog.retentionCandidates(before: at(1000))
            #expect(candidates.map(\.callSid) == ["CA1", "CA9", "CA2"])
            #expect(
                candidates[0].timeSource == .placed && candidates[0].mediaFiles.count == 1 && candidates[0].busy == nil
            )
            #expect(
                candidates[1].timeSource == .firstSeen && candidates[1].callTime == at(50)
                    && candidates[1].hold?.reason == "fraud"
            )
            #expect(candidates[2].busy == "a stream is still being recorded")

            await #expect(throws: CatalogError.callHeld(callSid: "CA9")) {
                try await catalog.beginRetentionDeletion(
                    callSid: "CA9",
                    runId: "r1",
                    cutoff: at(1000),
                    callTime: at(50),
                    files: [],
                    directories: []
                )
            }
            await #expect(throws: CatalogError.callBusy(callSid: "CA2", reason: "a stream is still being recorded")) {
                try await catalog.beginRetentionDeletion(
                    callSid: "CA2",
                    runId: "r1",
                    cutoff: at(1000),
                    callTime: at(100),
                    files: [],
                    directories: []
                )
            }
            let files = ["media/acme/CA1/stream-ST1.wav", "media/acme/CA1/stream-ST1.json", "media/acme/CA1/call.json"]
            let entry = try await catalog.beginRetentionDeletion(
                callSid: "CA1",
                runId: "r1",
                cutoff: at(1000),
                callTime: at(0),
                files: files,
                directories: ["media/acme/CA1"],
                at: at(2000)
            )
            #expect(entry.state == .pending && entry.files == files)
            #expect(try await catalog.pendingRetentionDeletions() == [entry])
            #expect(try await catalog.retentionCandidates(before: at(1000)).map(\.callSid) == ["CA9", "CA2"])
            await #expect(throws: CatalogError.deletionPending(callSid: "CA1")) {
                try await catalog.placeHold(callSid: "CA1", reason: "too late", by: "bob")
            }

            let deletion = try #require(try await catalog.finishRetentionDeletion(entry, at: at(2001)))
            #expect(deletion == RetentionDeletion(callSid: "CA1", files: 3, mediaFiles: 1, bytes: 44))
            #expect(try await catalog.finishRetentionDeletion(entry, at: at(2002)) == nil)
            #expect(try await catalog.call(sid: "CA1") == nil)
            #expect(try await catalog.mediaFiles(callSid: "CA1").isEmpty)
            #expect(try await catalog.statusHistory(callSid: "CA1").isEmpty)
            #expect(try await catalog.pendingRetentionDeletions().isEmpty)
            #expect(try await catalog.retentionJournal(callSid: "CA1").map(\.state) == [.done])
            let actions = try await catalog.auditEntries(callSid: "CA1").map(\.action)
            #expect(
                actions == ["retention.started"] + Array(repeating: "retention.file-deleted", count: 3) + [
                    "retention.call-deleted"
                ]
            )
            let wav = try #require(try await catalog.auditEntries(path: "media/acme/CA1/stream-ST1.wav").first)
            #expect(
                wav.detailMap["sha256"] == sha && wav.detailMap["bytes"] == "44" && wav.detailMap["kind"] == "stream"
            )
            #expect(try await catalog.verifyAuditChain().isIntact)
        }
    }

    /// A rebuild carries holds (active and released) and the retention journal over from the old catalog.
    @Test func rebuildCarriesHoldsAndTheJournalOver() async throws {
        try await withTemporaryDirectory { root async throws in
            let layout = StorageLayout(root: root)
            let path = "\(root)/catalog.sqlite"
            let (holds, journal) = try await Catalog.withCatalog(path: path, logger: testLogger) {
                catalog async throws in
                try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1"))
                try await catalog.recordPlacedCall(Fixture.placed(sid: "CA2"))
                try await catalog.placeHold(callSid: "CA1", reason: "old case", by: "alice", at: at(1))
                try await catalog.releaseHold(callSid: "CA1", reason: "closed", by: "alice", at: at(2))
                try await catalog.placeHold(callSid: "CA1", reason: "new case", by: "bob", at: at(3))
                _ = try await catalog.beginRetentionDeletion(
                    callSid: "CA2",
                    runId: "r1",
                    cutoff: at(10),
                    callTime: t0,
                    files: ["media/acme/CA2/call.json"],
                    directories: ["media/acme/CA2"],
                    at: at(4)
                )
                return (try await catalog.legalHolds(includeReleased: true), try await catalog.retentionJournal())
            }
            let report = try await CatalogRebuilder(layout: layout, logger: testLogger).rebuild(at: at(100))
            #expect(report.legalHoldsCarried == 2 && report.retentionJournalCarried == 1)
            try await Catalog.withCatalog(path: path, logger: testLogger) { catalog async throws in
                #expect(try await catalog.legalHolds(includeReleased: true) == holds)
                #expect(try await catalog.activeHold(callSid: "CA1")?.reason == "new case")
                #expect(try await catalog.retentionJournal() == journal)
                #expect(try await catalog.pendingRetentionDeletions().map(\.callSid) == ["CA2"])
                #expect(try await catalog.verifyAuditChain().isIntact)
            }
        }
    }
}
