public import Catalog
import ExotelKit
import Glibc
public import Logging
public import MediaStore
public import ServiceLifecycle
import Synchronization

/// Keeps this node's row in the catalog's node registry: registers it at start, renews its lease every
/// heartbeat with its open streams, and marks it `stopped` on a clean shutdown. It also keeps what it last
/// read of every node, for `/metrics`.
///
/// Fencing: if another process registers under the same node id (it found this one's lease expired, or took
/// over after a crash), the next renewal fails with `CatalogError.nodeFenced` and this service ends with that
/// error, which stops the whole server: two processes never act as one node.
public final class NodeHeartbeat: Service, Sendable {
    public let configuration: NodeConfiguration
    private let catalog: Catalog
    private let activeStreams: @Sendable () -> Int
    private let logger: Logger
    private let state: Mutex<State>
    private let repairer = Mutex<LostNodeRepairer?>(nil)

    private struct State {
        var node: NodeRecord
        var registry: [NodeRecord] = []
    }

    /// Registers the node (see `Catalog.registerNode`); `takingOver` as there.
    public static func register(
        configuration: NodeConfiguration,
        catalog: Catalog,
        version: String,
        takingOver: Bool,
        activeStreams: @escaping @Sendable () -> Int,
        logger: Logger
    ) async throws -> NodeHeartbeat {
        let registration = NodeRegistration(
            nodeId: configuration.id,
            host: NodeIdentifier.hostName(),
            pid: Int64(getpid()),
            version: version
        )
        let node = try await catalog.registerNode(registration, lease: configuration.lease, takingOver: takingOver)
        var logger = logger
        logger[metadataKey: "component"] = "node"
        logger.info(
            "node registered",
            metadata: [
                "node": "\(node.nodeId)", "incarnation": "\(node.incarnation)", "lease": "\(configuration.lease)",
            ]
        )
        return NodeHeartbeat(
            configuration: configuration,
            node: node,
            catalog: catalog,
            activeStreams: activeStreams,
            logger: logger
        )
    }

    init(
        configuration: NodeConfiguration,
        node: NodeRecord,
        catalog: Catalog,
        activeStreams: @escaping @Sendable () -> Int,
        logger: Logger
    ) {
        self.configuration = configuration
        self.catalog = catalog
        self.activeStreams = activeStreams
        self.logger = logger
        self.state = Mutex(State(node: node, registry: [node]))
    }

    /// From now on, each heartbeat also repairs the open streams of nodes found lost (``LostNodeRepairer``).
    public func repairLostNodes(using repairer: LostNodeRepairer) {
        self.repairer.withLock { $0 = repairer }
    }

    /// This process's row as last written.
    public var node: NodeRecord { self.state.withLock { $0.node } }

    public func run() async throws {
        // This node's earlier process may have died between finalizing a stream and cataloguing it.
        if let repairer = self.repairer.withLock({ $0 }) {
            let node = self.node
            await repairer.catchUpCatalog(node: node.nodeId, states: [.complete], endedBefore: node.startedAt)
        }
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: self.configuration.heartbeatInterval)
                } catch {
                    break
                }
                try await self.beat()
            }
        }
        // The other services have stopped (this one is first in the list, so it stops last): say so.
        do {
            try await self.catalog.markNodeStopped(self.node)
            self.logger.info("node stopped", metadata: ["node": "\(self.configuration.id)"])
        } catch {
            self.logger.warning(
                "could not mark the node stopped; its lease runs out instead",
                metadata: ["error": "\(LogText.escaped("\(error)", limit: 1024))"]
            )
        }
    }

    /// One heartbeat: renews the lease and reads the registry. A catalog that fails is logged and tried again
    /// at the next heartbeat (the lease outlasts two missed ones); a fenced-off node ends the service.
    func beat(at time: Timestamp = .now()) async throws {
        do {
            let renewed = try await self.catalog.renewNodeLease(
                self.node,
                activeStreams: self.activeStreams(),
                at: time,
                lease: self.configuration.lease
            )
            let registry = try await self.catalog.nodes()
            self.state.withLock {
                $0.node = renewed
                $0.registry = registry
            }
            if let repairer = self.repairer.withLock({ $0 }) {
                await repairer.repairLostNodes(in: registry, survivor: renewed.nodeId, at: time)
            }
        } catch let error as CatalogError {
            if case .nodeFenced = error {
                self.logger.critical(
                    "another process registered as this node; stopping",
                    metadata: ["node": "\(self.configuration.id)", "error": "\(error)"]
                )
                throw error
            }
            self.logger.warning(
                "node heartbeat failed; trying again",
                metadata: ["error": "\(LogText.escaped("\(error)", limit: 1024))"]
            )
        }
    }

    /// The registry for `/metrics`: `exorec_node_up` per node (1 while its lease runs) and this node's
    /// identity, as of the last heartbeat.
    public func prometheusText(now: Timestamp = .now()) -> String {
        let (node, registry) = self.state.withLock { ($0.node, $0.registry) }
        var text = "# HELP exorec_node_info This process's node id and incarnation.\n# TYPE exorec_node_info gauge\n"
        text += "exorec_node_info{node=\"\(Self.label(node.nodeId))\",incarnation=\"\(node.incarnation)\"} 1\n"
        text +=
            "# HELP exorec_node_up Whether a node's lease runs (1) or it stopped or was lost (0), as of the last heartbeat.\n"
        text += "# TYPE exorec_node_up gauge\n"
        for other in registry.prefix(1000) {
            let up = other.nodeId == node.nodeId || other.state(at: now) == .live
            text += "exorec_node_up{node=\"\(Self.label(other.nodeId))\"} \(up ? 1 : 0)\n"
        }
        return text
    }

    /// A label value as Prometheus' text format wants it. exorec registers only checked ids, but the registry
    /// is a shared table: a row written by anything else must not break the exposition.
    static func label(_ value: String) -> String {
        var escaped = ""
        for scalar in value.unicodeScalars.prefix(NodeIdentifier.maxLength) {
            switch scalar {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: escaped += "?"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }
}
