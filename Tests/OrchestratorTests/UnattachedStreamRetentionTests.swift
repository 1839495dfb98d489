import Catalog
import Foundation
import MediaStore
import Orchestrator
import Testing

/// Issue 12: streams without a call (kept under `media/_streams/`, catalogued with call_sid "") are expired by
/// retention one by one, each dated by its start; a held one stays, one still being written waits, a run
/// killed mid-deletion is finished by the next, and `catalog rebuild` does not bring a deleted one back.
@Suite(.timeLimit(.minutes(2))) struct UnattachedStreamRetentionTests {
    /// 100 days after the first stream's start: with 90d, streams started at `old` are old enough.
    static let old = ArchiveVerifierTests.placedAt
    static let now = Timestamp(millisecondsSinceEpoch: old.millisecondsSinceEpoch + 100 * 86_400_000)
    /// Five days before `now`: kept.
    static let recent = Timestamp(millisecondsSinceEpoch: now.millisecondsSinceEpoch - 5 * 86_400_000)

    struct Stop: Error {}

    /// Writes a stream without a call (a real WAV and its sidecar, read-only like a finished one) and catalogues
    /// it; returns its WAV's path relative to `root`.
    @discardableResult
    static func stream(
        _ streamSid: String,
        startedAt: Timestamp,
        state: StreamSidecar.State = .complete,
        root: String,
        catalog: Catalog
    ) async throws -> String {
        let layout = StorageLayout(root: root)
        let identity = StreamIdentity(
            account: nil,
            callSid: nil,
            streamSid: try PathSafeIdentifier(streamSid, field: "stream"),
            from: nil,
            to: nil,
            customParameters: [:],
            queryParameters: [:]
        )
        let directory = identity.directory(in: layout, startedAt: startedAt)
        try FileSystem.makeDirectories(directory)
        let wav = "\(directory)/stream-\(streamSid).wav"
        try FileSystem.writeAtomically(
            ArchiveVerifierTests.wav(samples: 8000, seed: streamSid.count),
            to: wav,
            durable: false
        )
        var sidecar = StreamSidecar(
            identity: identity,
            sampleRate: 8000,
            startedAt: startedAt,
            file: "stream-\(streamSid).wav",
            exorecVersion: "test"
        )
        sidecar.state = state
        sidecar.channels = 1
        if state != .recording {
            try FileSystem.makeReadOnly(wav)
            sidecar.endedAt = Timestamp(millisecondsSinceEpoch: startedAt.millisecondsSinceEpoch + 1000)
            sidecar.bytes = try FileSystem.size(of: wav)
            sidecar.sha256 = try FileSystem.sha256(of: wav)
            sidecar.frames = 8000
            sidecar.durationSeconds = 1
        }
        try sidecar.write(to: "\(directory)/stream-\(streamSid).json", durable: false)
        let relative = String(wav.dropFirst(root.count + 1))
        try await catalog.upsertStream(from: sidecar, path: relative)
        return relative
    }

    static func plan(_ root: String, _ catalog: Catalog) async throws -> RetentionPlan {
        try await RetentionPlan.make(
            catalog: catalog,
            layout: StorageLayout(root: root),
            olderThan: try RetentionAge(parsing: "90d"),
            now: Self.now
        )
    }

    static func executor(_ root: String, _ catalog: Catalog) -> RetentionExecutor {
        RetentionExecutor(catalog: catalog, layout: StorageLayout(root: root), logger: RecordingTests.quietLogger())
    }

    static func exists(_ root: String, _ relative: String) -> Bool {
        FileManager.default.fileExists(atPath: "\(root)/\(relative)")
    }

    static func parent(_ path: String) -> String { String(path[..<path.lastIndex(of: "/")!]) }

    /// An old stream goes (WAV, sidecar, folder, rows; audited; its feed entries stay), a recent one stays, a held
    /// one and one still recording are kept and listed as streams; the call beside them is deleted as before;
    /// the plan's JSON lists the streams distinctly; `catalog rebuild` afterwards does not bring the old one back.
    @Test func oldStreamsWithoutACallAreDeletedOneByOne() async throws {
        let root = try RecordingTests.temporaryDirectory("unattached-retention")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let catalogPath = "\(root)/catalog.sqlite"
        let layout = StorageLayout(root: root)
        let (oldWav, recentWav, heldWav) = try await Catalog.withCatalog(
            path: catalogPath,
            logger: RecordingTests.quietLogger()
        ) {
            catalog in
            try await RecordingTests.recordCall("CAold1", in: catalog, placedAt: Self.old)
            let oldWav = try await Self.stream("MZold1", startedAt: Self.old, root: root, catalog: catalog)
            let recentWav = try await Self.stream("MZnew1", startedAt: Self.recent, root: root, catalog: catalog)
            let heldWav = try await Self.stream(
                "MZheld1",
                startedAt: Timestamp(millisecondsSinceEpoch: Self.old.millisecondsSinceEpoch + 60_000),
                root: root,
                catalog: catalog
            )
            try await Self.stream(
                "MZrec1",
                startedAt: Timestamp(millisecondsSinceEpoch: Self.old.millisecondsSinceEpoch + 120_000),
                state: .recording,
                root: root,
                catalog: catalog
            )
            let hold = try await catalog.placeHold(streamSid: "MZheld1", reason: "fraud review 77", by: "legal")
            #expect(hold.callSid == "stream:MZheld1")
            await #expect(throws: CatalogError.unknownCall(callSid: "stream:MZnosuch")) {
                try await catalog.placeHold(streamSid: "MZnosuch", reason: "x", by: "legal")
            }
            await #expect(throws: CatalogError.unknownCall(callSid: "")) {
                try await catalog.placeHold(callSid: "", reason: "x", by: "legal")
            }

            let plan = try await Self.plan(root, catalog)
            #expect(plan.delete.map(\.call.key) == ["CAold1", "stream:MZold1"])
            let item = try #require(plan.delete.last)
            #expect(
                item.call.kind == "stream" && item.call.callSid == "" && item.call.streamSid == "MZold1"
                    && item.call.streamPath == oldWav
            )
            #expect(item.call.timeSource == .streamStarted && item.call.callTime == Self.old)
            #expect(item.files == [oldWav, oldWav.replacingOccurrences(of: ".wav", with: ".json")])
            #expect(
                item.directories.first == Self.parent(oldWav) && item.directories.count == 4,
                "its folder, then dd, mm, yyyy"
            )
            #expect(plan.held.map(\.streamSid) == ["MZheld1"] && plan.held.first?.path == heldWav)
            #expect(
                plan.busy.map(\.streamSid) == ["MZrec1"]
                    && plan.busy.first?.reason == "the stream is still being recorded"
            )
            #expect(plan.streamCount == 1)

            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            let json = String(decoding: try encoder.encode(plan), as: UTF8.self)
            #expect(
                json.contains(#""kind":"stream""#) && json.contains(#""stream_sid":"MZold1""#)
                    && json.contains(#""stream_sid":"MZheld1""#)
            )
            #expect(json.contains(#""kind":"call""#))

            let feedBefore = try await catalog.events(after: 0)
            let report = try await Self.executor(root, catalog).apply(plan, runId: "run1", at: Self.now)
            #expect(report.deleted.map(\.key) == ["CAold1", "stream:MZold1"])
            #expect(report.streamsDeleted == 1)
            let deleted = try #require(report.deleted.last)
            #expect(deleted.kind == "stream" && deleted.path == oldWav && deleted.files == 2 && deleted.mediaFiles == 1)
            #expect(
                report.heldSkipped.map(\.streamSid) == ["MZheld1"] && report.busySkipped.map(\.streamSid) == ["MZrec1"]
            )
            #expect(report.foldersKept.isEmpty, "\(report.foldersKept)")

            #expect(
                !Self.exists(root, oldWav) && !Self.exists(root, Self.parent(oldWav)),
                "its WAV and folder are gone"
            )
            #expect(Self.exists(root, Self.parent(Self.parent(oldWav))), "the date folder still holds the held stream")
            #expect(Self.exists(root, heldWav) && Self.exists(root, recentWav))
            #expect(try await catalog.streams(streamSid: "MZold1").isEmpty)
            #expect(try await catalog.mediaFile(path: oldWav) == nil)
            #expect(try await catalog.unattachedStreams().map(\.streamSid).sorted() == ["MZheld1", "MZnew1", "MZrec1"])
            // The events feed keeps its record of the stream.
            let feedAfter = try await catalog.events(after: 0)
            #expect(feedAfter == feedBefore.filter { $0.callSid != "CAold1" })

            let audit = try await catalog.auditEntries()
            let fileEntries = audit.filter {
                $0.action == "retention.file-deleted" && $0.detail.contains(#""stream_sid":"MZold1""#)
            }
            #expect(Set(fileEntries.compactMap(\.path)) == Set(item.files))
            #expect(
                audit.contains {
                    $0.action == "retention.stream-deleted" && $0.path == oldWav && $0.detail.contains("MZold1")
                }
            )
            #expect(audit.contains { $0.action == "retention.started" && $0.path == oldWav && $0.callSid == nil })
            #expect(try await catalog.verifyAuditChain().isIntact)
            #expect(try await catalog.retentionJournal(callSid: "stream:MZold1").map(\.state) == [.done])
            return (oldWav, recentWav, heldWav)
        }

        let rebuilt = try await CatalogRebuilder(layout: layout, logger: RecordingTests.quietLogger()).rebuild(
            at: Self.now
        )
        #expect(rebuilt.problems.isEmpty, "\(rebuilt.problems)")
        try await Catalog.withCatalog(path: catalogPath, logger: RecordingTests.quietLogger()) { catalog in
            #expect(try await catalog.streams(streamSid: "MZold1").isEmpty, "a rebuild does not bring it back")
            #expect(try await catalog.mediaFile(path: oldWav) == nil)
            #expect(try await catalog.mediaFile(path: recentWav) != nil)
            #expect(try await catalog.mediaFile(path: heldWav) != nil)
            #expect(
                try await catalog.activeHold(callSid: "stream:MZheld1")?.reason == "fraud review 77",
                "the hold survives"
            )
            let again = try await Self.plan(root, catalog)
            #expect(again.delete.isEmpty && again.held.map(\.streamSid) == ["MZheld1"])

            // Released, the held stream goes on the next run, and with the last stream of that day its date folders.
            try await catalog.releaseHold(streamSid: "MZheld1", reason: "review closed", by: "legal")
            let next = try await Self.executor(root, catalog).apply(
                try await Self.plan(root, catalog),
                runId: "run2",
                at: Self.now
            )
            #expect(next.deleted.compactMap(\.streamSid) == ["MZheld1"])
            #expect(!Self.exists(root, Self.parent(heldWav)))
        }
    }

    /// The only stream of its year: its folder and the now-empty dd, mm and yyyy folders go; `media/_streams`
    /// stays.
    @Test func emptyDateFoldersGoWithTheLastStream() async throws {
        try await RecordingTests.withStore { root, catalog in
            let wav = try await Self.stream("MZalone1", startedAt: Self.old, root: root, catalog: catalog)
            let report = try await Self.executor(root, catalog).apply(
                try await Self.plan(root, catalog),
                runId: "run1",
                at: Self.now
            )
            #expect(report.deleted.compactMap(\.streamSid) == ["MZalone1"] && report.foldersKept.isEmpty)
            let streams = "media/\(StorageLayout.unattachedStreamsFolder)"
            #expect(wav.hasPrefix(streams + "/"))
            #expect(
                Self.exists(root, streams) && RecordingTests.files(in: "\(root)/\(streams)").isEmpty,
                "\(RecordingTests.files(in: "\(root)/\(streams)"))"
            )
        }
    }

    /// Killed after the WAV is unlinked: the stream's journal entry (`stream:<stream_sid>`) stays pending, verify
    /// says deletion-pending (not missing), a hold is refused, the plan lists it to finish; the next run finishes it.
    @Test func aDeletionKilledMidwayIsFinishedByTheNextRun() async throws {
        try await RecordingTests.withStore { root, catalog in
            let wav = try await Self.stream("MZcrash1", startedAt: Self.old, root: root, catalog: catalog)
            let sidecar = wav.replacingOccurrences(of: ".wav", with: ".json")
            var executor = Self.executor(root, catalog)
            executor.faultInjection = { stage in
                if case .fileDeleted(let key, let path, _) = stage, key == "stream:MZcrash1", path == wav {
                    throw Stop()
                }
            }
            await #expect(throws: Stop.self) {
                try await executor.apply(try await Self.plan(root, catalog), runId: "run1", at: Self.now)
            }
            #expect(!Self.exists(root, wav) && Self.exists(root, sidecar))
            let pending = try await catalog.pendingRetentionDeletions()
            #expect(pending.map(\.callSid) == ["stream:MZcrash1"] && pending.first?.files == [wav, sidecar])
            #expect(try await catalog.streams(streamSid: "MZcrash1").count == 1, "rows stay until the files are gone")

            let verify = try await ArchiveVerifier(
                catalog: catalog,
                layout: StorageLayout(root: root),
                logger: RecordingTests.quietLogger()
            )
            .verify()
            #expect(verify.problems.map(\.kind) == [.deletionPending], "\(verify.problems)")
            await #expect(throws: CatalogError.deletionPending(callSid: "stream:MZcrash1")) {
                try await catalog.placeHold(streamSid: "MZcrash1", reason: "too late", by: "legal")
            }
            let plan = try await Self.plan(root, catalog)
            #expect(plan.delete.isEmpty && plan.pending.map(\.callSid) == ["stream:MZcrash1"])

            let report = try await Self.executor(root, catalog).apply(plan, runId: "run2", at: Self.now)
            #expect(report.resumed == ["stream:MZcrash1"] && report.deleted.compactMap(\.streamSid) == ["MZcrash1"])
            #expect(!Self.exists(root, sidecar) && !Self.exists(root, Self.parent(wav)))
            #expect(try await catalog.streams(streamSid: "MZcrash1").isEmpty)
            #expect(try await catalog.pendingRetentionDeletions().isEmpty)
            let entries = try await catalog.auditEntries().filter { $0.action == "retention.file-deleted" }
            #expect(Set(entries.compactMap(\.path)) == [wav, sidecar])
            #expect(try await catalog.verifyAuditChain().isIntact)
        }
    }

    /// A hold placed between the plan and the deletion wins; a repeated stream_sid's two old files (one folder)
    /// both go, the folder with the second, and no folder is reported kept.
    @Test func aHoldAfterThePlanWinsAndARepeatedStreamSidGoesWhole() async throws {
        try await RecordingTests.withStore { root, catalog in
            let first = try await Self.stream("MZtwice1", startedAt: Self.old, root: root, catalog: catalog)
            // The second file of a repeated stream_sid, beside the first (as the recorder names it).
            let second = first.replacingOccurrences(of: ".wav", with: "-2.wav")
            try FileSystem.writeAtomically(
                ArchiveVerifierTests.wav(samples: 800, seed: 3),
                to: "\(root)/\(second)",
                durable: false
            )
            let identity = StreamIdentity(
                account: nil,
                callSid: nil,
                streamSid: try PathSafeIdentifier("MZtwice1", field: "stream"),
                from: nil,
                to: nil,
                customParameters: [:],
                queryParameters: [:]
            )
            var sidecar = StreamSidecar(
                identity: identity,
                sampleRate: 8000,
                startedAt: Timestamp(millisecondsSinceEpoch: Self.old.millisecondsSinceEpoch + 5000),
                file: "stream-MZtwice1-2.wav",
                exorecVersion: "test"
            )
            sidecar.state = .complete
            sidecar.bytes = try FileSystem.size(of: "\(root)/\(second)")
            sidecar.sha256 = try FileSystem.sha256(of: "\(root)/\(second)")
            try sidecar.write(to: "\(root)/\(second.replacingOccurrences(of: ".wav", with: ".json"))", durable: false)
            try await catalog.upsertStream(from: sidecar, path: second)
            try await Self.stream(
                "MZlate1",
                startedAt: Timestamp(millisecondsSinceEpoch: Self.old.millisecondsSinceEpoch + 9000),
                root: root,
                catalog: catalog
            )

            let plan = try await Self.plan(root, catalog)
            #expect(
                plan.delete.compactMap(\.call.streamPath) == [
                    first, second,
                    Self.parent(first).replacingOccurrences(of: "MZtwice1", with: "MZlate1") + "/stream-MZlate1.wav",
                ]
            )
            try await catalog.placeHold(streamSid: "MZlate1", reason: "placed after the plan", by: "legal")
            let report = try await Self.executor(root, catalog).apply(plan, runId: "run1", at: Self.now)
            #expect(report.deleted.compactMap(\.path) == [first, second])
            #expect(report.skippedSincePlan.map(\.streamSid) == ["MZlate1"], "\(report.skippedSincePlan)")
            #expect(
                report.skippedSincePlan.first?.reason.contains("stream without a call MZlate1 is on legal hold") == true
            )
            #expect(report.foldersKept.isEmpty, "\(report.foldersKept)")
            #expect(!Self.exists(root, Self.parent(first)))
            #expect(try await catalog.streams(streamSid: "MZtwice1").isEmpty)
            #expect(try await catalog.streams(streamSid: "MZlate1").count == 1)
        }
    }
}
