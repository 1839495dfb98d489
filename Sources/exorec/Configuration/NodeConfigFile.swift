import Ingest
import MediaStore

/// The `node` section of `exorec.yaml`: who this server is among the nodes that share a catalog.
///
/// | key | type | default |
/// |---|---|---|
/// | `node.id` | letters, digits, `.`, `_`, `-` (at most 63; first a letter or digit) | the host name; `EXOREC_NODE_ID` |
/// | `node.heartbeat_interval` | duration, 1s-60s (a node is lost after three missed) | `5s` |
struct NodeConfigFile: Sendable {
    /// nil: the host name.
    var id: String?
    var heartbeatIntervalMs: Int64 = 5000

    mutating func apply(_ root: ConfigFile.Section) throws {
        guard let section = try root.section("node") else { return }
        try section.only(["id", "heartbeat_interval"])
        if let id = try section.string("id") { try self.setId(id, key: "node.id") }
        if let ms = try section.duration("heartbeat_interval") {
            guard (1000...60_000).contains(ms) else {
                throw IngestError.configuration(key: "node.heartbeat_interval", reason: "must be between 1s and 60s")
            }
            self.heartbeatIntervalMs = ms
        }
    }

    mutating func applyEnvironment(_ environment: [String: String]) throws {
        if let id = environment["EXOREC_NODE_ID"], !id.isEmpty { try self.setId(id, key: "EXOREC_NODE_ID") }
    }

    private mutating func setId(_ id: String, key: String) throws {
        if let problem = NodeIdentifier.problem(with: id) {
            throw IngestError.configuration(key: key, reason: "the node id \(problem)")
        }
        self.id = id
    }
}
