import ExotelKit
import Foundation
import MediaStore
import Testing

@testable import Catalog

/// Several `Catalog`s on one database at once, as several processes (later, nodes) share it: the write
/// transactions that read before they write (the audit append reads the chain's head; storing a callback
/// looks for an earlier delivery and the call) stay correct. On PostgreSQL this is the catalog's advisory
/// lock at the start of every write transaction; without it, concurrent appends fork or break the chain.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct CatalogConcurrencyTests {
    /// How many more catalogs join the first, on both databases. On SQLite this is also a test of each
    /// catalog's own thread for libsqlite3: on sqlite-nio's shared pool (one thread per core) three writers
    /// waiting out the write lock occupied every thread, the lock's holder could not run its COMMIT, and the
    /// waiters failed with "database is locked" after the busy timeout.
    static let peers = 3

    /// Opens `count` more catalogs on `path`, runs `body`, closes them.
    static func withPeers<R: Sendable>(
        _ path: String,
        count: Int,
        _ body: ([Catalog]) async throws -> R
    ) async throws -> R {
        var peers: [Catalog] = []
        do {
            for _ in 0..<count { peers.append(try await Catalog.open(path: path, logger: testLogger)) }
            let result = try await body(peers)
            for peer in peers { try await peer.close() }
            return result
        } catch {
            for peer in peers { try? await peer.close() }
            throw error
        }
    }

    /// Four catalogs append 25 audit entries each, all at once: one intact chain.
    @Test(arguments: CatalogTestBackend.all) func concurrentAuditAppendsKeepOneChain(
        backend: CatalogTestBackend
    )
        async throws
    {
        try await withTestCatalog(backend) { catalog, path async throws in
            let writers = Self.peers + 1
            try await Self.withPeers(path, count: writers - 1) { peers in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (index, writer) in ([catalog] + peers).enumerated() {
                        group.addTask {
                            for step in 0..<25 {
                                _ = try await writer.appendAudit(
                                    AuditEvent(at: at(Int64(step)), actor: "w\(index)", action: "step.\(step)")
                                )
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            let report = try await catalog.verifyAuditChain()
            #expect(report.entries == writers * 25)
            #expect(report.isIntact, "\(report.problems)")
            #expect(try await catalog.auditEntries(limit: 1000).map(\.seq) == Array(1...Int64(writers * 25)))
        }
    }

    /// The same status callback delivered through four catalogs at once is stored once,
    /// counted once per delivery, and queues one download.
    @Test(arguments: CatalogTestBackend.all) func oneCallbackDeliveredEverywhereAtOnceIsStoredOnce(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, path async throws in
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1"))
            let received = Fixture.received(Fixture.callback(sid: "CA1"), at: at(300))
            let results = try await Self.withPeers(path, count: Self.peers) { peers in
                try await withThrowingTaskGroup(of: StoredCallback.self) { group in
                    for writer in [catalog] + peers {
                        group.addTask { try await writer.storeCallback(received, queuedAt: at(301)) }
                    }
                    return try await group.reduce(into: [StoredCallback]()) { $0.append($1) }
                }
            }
            #expect(results.filter(\.record.isNew).count == 1)
            let stored = try await catalog.callbacks(callSid: "CA1")
            #expect(stored.count == 1)
            #expect(stored.first?.deliveries == Self.peers + 1)
            #expect(try await catalog.downloadJobs(callSid: "CA1").count == 1)
            #expect(try await catalog.call(sid: "CA1")?.status == "completed")
        }
    }
}
