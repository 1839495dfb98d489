import MediaStore
import SQLKit
import Testing

@testable import Catalog

@Suite(.timeLimit(.minutes(1)))
struct NodeRegistryTests {
    static let alpha = NodeRegistration(nodeId: "alpha", host: "host-a", pid: 100, version: "1.0")

    /// A node is live while its lease runs, lost once it ran out without a clean stop, stopped after one.
    @Test(arguments: CatalogTestBackend.all) func stateFollowsTheLease(_ backend: CatalogTestBackend) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            let node = try await catalog.registerNode(Self.alpha, at: at(0), lease: .seconds(15))
            #expect(node.incarnation == 1 && node.leaseUntil == at(15) && node.stoppedAt == nil)
            #expect(node.state(at: at(14)) == .live && node.state(at: at(15)) == .lost)

            let renewed = try await catalog.renewNodeLease(node, activeStreams: 7, at: at(10), lease: .seconds(15))
            #expect(renewed.leaseUntil == at(25) && renewed.activeStreams == 7)
            #expect(try await catalog.nodes() == [renewed])
            #expect(renewed.state(at: at(20)) == .live)

            try await catalog.markNodeStopped(renewed, at: at(12))
            let stopped = try #require(try await catalog.nodes().first)
            #expect(stopped.state(at: at(13)) == .stopped && stopped.stoppedAt == at(12) && stopped.activeStreams == 0)
        }
    }

    /// A second process under a live node id is refused (two processes would act as one node); one that knows
    /// the first is gone takes over with a new incarnation, and the old incarnation is fenced off.
    @Test(arguments: CatalogTestBackend.all) func aLiveNodeIsRefusedAndATakeOverFencesTheOldProcess(
        _ backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            let first = try await catalog.registerNode(Self.alpha, at: at(0), lease: .seconds(15))
            var second = Self.alpha
            second.pid = 200
            await #expect(throws: CatalogError.nodeLive(nodeId: "alpha", host: "host-a", pid: 100, leaseUntil: at(15)))
            {
                try await catalog.registerNode(second, at: at(5), lease: .seconds(15))
            }
            let takeOver = try await catalog.registerNode(second, at: at(6), lease: .seconds(15), takingOver: true)
            #expect(takeOver.incarnation == 2 && takeOver.pid == 200)

            await #expect(throws: CatalogError.nodeFenced(nodeId: "alpha", incarnation: 1, current: 2)) {
                try await catalog.renewNodeLease(first, activeStreams: 1, at: at(7), lease: .seconds(15))
            }
            // The fenced process's clean stop changes nothing either.
            try await catalog.markNodeStopped(first, at: at(8))
            let row = try #require(try await catalog.nodes().first)
            #expect(row.pid == 200 && row.incarnation == 2 && row.stoppedAt == nil && row.state(at: at(9)) == .live)
        }
    }

    /// A lost node (its lease ran out) is registered again by its next process without taking over.
    @Test(arguments: CatalogTestBackend.all) func aLostNodeRegistersAgain(_ backend: CatalogTestBackend) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            _ = try await catalog.registerNode(Self.alpha, at: at(0), lease: .seconds(15))
            let again = try await catalog.registerNode(Self.alpha, at: at(16), lease: .seconds(15))
            #expect(again.incarnation == 2 && again.startedAt == at(16) && again.state(at: at(17)) == .live)
            let beta = try await catalog.registerNode(
                NodeRegistration(nodeId: "beta", host: "host-b", pid: 5, version: "1.0"),
                at: at(16),
                lease: .seconds(15)
            )
            #expect(try await catalog.nodes().map(\.nodeId) == ["alpha", "beta"] && beta.incarnation == 1)
        }
    }

    /// A catalog rebuilt under a running node lost its row: the next heartbeat writes it again.
    @Test(arguments: CatalogTestBackend.all) func aVanishedRowIsWrittenAgainByTheHeartbeat(
        _ backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            let node = try await catalog.registerNode(Self.alpha, at: at(0), lease: .seconds(15))
            try await catalog.transaction("forget nodes") { db in try await db.delete(from: "nodes").run() }
            #expect(try await catalog.nodes().isEmpty)
            let renewed = try await catalog.renewNodeLease(node, activeStreams: 2, at: at(5), lease: .seconds(15))
            #expect(try await catalog.nodes() == [renewed] && renewed.incarnation == 1)
        }
    }

    /// A survivor claims a lost node once: only while it is lost, never twice, and the lost incarnation is
    /// fenced off afterwards; the node's next process registers as usual.
    @Test(arguments: CatalogTestBackend.all) func aLostNodeIsTakenOverOnce(_ backend: CatalogTestBackend) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            let lost = try await catalog.registerNode(Self.alpha, at: at(0), lease: .seconds(15))
            #expect(try await catalog.takeOverLostNode(lost, by: "beta", at: at(10)) == false)  // still live
            #expect(try await catalog.takeOverLostNode(lost, by: "beta", at: at(20)))
            #expect(try await catalog.takeOverLostNode(lost, by: "gamma", at: at(21)) == false)  // taken already
            let row = try #require(try await catalog.nodes().first)
            #expect(row.takenOverBy == "beta" && row.stoppedAt == at(20) && row.incarnation == 2)
            #expect(row.state(at: at(22)) == .stopped)
            await #expect(throws: CatalogError.nodeFenced(nodeId: "alpha", incarnation: 1, current: 2)) {
                try await catalog.renewNodeLease(lost, activeStreams: 0, at: at(23), lease: .seconds(15))
            }
            let next = try await catalog.registerNode(Self.alpha, at: at(30), lease: .seconds(15))
            #expect(next.incarnation == 3 && next.takenOverBy == nil)
            #expect(try await catalog.nodes().first?.takenOverBy == nil)
        }
    }
}
