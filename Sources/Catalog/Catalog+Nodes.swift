import MediaStore
import SQLKit

extension Catalog {
    /// The longest node id accepted; ids are also restricted to letters, digits, `.`, `_` and `-`
    /// (``NodeIdentity``), because they name lock files and appear in logs and metrics labels.
    public static let maxNodeIdLength = 63

    /// Registers a starting node: its row gets this process, a new incarnation (the fencing token every
    /// later heartbeat names) and a lease until `time + lease`.
    ///
    /// A node id whose lease is still running belongs to a live process, and registering it again would make
    /// two nodes out of one: refused with ``CatalogError/nodeLive(nodeId:host:pid:leaseUntil:)`` unless the
    /// caller knows that process is gone (`takingOver`: it holds the node's lock in the storage root, which
    /// the kernel released when that process died).
    public func registerNode(
        _ registration: NodeRegistration,
        at time: Timestamp = .now(),
        lease: Duration,
        takingOver: Bool = false
    ) async throws -> NodeRecord {
        return try await self.transaction("register node") { db in
            let existing = try await db.select().column("*").from(Table.nodes)
                .where("node_id", .equal, registration.nodeId).first().map(NodeRecord.init(row:))
            if let existing, existing.state(at: time) == .live, !takingOver {
                throw CatalogError.nodeLive(
                    nodeId: existing.nodeId,
                    host: existing.host,
                    pid: existing.pid,
                    leaseUntil: existing.leaseUntil
                )
            }
            let incarnation = (existing?.incarnation ?? 0) + 1
            let record = NodeRecord(
                nodeId: registration.nodeId,
                incarnation: incarnation,
                host: registration.host,
                pid: registration.pid,
                version: registration.version,
                startedAt: time,
                heartbeatAt: time,
                leaseUntil: time.advanced(by: lease),
                stoppedAt: nil,
                activeStreams: 0,
                takenOverBy: nil
            )
            try await Self.writeNode(db, record, replacing: existing != nil)
            return record
        }
    }

    /// Renews a live node's lease and records its open streams. Names the incarnation it belongs to: once
    /// another process registered under the same id, this process is fenced off and told so with
    /// ``CatalogError/nodeFenced(nodeId:incarnation:current:)`` (it must stop acting as the node). A row that
    /// vanished (a catalog rebuilt under a running node) is written again.
    @discardableResult
    public func renewNodeLease(
        _ node: NodeRecord,
        activeStreams: Int,
        at time: Timestamp = .now(),
        lease: Duration
    ) async throws -> NodeRecord {
        var renewed = node
        renewed.heartbeatAt = time
        renewed.leaseUntil = time.advanced(by: lease)
        renewed.activeStreams = Int64(activeStreams)
        renewed.stoppedAt = nil
        return try await self.transaction("renew node lease") { db in
            let current = try await db.select().column("incarnation").from(Table.nodes)
                .where("node_id", .equal, node.nodeId).first()
                .map { try $0.value("incarnation", as: Int64.self) }
            if let current, current != node.incarnation {
                throw CatalogError.nodeFenced(nodeId: node.nodeId, incarnation: node.incarnation, current: current)
            }
            try await Self.writeNode(db, renewed, replacing: current != nil)
            return renewed
        }
    }

    /// Marks the node stopped (its last act on a clean shutdown); a no-op for a fenced-off incarnation.
    public func markNodeStopped(_ node: NodeRecord, at time: Timestamp = .now()) async throws {
        try await self.transaction("mark node stopped") { db in
            try await db.update(Table.nodes)
                .set("stopped_at", to: time.millisecondsSinceEpoch)
                .set("lease_until", to: time.millisecondsSinceEpoch)
                .set("active_streams", to: 0)
                .where("node_id", .equal, node.nodeId).where("incarnation", .equal, node.incarnation)
                .run()
        }
    }

    /// Claims a lost node for repair by `survivor`: its row becomes `stopped`, `taken_over_by` the survivor,
    /// and its incarnation moves on (so the lost process, should it come back, is fenced off). Only a node
    /// still lost as `node` says (same incarnation, not stopped, lease over at `time`) is claimed; false when
    /// another survivor claimed it first or the node came back.
    public func takeOverLostNode(
        _ node: NodeRecord,
        by survivor: String,
        at time: Timestamp = .now()
    ) async throws
        -> Bool
    {
        let now = time.millisecondsSinceEpoch
        return try await self.transaction("take over lost node") { db in
            try await db.update(Table.nodes)
                .set("incarnation", to: node.incarnation + 1)
                .set("stopped_at", to: now).set("lease_until", to: now).set("active_streams", to: 0)
                .set("taken_over_by", to: survivor)
                .where("node_id", .equal, node.nodeId).where("incarnation", .equal, node.incarnation)
                .where("stopped_at", .is, SQLLiteral.null).where("lease_until", .lessThanOrEqual, now)
                .returning("node_id").first() != nil
        }
    }

    /// Claims the call for one Call Details request by `node`'s reconciler, until `until`: false while another
    /// claim on it runs. Several nodes sweep the same calls; the claim makes each call asked about once per
    /// lease across all of them. Expired claims are dropped on the way (the table holds only running ones).
    public func claimReconcile(
        callSid: String,
        by node: String,
        at time: Timestamp,
        until: Timestamp
    ) async throws
        -> Bool
    {
        let now = time.millisecondsSinceEpoch
        return try await self.transaction("claim reconcile") { db in
            try await db.delete(from: Table.reconcileClaims).where("lease_until", .lessThanOrEqual, now).run()
            let held = try await db.select().column("call_sid").from(Table.reconcileClaims)
                .where("call_sid", .equal, callSid).first()
            guard held == nil else { return false }
            try await db.insert(into: Table.reconcileClaims)
                .columns("call_sid", "node_id", "lease_until")
                .values(callSid, node, until.millisecondsSinceEpoch)
                .run()
            return true
        }
    }

    /// Every node the catalog has seen, by id.
    public func nodes() async throws -> [NodeRecord] {
        try await self.exclusive("read nodes") { db in
            try await db.select().column("*").from(Table.nodes).orderBy("node_id").all().map(NodeRecord.init(row:))
        }
    }

    private static func writeNode(_ db: any SQLDatabase, _ node: NodeRecord, replacing: Bool) async throws {
        if replacing {
            try await db.update(Table.nodes)
                .set("incarnation", to: node.incarnation).set("host", to: node.host).set("pid", to: node.pid)
                .set("version", to: node.version).set("started_at", to: node.startedAt.millisecondsSinceEpoch)
                .set("heartbeat_at", to: node.heartbeatAt.millisecondsSinceEpoch)
                .set("lease_until", to: node.leaseUntil.millisecondsSinceEpoch)
                .set("stopped_at", to: node.stoppedAt?.millisecondsSinceEpoch)
                .set("active_streams", to: node.activeStreams)
                .set("taken_over_by", to: node.takenOverBy)
                .where("node_id", .equal, node.nodeId)
                .run()
        } else {
            try await db.insert(into: Table.nodes)
                .columns(
                    "node_id",
                    "incarnation",
                    "host",
                    "pid",
                    "version",
                    "started_at",
                    "heartbeat_at",
                    "lease_until",
                    "stopped_at",
                    "active_streams"
                )
                .values(
                    node.nodeId,
                    node.incarnation,
                    node.host,
                    node.pid,
                    node.version,
                    node.startedAt.millisecondsSinceEpoch,
                    node.heartbeatAt.millisecondsSinceEpoch,
                    node.leaseUntil.millisecondsSinceEpoch,
                    node.stoppedAt?.millisecondsSinceEpoch,
                    node.activeStreams
                )
                .run()
        }
    }
}

extension NodeRecord {
    init(row: any SQLRow) throws {
        self.nodeId = try row.value("node_id")
        self.incarnation = try row.value("incarnation")
        self.host = try row.value("host")
        self.pid = try row.value("pid")
        self.version = try row.value("version")
        self.startedAt = try row.timestamp("started_at")
        self.heartbeatAt = try row.timestamp("heartbeat_at")
        self.leaseUntil = try row.timestamp("lease_until")
        self.stoppedAt = try row.optionalTimestamp("stopped_at")
        self.activeStreams = try row.value("active_streams")
        self.takenOverBy = try row.optional("taken_over_by")
    }
}
