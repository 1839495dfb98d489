import SQLKit

extension Table {
    /// The `exorec serve` processes that use this catalog, one row per node id (``NodeRecord``).
    static let nodes = "nodes"
    /// Calls a reconciler is asking the platform about (``Catalog/claimReconcile(callSid:by:at:until:)``).
    static let reconcileClaims = "reconcile_claims"
}

/// Version 8: the node registry, and the reconcilers' claims on the calls they ask the platform about.
///
/// A node's row says who runs under that id (host, process, version), since when, and how long its lease
/// lasts: the node renews `lease_until` with each heartbeat, and a node whose lease ran out without
/// `stopped_at` died (or cannot reach the catalog). `incarnation` counts the node's starts; it is the
/// fencing token: a heartbeat (or any later node-scoped write) names the incarnation it belongs to and
/// changes nothing once a newer process has registered under the same id. A lost node whose open streams a
/// surviving node repaired is `stopped`, with `taken_over_by` naming that node.
func createNodes(_ db: any SQLDatabase) async throws {
    typealias T = ColumnType
    try await db.create(table: Table.nodes)
        .column("node_id", type: T.text, .primaryKey(autoIncrement: false))
        .column("incarnation", type: T.integer, .notNull)
        .column("host", type: T.text, .notNull)
        .column("pid", type: T.integer, .notNull)
        .column("version", type: T.text, .notNull)
        .column("started_at", type: T.time, .notNull)
        .column("heartbeat_at", type: T.time, .notNull)
        .column("lease_until", type: T.time, .notNull)
        .column("stopped_at", type: T.time)
        .column("active_streams", type: T.integer, .notNull, .default(0))
        .column("taken_over_by", type: T.text)
        .run()
    // One row per call a reconciler asked about recently: another node's reconciler does not ask about it
    // again before `lease_until` (runtime state like `nodes`: not rebuilt from the files).
    try await db.create(table: Table.reconcileClaims)
        .column("call_sid", type: T.text, .primaryKey(autoIncrement: false))
        .column("node_id", type: T.text, .notNull)
        .column("lease_until", type: T.time, .notNull)
        .run()
}
