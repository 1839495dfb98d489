import Catalog
import Foundation
import MediaStore
import Orchestrator
import Testing

/// `RetentionPlan` and `RetentionExecutor` over real files (`ArchiveVerifierTests.withArchive`: per call a
/// read-only WAV and MP3 with their sidecars and a `call.json`), then checked by `ArchiveVerifier` and the audit chain.
@Suite(.timeLimit(.minutes(2))) struct RetentionTests {
    static let calls = ["CAret1", "CAret2", "CAret3"]
    /// 100 days after the archive's first call: with 90d, all three calls are old enough.
    static let now = Timestamp(
        millisecondsSinceEpoch: ArchiveVerifierTests.placedAt.millisecondsSinceEpoch + 100 * 86_400_000
    )

    struct Stop: Error {}

    static func executor(_ archive: ArchiveVerifierTests.Archive) -> RetentionExecutor {
        RetentionExecutor(
            catalog: archive.catalog,
            layout: StorageLayout(root: archive.root),
            logger: RecordingTests.quietLogger()
        )
    }

    static func plan(_ archive: ArchiveVerifierTests.Archive, _ age: String = "90d") async throws -> RetentionPlan {
        try await RetentionPlan.make(
            catalog: archive.catalog,
            layout: StorageLayout(root: archive.root),
            olderThan: try RetentionAge(parsing: age),
            now: Self.now
        )
    }

    static func folder(_ archive: ArchiveVerifierTests.Archive, _ callSid: String) throws -> String {
        let stream = try #require(archive.streams[callSid])
        return archive.absolute(String(stream[..<stream.lastIndex(of: "/")!]))
    }

    /// The held call's files and rows stay; the others' files, sidecars, folders and rows go, each file and call
    /// audited; verify and the audit chain are clean afterwards.
    @Test func retentionWithAHeldCall() async throws {
        try await ArchiveVerifierTests.withArchive(calls: Self.calls) { archive in
            try await archive.catalog.placeHold(callSid: "CAret2", reason: "subpoena 118", by: "legal")
            let plan = try await Self.plan(archive)
            #expect(plan.delete.map(\.call.callSid) == ["CAret1", "CAret3"])
            #expect(plan.held.map(\.callSid) == ["CAret2"] && plan.held.first?.hold?.reason == "subpoena 118")
            #expect(
                plan.delete.allSatisfy { $0.files.count == 5 && $0.directories.count == 1 },
                "wav, mp3, 2 sidecars, call.json"
            )
            #expect(try await Self.plan(archive, "200d").delete.isEmpty, "nothing is older than 200 days")

            let feedBefore = try await archive.catalog.events(after: 0)
            #expect(Set(feedBefore.map(\.callSid)).isSuperset(of: ["CAret1", "CAret2", "CAret3"]))
            let report = try await Self.executor(archive).apply(plan, runId: "run1", at: Self.now)
            #expect(report.deleted.map(\.callSid) == ["CAret1", "CAret3"])
            // The deleted calls' feed entries (which name their files) went with them; the held call's stay.
            let feedAfter = try await archive.catalog.events(after: 0)
            #expect(feedAfter == feedBefore.filter { $0.callSid != "CAret1" && $0.callSid != "CAret3" })
            #expect(report.files == 10 && report.heldSkipped.map(\.callSid) == ["CAret2"] && report.foldersKept.isEmpty)
            for callSid in ["CAret1", "CAret3"] {
                #expect(
                    !FileManager.default.fileExists(atPath: try Self.folder(archive, callSid)),
                    "\(callSid)'s folder is gone"
                )
                #expect(try await archive.catalog.call(sid: callSid) == nil)
                #expect(try await archive.catalog.mediaFiles(callSid: callSid).isEmpty)
                let actions = try await archive.catalog.auditEntries(callSid: callSid).map(\.action)
                #expect(actions.filter { $0 == "retention.file-deleted" }.count == 5)
                #expect(actions.last == "retention.call-deleted")
            }
            let held = try Self.folder(archive, "CAret2")
            #expect(
                Set(RecordingTests.files(in: held)) == [
                    "call.json", "recording.mp3", "recording.json", "stream-ST1.wav", "stream-ST1.json",
                ]
            )
            #expect(try await archive.catalog.mediaFiles(callSid: "CAret2").count == 2)
            #expect(try await archive.catalog.call(sid: "CAret2") != nil)
            #expect(try await archive.catalog.auditEntries().last?.action == "retention.applied")

            let verify = try await archive.verifier().verify()
            #expect(verify.isClean, "\(verify.problems)")
            #expect(verify.selected == 2)
            #expect(try await archive.catalog.verifyAuditChain().isIntact)

            // Released, it goes on the next run.
            try await archive.catalog.releaseHold(callSid: "CAret2", reason: "case closed", by: "legal")
            let next = try await Self.executor(archive).apply(try await Self.plan(archive), runId: "run2", at: Self.now)
            #expect(next.deleted.map(\.callSid) == ["CAret2"])
            #expect(try await archive.verifier().verify().isClean)
        }
    }

    /// A call placed elsewhere (a callback naming no account made it; its call.json in the folder the catalog
    /// fixed, under `_unknown`) is timed by its first sight and deleted with its folder like any call.
    @Test func aCallPlacedElsewhereIsDeletedWithItsFolder() async throws {
        try await ArchiveVerifierTests.withArchive(calls: ["CAret1"]) { archive in
            let seen = ArchiveVerifierTests.placedAt
            let body = Array(#"{"CallSid":"CAelseR","EventType":"terminal","Status":"busy"}"#.utf8)
            _ = try await archive.catalog.storeCallback(
                ReceivedCallback(receivedAt: seen, contentType: "application/json", body: body),
                queuedAt: seen
            )
            let sidecars = CallSidecarWriter(
                layout: StorageLayout(root: archive.root),
                catalog: archive.catalog,
                exorecVersion: "test",
                logger: RecordingTests.quietLogger()
            )
            let path = try #require(try await sidecars.refresh(callSid: "CAelseR"))
            #expect(path.contains("/media/_unknown/"))

            let plan = try await Self.plan(archive)
            let elsewhere = try #require(plan.delete.first { $0.call.callSid == "CAelseR" })
            #expect(elsewhere.call.timeSource == .firstSeen)
            #expect(elsewhere.files.map { archive.absolute($0) } == [path])
            let report = try await Self.executor(archive).apply(plan, runId: "run1", at: Self.now)
            #expect(Set(report.deleted.map(\.callSid)) == ["CAret1", "CAelseR"])
            #expect(!FileManager.default.fileExists(atPath: path))
            #expect(!FileManager.default.fileExists(atPath: String(path.dropLast("/call.json".count))))
            #expect(try await archive.catalog.call(sid: "CAelseR") == nil)
            #expect(try await archive.verifier().verify().isClean)
        }
    }

    /// A plan changes nothing: every file and row is still there, and nothing is audited.
    @Test func dryRunDeletesNothing() async throws {
        try await ArchiveVerifierTests.withArchive(calls: Self.calls) { archive in
            let before = try await archive.catalog.auditEntries().count
            let plan = try await Self.plan(archive)
            #expect(plan.delete.count == 3 && plan.fileCount == 15)
            for callSid in Self.calls {
                #expect(RecordingTests.files(in: try Self.folder(archive, callSid)).count == 5)
                #expect(try await archive.catalog.mediaFiles(callSid: callSid).count == 2)
            }
            #expect(try await archive.catalog.auditEntries().count == before)
            #expect(try await archive.catalog.retentionJournal().isEmpty)
        }
    }

    /// A run stopped after some files are deleted leaves a pending journal entry: verify says `deletion-pending`
    /// (not `missing`), a hold is refused; the next run finishes it, and everything is consistent and audited once.
    @Test func anInterruptedRetentionRunIsFinishedByTheNext() async throws {
        try await ArchiveVerifierTests.withArchive(calls: Self.calls) { archive in
            var executor = Self.executor(archive)
            executor.faultInjection = { stage in
                if case .fileDeleted(_, _, let deleted) = stage, deleted == 7 { throw Stop() }
            }
            await #expect(throws: Stop.self) {
                try await executor.apply(try await Self.plan(archive), runId: "run1", at: Self.now)
            }
            // The first call is done, the second half-deleted, the third untouched.
            #expect(try await archive.catalog.call(sid: "CAret1") == nil)
            #expect(try await archive.catalog.pendingRetentionDeletions().map(\.callSid) == ["CAret2"])
            #expect(try await archive.catalog.mediaFiles(callSid: "CAret2").count == 2)
            #expect(RecordingTests.files(in: try Self.folder(archive, "CAret2")).count == 3)
            #expect(try await archive.catalog.mediaFiles(callSid: "CAret3").count == 2)

            let during = try await archive.verifier().verify()
            #expect(during.problems.map(\.kind) == [.deletionPending, .deletionPending], "\(during.problems)")
            #expect(
                during.problems.allSatisfy { $0.callSid == "CAret2" && $0.detail.contains("retention apply --yes") }
            )
            await #expect(throws: CatalogError.deletionPending(callSid: "CAret2")) {
                try await archive.catalog.placeHold(callSid: "CAret2", reason: "late", by: "legal")
            }

            let plan = try await Self.plan(archive)
            #expect(plan.pending.map(\.callSid) == ["CAret2"] && plan.delete.map(\.call.callSid) == ["CAret3"])
            let report = try await Self.executor(archive).apply(plan, runId: "run2", at: Self.now)
            #expect(report.resumed == ["CAret2"])
            #expect(report.deleted.map(\.callSid) == ["CAret2", "CAret3"])
            #expect(try await archive.catalog.pendingRetentionDeletions().isEmpty)
            for callSid in Self.calls {
                #expect(!FileManager.default.fileExists(atPath: try Self.folder(archive, callSid)))
                #expect(try await archive.catalog.call(sid: callSid) == nil)
                let deletedFiles = try await archive.catalog.auditEntries(callSid: callSid).filter {
                    $0.action == "retention.file-deleted"
                }
                #expect(
                    deletedFiles.count == 5 && Set(deletedFiles.compactMap(\.path)).count == 5,
                    "each file audited once"
                )
            }
            let after = try await archive.verifier().verify()
            #expect(after.isClean && after.selected == 0, "\(after.problems)")
            #expect(try await archive.catalog.verifyAuditChain().isIntact)
        }
    }

    /// A file that cannot be deleted (here a folder stands where the WAV was: unlink fails even for root) stops
    /// the run with the path; the call stays pending with its rows, and once the obstacle is gone the next run finishes.
    @Test func aFileThatCannotBeDeletedLeavesTheCallPending() async throws {
        try await ArchiveVerifierTests.withArchive(calls: ["CAret1"]) { archive in
            let wav = archive.absolute(try #require(archive.streams["CAret1"]))
            try FileManager.default.removeItem(atPath: wav)
            try FileManager.default.createDirectory(atPath: "\(wav)/inside", withIntermediateDirectories: true)
            do {
                _ = try await Self.executor(archive).apply(try await Self.plan(archive), runId: "run1", at: Self.now)
                Issue.record("the run should have failed")
            } catch let error as RetentionError {
                #expect(error.code == "retention.cannot-delete")
                #expect(
                    error.description.contains("CAret1") && error.description.contains("stream-ST0.wav"),
                    "\(error)"
                )
            }
            #expect(try await archive.catalog.pendingRetentionDeletions().map(\.callSid) == ["CAret1"])
            #expect(try await archive.catalog.call(sid: "CAret1") != nil)
            try FileManager.default.removeItem(atPath: wav)
            let report = try await Self.executor(archive).apply(
                try await Self.plan(archive),
                runId: "run2",
                at: Self.now
            )
            #expect(report.resumed == ["CAret1"])
            #expect(try await archive.verifier().verify().isClean)
        }
    }

    /// A hold placed after the plan wins: the call is skipped and reported, its files and rows untouched.
    @Test func aHoldPlacedAfterThePlanWins() async throws {
        try await ArchiveVerifierTests.withArchive(calls: ["CAret1", "CAret2"]) { archive in
            let plan = try await Self.plan(archive)
            #expect(plan.delete.count == 2)
            try await archive.catalog.placeHold(callSid: "CAret2", reason: "just in time", by: "legal")
            let report = try await Self.executor(archive).apply(plan, runId: "run1", at: Self.now)
            #expect(report.deleted.map(\.callSid) == ["CAret1"])
            #expect(report.skippedSincePlan.map(\.callSid) == ["CAret2"])
            #expect(report.skippedSincePlan.first?.reason.contains("legal hold") == true)
            #expect(RecordingTests.files(in: try Self.folder(archive, "CAret2")).count == 5)
            #expect(try await archive.verifier().verify().isClean)
        }
    }

    /// A file retention does not know is never deleted: its folder is kept and reported, and verify flags the stray.
    @Test func aStrayFileKeepsItsFolder() async throws {
        try await ArchiveVerifierTests.withArchive(calls: ["CAret1"]) { archive in
            let folder = try Self.folder(archive, "CAret1")
            try FileSystem.writeAtomically(Array("notes".utf8), to: "\(folder)/notes.txt", durable: false)
            let report = try await Self.executor(archive).apply(
                try await Self.plan(archive),
                runId: "run1",
                at: Self.now
            )
            #expect(report.deleted.map(\.callSid) == ["CAret1"])
            #expect(report.foldersKept.map(\.callSid) == ["CAret1"])
            #expect(RecordingTests.files(in: folder) == ["notes.txt"])
            let verify = try await archive.verifier().verify()
            #expect(
                verify.problems.map(\.kind) == [.unexpected]
                    && verify.problems.first?.path.hasSuffix("notes.txt") == true
            )
        }
    }

    @Test(
        arguments: [
            ("90d", 90 * 86_400_000), ("36h", 36 * 3_600_000), ("12w", 12 * 604_800_000), (" 7d ", 7 * 86_400_000),
        ] as [(String, Int64)]
    )
    func agesParse(_ text: String, _ milliseconds: Int64) throws {
        #expect(try RetentionAge(parsing: text).milliseconds == milliseconds)
    }

    @Test(arguments: [
        ("", "it is empty"), ("90", "it has no unit; write 90d"), ("0d", "more than zero"),
        ("-5d", "cannot be negative"),
        ("6m", "months, minutes and years are not accepted"), ("1y", "write days"), ("90x", "unknown unit 'x'"),
        ("d90", "does not start with a number"), ("99999999999w", "longer than 100 years"),
    ])
    func badAgesAreRefusedSpecifically(_ text: String, _ fragment: String) {
        do {
            _ = try RetentionAge(parsing: text)
            Issue.record("'\(text)' was accepted")
        } catch {
            #expect(error.description.contains(fragment), "\(error.description)")
            #expect(error.code == "retention.bad-age")
        }
    }
}
