import ArgumentParser
import Catalog
import ExotelKit
import MediaStore

/// `exorec nodes`: the `exorec serve` processes that use this catalog, and whether each is alive.
struct Nodes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes",
        abstract: "List the server nodes that use this catalog: live, stopped or lost.",
        discussion: """
            Every `exorec serve` registers in the catalog under its node id (node.id, EXOREC_NODE_ID, \
            or the host name) and renews a lease every heartbeat (node.heartbeat_interval, 5s); the \
            lease lasts three heartbeats. A node is live while its lease runs, stopped after a clean \
            shutdown, and lost when its lease ran out without one (the process died, hangs, or cannot \
            reach the catalog). INCARNATION counts the node's starts.

            Columns: node id, state, host, pid, version, incarnation, started (UTC), last heartbeat \
            (UTC), open streams at that heartbeat. No nodes is not an error (no server ever ran on \
            this catalog).

            EXIT CODES: 0 listed (even none); 1 failure (no catalog, catalog unreachable); 64 usage error.

            EXAMPLES:
              exorec nodes --storage /srv/exorec
              exorec nodes --json | jq -r '.[] | select(.state == "lost") | .node_id'
            """
    )

    @OptionGroup var options: ConfigOptions

    @Flag(name: .long, help: "Print one JSON array.")
    var json = false

    func run() async throws {
        let now = Timestamp.now()
        let nodes = try await self.options.withExistingCatalog(label: "exorec.nodes") { try await $0.nodes() }
        if self.json {
            try StandardOutput.json(nodes.map { NodeListing($0, at: now) })
            return
        }
        var rows = [
            ["NODE", "STATE", "HOST", "PID", "VERSION", "INCARNATION", "STARTED (UTC)", "HEARTBEAT (UTC)", "STREAMS"]
        ]
        for node in nodes {
            rows.append([
                node.nodeId, node.state(at: now).rawValue, LogText.escaped(node.host, limit: 64), "\(node.pid)",
                LogText.escaped(node.version, limit: 32), "\(node.incarnation)", "\(node.startedAt)",
                "\(node.heartbeatAt)", "\(node.activeStreams)",
            ])
        }
        for line in HoldRetentionTable.lines(rows) { StandardOutput.line(line) }
        if nodes.isEmpty { StandardError.line("no nodes: no server has run on this catalog") }
    }
}

/// A node as `exorec nodes --json` prints it: the registry row and its state now.
struct NodeListing: Encodable {
    let node: NodeRecord
    let state: NodeRecord.State

    init(_ node: NodeRecord, at now: Timestamp) {
        self.node = node
        self.state = node.state(at: now)
    }

    enum CodingKeys: String, CodingKey { case state }

    func encode(to encoder: any Encoder) throws {
        try self.node.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.state, forKey: .state)
    }
}
