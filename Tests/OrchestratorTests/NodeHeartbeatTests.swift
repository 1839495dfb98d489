import Catalog
import ExorecTesting
import MediaStore
import Testing

@testable import Orchestrator

@Suite(.timeLimit(.minutes(1)))
struct NodeHeartbeatTests {
    static func withCatalog(_ body: (Catalog) async throws -> Void) async throws {
        let path = makeTemporaryDirectory() + "/catalog.sqlite"
        try await Catalog.withCatalog(path: path, logger: RecordingTests.quietLogger()) { catalog in
            _ = try await catalog.migrate()
            try await body(catalog)
        }
    }

    static func heartbeat(_ catalog: Catalog, id: String = "alpha", streams: Int = 0) async throws -> NodeHeartbeat {
        try await NodeHeartbeat.register(
            configuration: NodeConfiguration(id: id, heartbeatInterval: .seconds(1)),
            catalog: catalog,
            version: "test",
            takingOver: true,
            activeStreams: { streams },
            logger: RecordingTests.quietLogger()
        )
    }

    /// Each beat renews the lease with the open streams and reads the registry for `/metrics`.
    @Test func aBeatRenewsTheLeaseAndRefreshesTheRegistry() async throws {
        try await Self.withCatalog { catalog in
            let beta = try await Self.heartbeat(catalog, id: "beta")
            let alpha = try await Self.heartbeat(catalog, streams: 12)
            let registered = alpha.node
            let later = Timestamp(millisecondsSinceEpoch: registered.heartbeatAt.millisecondsSinceEpoch + 2000)
            try await alpha.beat(at: later)
            #expect(alpha.node.heartbeatAt == later && alpha.node.activeStreams == 12)
            #expect(alpha.node.leaseUntil.millisecondsSinceEpoch == later.millisecondsSinceEpoch + 3000)
            let text = alpha.prometheusText(now: later)
            #expect(text.contains("exorec_node_info{node=\"alpha\",incarnation=\"1\"} 1"))
            #expect(
                text.contains("exorec_node_up{node=\"alpha\"} 1") && text.contains("exorec_node_up{node=\"beta\"} 1")
            )
            // Beta stopped beating: once its lease ran out, alpha's metrics say so.
            let much = Timestamp(millisecondsSinceEpoch: beta.node.leaseUntil.millisecondsSinceEpoch + 1)
            #expect(alpha.prometheusText(now: much).contains("exorec_node_up{node=\"beta\"} 0"))
        }
    }

    /// A process whose node id was registered again by another process ends its heartbeat with the fencing
    /// error (which stops the server), instead of renewing a lease that is no longer its own.
    @Test func aFencedProcessStops() async throws {
        try await Self.withCatalog { catalog in
            let old = try await Self.heartbeat(catalog)
            let new = try await Self.heartbeat(catalog)
            #expect(new.node.incarnation == 2)
            await #expect(throws: CatalogError.nodeFenced(nodeId: "alpha", incarnation: 1, current: 2)) {
                try await old.beat()
            }
            try await new.beat()
        }
    }

    /// Label values are escaped: a row some other writer put in the shared registry cannot break `/metrics`.
    @Test func labelValuesAreEscaped() {
        #expect(NodeHeartbeat.label("a\"b\\c\nd\re") == "a\\\"b\\\\c\\nd?e")
        #expect(NodeHeartbeat.label(String(repeating: "x", count: 500)).count == NodeIdentifier.maxLength)
    }
}
