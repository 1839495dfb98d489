import Catalog
import ExotelKit
import MediaStore
import Testing

/// The object archive's queue and record (migration 9), on both databases.
@Suite(.timeLimit(.minutes(1)))
struct CatalogObjectArchiveTests {
    static func object(_ job: ArchiveJob, version: String = "v1", held: Bool = false) -> ArchivedObject {
        ArchivedObject(
            path: job.path,
            callSid: job.callSid,
            kind: job.kind,
            bucket: "b",
            key: "exorec/\(job.path)",
            versionID: version,
            sha256: String(repeating: "a", count: 64),
            checksum: "qq==",
            bytes: 10,
            lockMode: "COMPLIANCE",
            retainUntil: at(86_400),
            legalHold: held,
            uploadedAt: at(30),
            uploadedBy: "archiver:test"
        )
    }

    /// A finished stream is queued once with its sidecar, however often the scan runs; a growing one is not.
    /// Claims are exclusive until the lease runs out; the upload is recorded with an audit entry, and a claim
    /// that lost its lease cannot record.
    @Test(arguments: CatalogTestBackend.all) func queueIsFilledOnceAndClaimedWithLeases(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1"))
            let done = try Fixture.streamSidecar(callSid: "CA1", streamSid: "MZ1", bytes: 10, sha256: sha256Hex("x"))
            try await catalog.upsertStream(from: done, path: "media/a/CA1/stream-MZ1.wav")
            let live = try Fixture.streamSidecar(callSid: "CA1", streamSid: "MZ2", state: .recording)
            try await catalog.upsertStream(from: live, path: "media/a/CA1/stream-MZ2.wav")

            #expect(try await catalog.enqueueFinishedMediaForArchive(at: at(10)) == 2)
            #expect(try await catalog.enqueueFinishedMediaForArchive(at: at(11)) == 0, "queued once")
            #expect(try await catalog.archiveStatus().queued == 2)

            let first = try #require(try await catalog.claimNextArchiveJob(now: at(20), lease: .seconds(60)))
            let second = try #require(try await catalog.claimNextArchiveJob(now: at(20), lease: .seconds(60)))
            #expect(Set([first.path, second.path]) == ["media/a/CA1/stream-MZ1.wav", "media/a/CA1/stream-MZ1.json"])
            #expect(try await catalog.claimNextArchiveJob(now: at(21), lease: .seconds(60)) == nil, "both leased")
            // The first claim's lease runs out: another worker takes the job, and the first cannot record it.
            let again = try #require(try await catalog.claimNextArchiveJob(now: at(90), lease: .seconds(60)))
            #expect(again.id == first.id && again.attempts == 2)
            await #expect(throws: CatalogError.leaseLost(id: first.id)) {
                try await catalog.completeArchiveJob(first, object: Self.object(first), actor: "archiver:test")
            }
            try await catalog.completeArchiveJob(again, object: Self.object(again), actor: "archiver:test", at: at(95))
            let recorded = try #require(try await catalog.archivedObject(path: again.path))
            #expect(recorded.versionID == "v1" && recorded.retainUntil == at(86_400) && !recorded.holdSyncPending)
            let audit = try await catalog.auditEntries(path: again.path)
            #expect(audit.map(\.action) == ["archive.uploaded"])
            #expect(audit.first?.detailMap["version_id"] == "v1")

            try await catalog.retryArchiveJob(second, at: at(500), error: "HTTP 503", now: at(96))
            #expect(try await catalog.claimNextArchiveJob(now: at(499), lease: .seconds(60)) == nil, "backoff")
            #expect(try await catalog.archiveStatus().lastError == "HTTP 503")
            #expect(try await catalog.verifyAuditChain().isIntact)
        }
    }

    /// Placing and releasing a hold marks the call's archived objects for a legal-hold sync in the hold's own
    /// transaction; a sync recorded for an older change leaves the object pending.
    @Test(arguments: CatalogTestBackend.all) func holdsMarkArchivedObjectsForSync(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1"))
            try await catalog.enqueueArchive(path: "media/a/CA1/call.json", callSid: "CA1", kind: .call, at: at(1))
            let job = try #require(try await catalog.claimNextArchiveJob(now: at(2), lease: .seconds(60)))
            try await catalog.completeArchiveJob(job, object: Self.object(job), actor: "archiver:test")
            #expect(try await catalog.archivedObjectsNeedingHoldSync().isEmpty)

            try await catalog.placeHold(callSid: "CA1", reason: "subpoena", by: "alice")
            let pending = try await catalog.archivedObjectsNeedingHoldSync()
            #expect(pending.count == 1 && pending.first?.wanted == true)
            let version = try #require(pending.first?.0.holdVersion)
            try await catalog.releaseHold(callSid: "CA1", reason: "closed", by: "alice")
            // A sync of the first change arrives after the release: still pending, now wanting no hold.
            try await catalog.markHoldSynced(path: job.path, version: version, legalHold: true, actor: "t")
            let still = try await catalog.archivedObjectsNeedingHoldSync()
            #expect(still.count == 1 && still.first?.wanted == false)
            try await catalog.markHoldSynced(
                path: job.path,
                version: try #require(still.first?.0.holdVersion),
                legalHold: false,
                actor: "t"
            )
            #expect(try await catalog.archivedObjectsNeedingHoldSync().isEmpty)
            #expect(try await catalog.archivedObject(path: job.path)?.legalHold == false)
        }
    }

    /// An object uploaded while the call was being held (the hold placed after the upload read it) is marked
    /// for a sync when it is recorded.
    @Test(arguments: CatalogTestBackend.all) func holdPlacedDuringAnUploadIsSyncedAfterIt(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1"))
            try await catalog.enqueueArchive(path: "media/a/CA1/call.json", callSid: "CA1", kind: .call, at: at(1))
            let job = try #require(try await catalog.claimNextArchiveJob(now: at(2), lease: .seconds(60)))
            try await catalog.placeHold(callSid: "CA1", reason: "subpoena", by: "alice")
            try await catalog.completeArchiveJob(job, object: Self.object(job, held: false), actor: "archiver:test")
            let pending = try await catalog.archivedObjectsNeedingHoldSync()
            #expect(pending.count == 1 && pending.first?.wanted == true)
        }
    }

    /// A hold on a stream without a call (`stream:<stream_sid>`) marks that stream's archived WAV and sidecar, and
    /// the catalog then wants their legal hold on.
    @Test(arguments: CatalogTestBackend.all) func streamHoldsMarkTheStreamsObjects(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            let identity = StreamIdentity(
                account: nil,
                callSid: nil,
                streamSid: try PathSafeIdentifier("MZthin", field: "stream"),
                sourceEncoding: .muLaw,
                mediaFormatEncoding: "audio/x-mulaw",
                from: nil,
                to: nil,
                customParameters: [:],
                queryParameters: [:]
            )
            var sidecar = StreamSidecar(
                identity: identity,
                sampleRate: 8000,
                startedAt: at(1),
                file: "stream-MZthin.wav",
                exorecVersion: "test"
            )
            sidecar.state = .complete
            sidecar.channels = 1
            sidecar.endedAt = at(10)
            sidecar.bytes = 10
            sidecar.sha256 = sha256Hex("x")
            let wav = "media/_streams/1970/01/01/MZthin/stream-MZthin.wav"
            try await catalog.upsertStream(from: sidecar, path: wav)
            #expect(try await catalog.enqueueFinishedMediaForArchive(at: at(20)) == 2)
            for _ in 0..<2 {
                let job = try #require(try await catalog.claimNextArchiveJob(now: at(21), lease: .seconds(60)))
                try await catalog.completeArchiveJob(job, object: Self.object(job), actor: "archiver:test")
            }
            #expect(try await catalog.archivedObjectsNeedingHoldSync().isEmpty)
            try await catalog.placeHold(callSid: RetentionKey.stream("MZthin"), reason: "fraud review", by: "alice")
            let pending = try await catalog.archivedObjectsNeedingHoldSync()
            let paths = pending.map(\.0.path).sorted()
            #expect(paths == [StorageLayout.sidecarPath(ofMedia: wav), wav])
            #expect(pending.allSatisfy { $0.wanted })
        }
    }

    /// `catalog rebuild` cannot see the bucket: it carries the archived objects over from the old catalog (their
    /// versions, locks and eviction), and the next scan does not queue them again.
    @Test func rebuildCarriesTheArchivedObjectsOver() async throws {
        try await withTemporaryDirectory { root async throws in
            let path = "\(root)/catalog.sqlite"
            let archived = try await Catalog.withCatalog(path: path, logger: testLogger) { catalog async throws in
                try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1"))
                try await catalog.enqueueArchive(path: "media/a/CA1/call.json", callSid: "CA1", kind: .call, at: at(1))
                let job = try #require(try await catalog.claimNextArchiveJob(now: at(2), lease: .seconds(60)))
                try await catalog.completeArchiveJob(job, object: Self.object(job), actor: "archiver:test")
                try await catalog.markEvicted(path: job.path, at: at(50))
                return try #require(try await catalog.archivedObject(path: job.path))
            }
            _ = try await CatalogRebuilder(layout: StorageLayout(root: root), logger: testLogger).rebuild(at: at(100))
            try await Catalog.withCatalog(path: path, logger: testLogger) { catalog async throws in
                #expect(try await catalog.archivedObject(path: archived.path) == archived)
                #expect(try await catalog.archiveStatus().queued == 0)
            }
        }
    }
}
