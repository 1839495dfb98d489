import MediaStore

/// One `exorec serve` process known to the catalog under a node id (a row of `nodes`).
public struct NodeRecord: Sendable, Hashable, Codable {
    /// What the registry says of a node at a given time.
    public enum State: String, Sendable, Hashable, Codable, CaseIterable {
        /// Its lease runs: it renewed it within the last lease period.
        case live
        /// It stopped cleanly (its last act was to say so).
        case stopped
        /// Its lease ran out without a clean stop: the process died, hangs, or cannot reach the catalog.
        case lost
    }

    public var nodeId: String
    /// How many times a process registered under this id: the newest process's fencing token.
    public var incarnation: Int64
    public var host: String
    public var pid: Int64
    public var version: String
    public var startedAt: Timestamp
    public var heartbeatAt: Timestamp
    public var leaseUntil: Timestamp
    public var stoppedAt: Timestamp?
    /// Open streams on the node at its last heartbeat.
    public var activeStreams: Int64
    /// The surviving node that repaired this one's open streams after it was lost (nil otherwise).
    public var takenOverBy: String?

    public func state(at now: Timestamp) -> State {
        if self.stoppedAt != nil { return .stopped }
        return now < self.leaseUntil ? .live : .lost
    }

    enum CodingKeys: String, CodingKey {
        case incarnation, host, pid, version
        case nodeId = "node_id", startedAt = "started_at", heartbeatAt = "heartbeat_at", leaseUntil = "lease_until"
        case stoppedAt = "stopped_at", activeStreams = "active_streams", takenOverBy = "taken_over_by"
    }
}

/// What a starting node says about itself (``Catalog/registerNode(_:at:lease:takingOver:)``).
public struct NodeRegistration: Sendable, Hashable {
    public var nodeId: String
    public var host: String
    public var pid: Int64
    public var version: String

    public init(nodeId: String, host: String, pid: Int64, version: String) {
        self.nodeId = nodeId
        self.host = host
        self.pid = pid
        self.version = version
    }
}
