import ExotelKit
import Foundation
import MediaStore
import Testing

@testable import Catalog

@Suite(.timeLimit(.minutes(2)))
struct CatalogRebuilderTests {
    /// A storage root with a catalog built through the API, as the running system builds it, and the same
    /// facts on disk as sidecars and (small, fake) media files.
    struct World {
        let root: String
        var layout: StorageLayout { StorageLayout(root: self.root) }
        /// `<root>/catalog.sqlite`, or a PostgreSQL URL (``withWorld(_:_:)``).
        var catalogPath: String

        init(root: String, catalogPath: String? = nil) {
            self.root = root
            self.catalogPath = catalogPath ?? "\(root)/catalog.sqlite"
        }

        func directory(_ callSid: String, account: String = Fixture.account) throws -> String {
            let directory = self.layout.callDirectory(
                account: try PathSafeIdentifier(account, field: "account"),
                callSid: try PathSafeIdentifier(callSid, field: "call"),
                startedAt: t0
            )
            try FileSystem.makeDirectories(directory)
            return directory
        }

        func relative(_ path: String) -> String { String(path.dropFirst(self.root.count + 1)) }

        func writeFile(_ path: String, bytes count: Int) throws -> (bytes: Int64, sha256: String) {
            try FileSystem.writeAtomically(
                (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) },
                to: path,
                durable: false
            )
            return (Int64(count), try FileSystem.sha256(of: path))
        }
    }

    static let recordingURL = "https://recordings.example/acme/CA1.mp3"
    static let recordingURL2 = "https://recordings.example/acme/CA2.mp3"

    /// Call CA1: placed, answered, terminal (delivered twice), a stream and a downloaded recording; its
    /// call.json written by hand. Call CA2: terminal per Call Details, recording not downloaded; its call.json
    /// exported from the catalog. A callback for a call exorec did not place. Three audit entries.
    static func populate(_ world: World, _ catalog: Catalog) async throws {
        let placed = Fixture.placed(sid: "CA1", at: t0, campaign: "spring")
        try await catalog.recordPlacedCall(placed)
        let answered = Fixture.callback(
            sid: "CA1",
            event: "answered",
            status: "in-progress",
            recordingURL: nil,
            legs: ["in-progress", nil]
        )
        let terminal = Fixture.callback(sid: "CA1", recordingURL: Self.recordingURL)
        let deliveries = [
            Fixture.received(answered, as: .multipart, at: at(10)), Fixture.received(terminal, at: at(330)),
            Fixture.received(terminal, at: at(345)),
        ]
        var history = [StatusChange(status: "in-progress", source: .placed, at: t0)]
        for delivery in deliveries {
            let result = try await catalog.recordCallback(delivery)
            if result.isNew {
                let change = StatusChange(callback: result.callback, at: delivery.receivedAt)
                try await catalog.appendStatus(callSid: "CA1", change)
                history.append(change)
            }
        }

        let directory1 = try world.directory("CA1")
        let wav = "\(directory1)/stream-ST1.wav"
        let wavFile = try world.writeFile(wav, bytes: 4000)
        let stream = try Fixture.streamSidecar(
            callSid: "CA1",
            streamSid: "ST1",
            bytes: wavFile.bytes,
            sha256: wavFile.sha256
        )
        try stream.write(to: "\(directory1)/stream-ST1.json", durable: false)
        try await catalog.upsertStream(from: stream, path: world.relative(wav))

        let job = try await catalog.enqueueDownload(
            callSid: "CA1",
            url: Self.recordingURL,
            notBefore: at(345),
            at: at(345)
        ).job
        let claimed = try #require(try await catalog.claimNextDownload(now: at(400), lease: .seconds(60)))
        #expect(claimed.id == job.id)
        let mp3 = "\(directory1)/recording.mp3"
        let mp3File = try world.writeFile(mp3, bytes: 1500)
        let recording = Fixture.recordingSidecar(
            callSid: "CA1",
            url: Self.recordingURL,
            bytes: mp3File.bytes,
            sha256: mp3File.sha256
        )
        try recording.write(to: RecordingSidecar.path(inCallDirectory: directory1), durable: false)
        try await catalog.upsertRecording(from: recording, path: world.relative(mp3))
        try await catalog.completeDownload(claimed, at: at(401))

        // call.json for CA1, by hand: the duplicate delivery listed as it arrived.
        let sidecar1 = CallSidecar(
            accountSid: Fixture.account,
            callSid: "CA1",
            placedAt: t0,
            request: placed.parameters,
            campaignId: "spring",
            campaignRowKey: "row-CA1",
            platformCall: CallSidecar.platformCallJSON(placed.platformCall),
            statusHistory: history,
            callbacks: deliveries.map {
                CallSidecar.Callback(
                    receivedAt: $0.receivedAt,
                    contentType: $0.contentType,
                    sourceAddress: $0.sourceAddress,
                    body: $0.body
                )
            },
            exorecVersion: "test"
        )
        try sidecar1.write(to: CallSidecar.path(inCallDirectory: directory1), durable: false)

        // CA2: the reconciler learns the outcome; the recording is never fetched.
        try await catalog.recordPlacedCall(Fixture.placed(sid: "CA2", at: at(20), customField: "other"))
        var details = Fixture.response(sid: "CA2", status: "completed")
        details.recordingURL = Self.recordingURL2
        details.details = PlatformCall.Details(
            conversationDuration: 8,
            leg1Status: "completed",
            leg2Status: "completed"
        )
        try await catalog.recordCallDetails(details, at: at(900))
        let sidecar2 = try #require(try await catalog.callSidecar(callSid: "CA2", exorecVersion: "test"))
        try sidecar2.write(to: CallSidecar.path(inCallDirectory: try world.directory("CA2")), durable: false)

        // A call exorec did not place: its first callback (no AccountSid) makes it a call placed elsewhere whose
        // account is not known, its call.json under `_unknown` (before calls placed elsewhere, only the callback
        // was kept).
        _ = try await catalog.storeCallback(
            Fixture.received(Fixture.callback(sid: "CAX", recordingURL: nil), at: at(50)),
            queuedAt: at(50)
        )
        let elsewhere = try #require(try await catalog.callSidecar(callSid: "CAX", exorecVersion: "test"))
        #expect(
            elsewhere.accountSid == "" && elsewhere.origin == CallSidecar.originElsewhere
                && elsewhere.firstSeenAt == at(50)
        )
        #expect(
            try await catalog.call(sid: "CAX")?.folder
                == world.relative(try world.directory("CAX", account: CallSidecar.unknownAccount))
        )
        try elsewhere.write(
            to: CallSidecar.path(inCallDirectory: try world.directory("CAX", account: CallSidecar.unknownAccount)),
            durable: false
        )

        for index in 1...3 {
            try await catalog.appendAudit(
                AuditEvent(at: at(Int64(1000 + index)), actor: "test", action: "step.\(index)", callSid: "CA1")
            )
        }

        // The campaign CA1 came from: its row placed, another row refused by the platform.
        #expect(try await catalog.claimCampaignRow(campaignId: "spring", rowKey: "row-CA1", line: 2, at: at(-1)) == nil)
        try await catalog.finishCampaignRow(
            campaignId: "spring",
            rowKey: "row-CA1",
            state: .placed,
            callSid: "CA1",
            at: t0
        )
        #expect(try await catalog.claimCampaignRow(campaignId: "spring", rowKey: "row-9", line: 9, at: at(1)) == nil)
        try await catalog.finishCampaignRow(
            campaignId: "spring",
            rowKey: "row-9",
            state: .failed,
            error: "HTTP 400",
            at: at(2)
        )
    }

    @discardableResult
    static func withWorld<R: Sendable>(
        _ backend: CatalogTestBackend = .sqlite,
        _ body: (World) async throws -> R
    ) async throws -> R {
        try await withTemporaryDirectory { root in
            switch backend {
            case .sqlite: return try await body(World(root: root))
            case .postgres:
                return try await TestPostgres.withSchema { url in try await body(World(root: root, catalogPath: url)) }
            }
        }
    }

    /// The rebuilt catalog has the same calls, statuses, callbacks, streams, recordings and media files as the
    /// one built event by event; the audit log is carried over and extended; the missing recording is queued.
    @Test(arguments: CatalogTestBackend.all)
    func rebuildReproducesTheCatalog(backend: CatalogTestBackend) async throws {
        try await Self.withWorld(backend) { world async throws in
            let (before, auditBefore, campaignBefore, feedBefore) = try await Catalog.withCatalog(
                path: world.catalogPath,
                logger: testLogger
            ) {
                catalog async throws in
                try await Self.populate(world, catalog)
                return (
                    try await catalog.snapshot(), try await catalog.auditEntries(),
                    try await catalog.campaignRows(campaignId: "spring"),
                    try await catalog.events(after: 0)
                )
            }
            #expect(!feedBefore.isEmpty)
            #expect(campaignBefore.count == 2)
            #expect(before.calls.count == 3)
            #expect(before.callbacks.count == 3)
            #expect(before.statusHistory.values.map(\.count).reduce(0, +) == 6)
            #expect(before.streams.count == 1)
            #expect(before.recordings.count == 1)
            #expect(before.mediaFiles.count == 2)

            let report = try await CatalogRebuilder(
                layout: world.layout,
                catalogPath: world.catalogPath,
                logger: testLogger
            ).rebuild(at: at(5000))
            #expect(report.problems == [])
            #expect(report.catalogPath == CatalogLocation(world.catalogPath).displayName)
            #expect(report.calls == 3)
            #expect(report.elsewhereCalls == 1)
            #expect(report.unknownCalls == 0)
            #expect(report.statusChanges == 6)
            #expect(report.callbacks == 3)
            #expect(report.duplicateDeliveries == 1)
            #expect(report.streams == 1)
            #expect(report.recordings == 1)
            #expect(report.mediaFiles == 2)
            #expect(report.requeuedDownloads == 1)
            #expect(report.auditCarriedOver)
            #expect(report.auditEntriesCarried == 3)
            #expect(report.campaignRowsCarried == 2)
            #expect(report.campaignRowsRestored == 0)

            try await Catalog.withCatalog(path: world.catalogPath, logger: testLogger) { rebuilt async throws in
                let after = try await rebuilt.snapshot()
                let differences = before.differences(from: after)
                #expect(differences == [], "\(differences)")

                let audit = try await rebuilt.auditEntries()
                #expect(Array(audit.prefix(3)) == auditBefore)
                #expect(audit.last?.action == "catalog.rebuilt")
                #expect(audit.last?.detailMap["calls"] == "3")
                #expect(try await rebuilt.verifyAuditChain().isIntact)

                #expect(try await rebuilt.campaignRows(campaignId: "spring") == campaignBefore)

                // The events feed is carried over with its ids, and the rebuild itself announces nothing:
                // a consumer's position and the media ids it holds stay valid.
                #expect(try await rebuilt.events(after: 0) == feedBefore)
                for event in feedBefore {
                    guard let id = event.mediaID else { continue }
                    #expect(try await rebuilt.mediaFile(id: id)?.path == event.path)
                }

                let jobs = try await rebuilt.downloadJobs()
                #expect(jobs.map(\.callSid) == ["CA2"])
                #expect(jobs.first?.url == Self.recordingURL2)
                #expect(jobs.first?.state == .queued)
            }

            // The previous catalog is kept, unchanged.
            let backup = try #require(report.backupPath)
            try await Catalog.withCatalog(path: backup, logger: testLogger) { old async throws in
                #expect(try await old.snapshot() == before)
            }
        }
    }

    /// The comparison is not vacuous: a changed status, a missing callback and an extra file are all found.
    @Test func comparisonFindsDifferences() async throws {
        try await Self.withWorld { world async throws in
            try await Catalog.withCatalog(path: world.catalogPath, logger: testLogger) { catalog async throws in
                try await Self.populate(world, catalog)
                let before = try await catalog.snapshot()
                try await catalog.appendStatus(
                    callSid: "CA2",
                    StatusChange(status: "failed", source: .callback, at: at(2000))
                )
                try await catalog.upsertMediaFile(
                    MediaFile(
                        callSid: "CA2",
                        kind: .recording,
                        path: "media/extra.mp3",
                        format: "mp3",
                        sampleRate: nil,
                        channels: nil,
                        durationSeconds: nil,
                        bytes: 1,
                        sha256: nil,
                        state: .complete,
                        createdAt: t0,
                        updatedAt: t0
                    )
                )
                var after = try await catalog.snapshot()
                after.callbacks.removeValue(forKey: try #require(after.callbacks.keys.sorted().first))
                let differences = before.differences(from: after)
                #expect(
                    differences.contains {
                        $0.table == "calls" && $0.key == "CA2" && $0.kind == .changed
                            && $0.fields == ["status", "updated_at"]
                    }
                )
                #expect(differences.contains { $0.table == "call_status_history" && $0.key == "CA2" })
                #expect(differences.contains { $0.table == "media_files" && $0.kind == .onlyInSecond })
                #expect(differences.contains { $0.table == "callbacks" && $0.kind == .onlyInFirst })
            }
        }
    }

    /// A rebuild stopped before the swap leaves the old catalog exactly as it was and no temporary file;
    /// a stale temporary file from a crashed rebuild does not stop the next one.
    @Test func interruptedRebuildLeavesTheOldCatalog() async throws {
        try await Self.withWorld { world async throws in
            let before = try await Catalog.withCatalog(path: world.catalogPath, logger: testLogger) {
                catalog async throws in
                try await catalog.recordPlacedCall(Fixture.placed(sid: "CAOLD"))
                try await catalog.appendAudit(AuditEvent(at: t0, actor: "test", action: "old"))
                return try await catalog.snapshot()
            }
            // What is on disk says something else.
            let directory = try world.directory("CA1")
            try CallSidecar(
                accountSid: "acme",
                callSid: "CA1",
                placedAt: t0,
                request: [:],
                platformCall: CallSidecar.platformCallJSON(Fixture.response(sid: "CA1")),
                statusHistory: [StatusChange(status: "in-progress", source: .placed, at: t0)],
                exorecVersion: "test"
            ).write(to: CallSidecar.path(inCallDirectory: directory), durable: false)

            struct Crash: Error {}
            for stage in [CatalogRebuilder.Stage.built, .beforeSwap] {
                var rebuilder = CatalogRebuilder(layout: world.layout, logger: testLogger)
                rebuilder.interruption = { if $0 == stage { throw Crash() } }
                let error = await #expect(throws: CatalogError.self) { try await rebuilder.rebuild(at: at(10)) }
                #expect(error?.code == "catalog.rebuild")
                #expect(!FileSystem.exists(rebuilder.temporaryPath))
                try await Catalog.withCatalog(path: world.catalogPath, logger: testLogger) { catalog async throws in
                    #expect(try await catalog.snapshot() == before)
                    #expect(try await catalog.auditEntries().map(\.action) == ["old"])
                }
            }
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: world.root).filter {
                $0.contains("before-rebuild")
            }
            #expect(leftovers.isEmpty)

            // A crash left a half-written temporary file behind.
            try FileSystem.writeAtomically(Array("garbage".utf8), to: "\(world.catalogPath).rebuild", durable: false)
            let report = try await CatalogRebuilder(layout: world.layout, logger: testLogger).rebuild(at: at(20))
            #expect(report.calls == 1)
            try await Catalog.withCatalog(path: world.catalogPath, logger: testLogger) { catalog async throws in
                #expect(try await catalog.calls().map(\.callSid) == ["CA1"])
                #expect(try await catalog.auditEntries().map(\.action) == ["old", "catalog.rebuilt"])
            }
        }
    }

    /// What does not add up on disk is reported, indexed as far as possible, and does not stop the rebuild.
    @Test func problemsOnDiskAreReported() async throws {
        try await Self.withWorld { world async throws in
            try await Catalog.withCatalog(path: world.catalogPath, logger: testLogger) { catalog async throws in
                try await Self.populate(world, catalog)
            }
            let directory1 = try world.directory("CA1")
            // The recording is gone, the stream was altered (same size, other bytes), a file has no sidecar,
            // and one call.json is not JSON.
            try FileManager.default.removeItem(atPath: "\(directory1)/recording.mp3")
            let wav = "\(directory1)/stream-ST1.wav"
            try FileSystem.writeAtomically([UInt8](repeating: 7, count: 4000), to: wav, durable: false)
            _ = try world.writeFile("\(directory1)/stream-ORPHAN.wav", bytes: 10)
            let broken = try world.directory("CABROKEN")
            try FileSystem.writeAtomically(
                Array("{not json".utf8),
                to: CallSidecar.path(inCallDirectory: broken),
                durable: false
            )
            // A size the sidecar does not match.
            var stream = try StreamSidecar.load(from: "\(directory1)/stream-ST1.json")
            stream.bytes = 3999
            try stream.write(to: "\(directory1)/stream-ST1.json", durable: false)

            let report = try await CatalogRebuilder(layout: world.layout, logger: testLogger)
                .rebuild(options: .init(verifyHashes: true), at: at(5000))
            let kinds = Dictionary(grouping: report.problems, by: \.kind).mapValues { $0.map(\.path) }
            let base = world.relative(directory1)
            #expect(kinds[.missingFile] == ["\(base)/recording.mp3"])
            #expect(kinds[.sizeMismatch] == ["\(base)/stream-ST1.wav"])
            #expect(kinds[.hashMismatch] == ["\(base)/stream-ST1.wav"])
            #expect(kinds[.orphanFile] == ["\(base)/stream-ORPHAN.wav"])
            #expect(kinds[.unreadableSidecar] == ["\(world.relative(broken))/call.json"])
            #expect(report.problems.count == 5)
            #expect(report.missingFiles == 1)
            #expect(report.calls == 3)  // CA1, CA2 and CAX, placed elsewhere (2 before calls placed elsewhere)

            try await Catalog.withCatalog(path: world.catalogPath, logger: testLogger) { catalog async throws in
                #expect(try await catalog.mediaFile(path: "\(base)/recording.mp3")?.state == .missing)
                #expect(try await catalog.mediaFile(path: "\(base)/stream-ORPHAN.wav") == nil)
                // Both calls now lack their recording file: both downloads are queued.
                #expect(try await catalog.downloadJobs().map(\.callSid).sorted() == ["CA1", "CA2"])
            }
        }
    }

    /// With no previous catalog there is nothing to carry; with an unreadable one the rebuild goes on, says
    /// the audit log could not be carried, and keeps the old file.
    @Test func missingOrUnreadableOldCatalog() async throws {
        try await Self.withWorld { world async throws in
            try FileSystem.makeDirectories(world.layout.mediaRoot)
            let fresh = try await CatalogRebuilder(layout: world.layout, logger: testLogger).rebuild(at: t0)
            #expect(!fresh.auditCarriedOver)
            #expect(fresh.backupPath == nil)
            #expect(fresh.problems.isEmpty)

            try FileManager.default.removeItem(atPath: world.catalogPath)
            try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: world.catalogPath))
            let report = try await CatalogRebuilder(layout: world.layout, logger: testLogger).rebuild(at: at(1))
            #expect(report.problems.map(\.kind) == [.auditNotCarried])
            let backup = try #require(report.backupPath)
            #expect(try Data(contentsOf: URL(fileURLWithPath: backup)) == Data(repeating: 0x41, count: 8192))
            try await Catalog.withCatalog(path: world.catalogPath, logger: testLogger) { catalog async throws in
                #expect(try await catalog.auditEntries().map(\.action) == ["catalog.rebuilt"])
            }
        }
    }

    /// Without the old catalog, the campaign rows of placed calls come back from call.json, so a rerun of the
    /// campaign does not place them again; what only the catalog knew (a failed row) is gone.
    @Test func campaignRowsAreRestoredFromCallSidecars() async throws {
        try await Self.withWorld { world async throws in
            try await Catalog.withCatalog(path: world.catalogPath, logger: testLogger) { catalog async throws in
                try await Self.populate(world, catalog)
            }
            CatalogRebuilder.removeDatabase(at: world.catalogPath)
            let report = try await CatalogRebuilder(layout: world.layout, logger: testLogger).rebuild(at: at(5000))
            #expect(report.campaignRowsCarried == 0)
            #expect(report.campaignRowsRestored == 1)
            try await Catalog.withCatalog(path: world.catalogPath, logger: testLogger) { catalog async throws in
                let rows = try await catalog.campaignRows(campaignId: "spring")
                #expect(rows.map(\.rowKey) == ["row-CA1"])
                #expect(rows.first?.state == .placed)
                #expect(rows.first?.callSid == "CA1")
                #expect(rows.first?.line == 0)
                #expect(
                    try await catalog.claimCampaignRow(campaignId: "spring", rowKey: "row-CA1", line: 2)?.state
                        == .placed
                )
            }
        }
    }

    /// A catalog from a newer exorec is not replaced: its audit log could not be carried over.
    @Test func newerOldCatalogStopsTheRebuild() async throws {
        try await Self.withWorld { world async throws in
            try await Catalog.withCatalog(path: world.catalogPath, logger: testLogger) { _ in }
            _ = try await rawSQL(
                world.catalogPath,
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)"
            )
            let error = await #expect(throws: CatalogError.self) {
                try await CatalogRebuilder(layout: world.layout, logger: testLogger).rebuild()
            }
            #expect(error?.description.contains("newer exorec") == true)
            #expect(
                try await rawSQL(world.catalogPath, "SELECT MAX(version) AS v FROM schema_migrations").first?["v"]
                    == "99"
            )
        }
    }

    /// While a server holds the storage root, a rebuild refuses to start.
    @Test func rebuildNeedsTheStorageLock() async throws {
        try await Self.withWorld { world async throws in
            let lock = try StorageLock(layout: world.layout)
            let error = await #expect(throws: CatalogError.self) {
                try await CatalogRebuilder(layout: world.layout, logger: testLogger).rebuild()
            }
            #expect(error?.description.contains("another exorec process") == true)
            withExtendedLifetime(lock) {}
        }
    }

    @Test func aSecondRecordingsSidecarIsRecognised() {
        #expect(CatalogRebuilder.isRecordingSidecar("recording.json"))
        #expect(CatalogRebuilder.isRecordingSidecar("recording-2.json"))
        #expect(CatalogRebuilder.isRecordingSidecar("recording-12.json"))
        #expect(!CatalogRebuilder.isRecordingSidecar("recording-.json"))
        #expect(!CatalogRebuilder.isRecordingSidecar("recording-x.json"))
        #expect(!CatalogRebuilder.isRecordingSidecar("recordings.json"))
    }
}
