import ExotelKit
import Foundation
import MediaStore
import Synchronization
import Testing

@testable import Catalog

/// `catalog migrate`'s copy: every row, the audit chain and the id sequences, between any two backends.
@Suite(.timeLimit(.minutes(2)))
struct CatalogCopyTests {
    /// Source → target: SQLite → SQLite always; SQLite → PostgreSQL and back when the test server is there.
    static let directions: [(CatalogTestBackend, CatalogTestBackend)] =
        CatalogTestBackend.all.contains(.postgres)
        ? [(.sqlite, .sqlite), (.sqlite, .postgres), (.postgres, .sqlite), (.postgres, .postgres)]
        : [(.sqlite, .sqlite)]

    /// The rebuild tests' world (calls, callbacks, a stream, a recording, a download, audit entries, campaign
    /// rows, events) plus a legal hold, copied: the same snapshot, audit log and head, campaign rows, holds
    /// and feed; new rows on the target get ids past the copied ones.
    @Test(arguments: Self.directions)
    func copyKeepsEveryRowAndTheAuditChain(from: CatalogTestBackend, to: CatalogTestBackend) async throws {
        try await CatalogRebuilderTests.withWorld { world async throws in
            try await withTestCatalog(from) { source, _ async throws in
                try await CatalogRebuilderTests.populate(world, source)
                _ = try await source.placeHold(callSid: "CA1", reason: "case 7", by: "legal", at: at(2000))
                try await withTestCatalogLocation(to) { targetPath async throws in
                    try await Catalog.withCatalog(path: targetPath, logger: testLogger) { target async throws in
                        let seen = ProgressLog()
                        let report = try await source.copy(into: target, batchSize: 2) { seen.append($0) }
                        #expect(report.tables.map(\.table) == Catalog.copyOrder.map(\.table))
                        #expect(report.rows > 20)
                        #expect(seen.tables == Catalog.copyOrder.map(\.table), "progress names every table in order")

                        #expect(try await target.snapshot().differences(from: try await source.snapshot()).isEmpty)
                        #expect(try await target.auditEntries() == (try await source.auditEntries()))
                        let chain = try await target.verifyAuditChain()
                        #expect(chain.isIntact)
                        #expect(chain.head == (try await source.verifyAuditChain()).head)
                        #expect(
                            try await target.campaignRows(campaignId: "spring")
                                == (try await source.campaignRows(campaignId: "spring"))
                        )
                        #expect(try await target.activeHold(callSid: "CA1")?.reason == "case 7")
                        let feed = try await source.events(after: 0)
                        #expect(!feed.isEmpty)
                        #expect(try await target.events(after: 0) == feed)

                        // The sequences continue past the copied ids.
                        let entry = try await target.appendAudit(AuditEvent(at: at(3000), actor: "t", action: "next"))
                        #expect(entry.seq == Int64(chain.entries) + 1)
                        #expect(try await target.verifyAuditChain().isIntact)
                        let stored = try await target.storeCallback(
                            Fixture.received(Fixture.callback(sid: "CANEW", recordingURL: nil), at: at(3001)),
                            queuedAt: at(3001)
                        )
                        let maxCopied = try await source.callbacks(callSid: "CA1").map(\.id).max() ?? 0
                        #expect(stored.record.isNew)
                        #expect(stored.record.id > maxCopied)
                        let event = try await target.events(after: feed.last?.id ?? 0)
                        #expect(event.allSatisfy { $0.id > feed.last?.id ?? 0 })
                        _ = try await target.enqueueDownload(
                            callSid: "CANEW",
                            url: "https://recordings.example/acme/new.mp3",
                            notBefore: at(3002),
                            at: at(3002)
                        )
                    }
                }
            }
        }
    }

    /// A target with rows is refused (and left alone) unless told to replace them; replacing deletes them,
    /// the append-only audit log included, and copies.
    @Test(arguments: CatalogTestBackend.all)
    func nonEmptyTargetIsRefusedUnlessReplaced(to: CatalogTestBackend) async throws {
        try await withTestCatalog(.sqlite) { source, _ async throws in
            try await source.recordPlacedCall(Fixture.placed(sid: "CA1"))
            try await source.appendAudit(AuditEvent(at: at(1), actor: "t", action: "source"))
            try await withTestCatalog(to) { target, _ async throws in
                try await target.recordPlacedCall(Fixture.placed(sid: "CAold"))
                try await target.appendAudit(AuditEvent(at: at(1), actor: "t", action: "old"))
                let error = await #expect(throws: CatalogError.self) { try await source.copy(into: target) }
                #expect(error?.code == "catalog.copy-target-not-empty")
                #expect(try await target.call(sid: "CAold") != nil)
                #expect(try await target.call(sid: "CA1") == nil)

                let report = try await source.copy(into: target, replace: true)
                #expect(report.replaced)
                #expect(try await target.call(sid: "CAold") == nil)
                #expect(try await target.call(sid: "CA1") != nil)
                #expect(try await target.auditEntries().map(\.action) == ["source"])
                #expect(try await target.verifyAuditChain().isIntact)
            }
        }
    }

    /// Copying a catalog onto itself is refused before anything is touched.
    @Test(arguments: CatalogTestBackend.all) func sameCatalogIsRefused(backend: CatalogTestBackend) async throws {
        try await withTestCatalog(backend) { catalog, path async throws in
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1"))
            try await Catalog.withCatalog(path: path, logger: testLogger) { again async throws in
                let error = await #expect(throws: CatalogError.self) {
                    try await catalog.copy(into: again, replace: true)
                }
                #expect(error?.code == "catalog.copy-refused")
            }
            #expect(try await catalog.call(sid: "CA1") != nil)
        }
    }
}

/// The tables a copy reported progress for, in order.
final class ProgressLog: Sendable {
    private let steps = Mutex<[CatalogCopyProgress]>([])
    func append(_ step: CatalogCopyProgress) { self.steps.withLock { $0.append(step) } }
    var tables: [String] {
        self.steps.withLock { steps in
            steps.map(\.table).reduce(into: [String]()) { if $0.last != $1 { $0.append($1) } }
        }
    }
}
