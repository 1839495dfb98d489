public import MediaStore

/// Who this `exorec serve` process is among the nodes that share a catalog, and how often it says it is alive.
///
/// The id (``NodeIdentifier``'s rules) names the node in the catalog's node registry (`exorec nodes`), in
/// `/metrics` and in logs. A node's lease lasts three heartbeats: a node that missed three in a row is
/// `lost` (`NodeRecord.State`).
public struct NodeConfiguration: Sendable, Hashable {
    public static let heartbeatRange: ClosedRange<Duration> = .seconds(1) ... .seconds(60)

    public var id: String
    public var heartbeatInterval: Duration
    /// How long a heartbeat keeps the node live: three intervals.
    public var lease: Duration { self.heartbeatInterval * 3 }

    /// By default the host name (``NodeIdentifier/fromHostName()``) and a heartbeat every 5 s.
    public init(id: String = NodeIdentifier.fromHostName(), heartbeatInterval: Duration = .seconds(5)) {
        self.id = id
        self.heartbeatInterval = heartbeatInterval
    }
}
