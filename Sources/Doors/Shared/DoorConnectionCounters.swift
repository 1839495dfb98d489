import Synchronization

/// What one door did to connections before any request reached a responder: closed because its
/// source already held its share (`per-source`), or because a request was not complete within the
/// hard deadline (`request-deadline`, a trickling head or body). Counted from the event loops,
/// read by `/metrics`.
public final class DoorConnectionCounters: Sendable {
    public let door: String
    private let perSource = Atomic<Int>(0)
    private let deadline = Atomic<Int>(0)

    public init(door: String) {
        self.door = door
    }

    func refusedPerSource() { self.perSource.add(1, ordering: .relaxed) }
    func cutAtDeadline() { self.deadline.add(1, ordering: .relaxed) }

    public var refusedPerSourceCount: Int { self.perSource.load(ordering: .relaxed) }
    public var cutAtDeadlineCount: Int { self.deadline.load(ordering: .relaxed) }

    /// `exorec_door_closed_connections_total{door,reason}`, with its HELP and TYPE lines when `header` is set
    /// (the first door of a scrape writes them).
    public func prometheusText(header: Bool) -> String {
        let name = "exorec_door_closed_connections_total"
        var out =
            header
            ? "# HELP \(name) HTTP door connections closed before a responder saw a request, by reason.\n# TYPE \(name) counter\n"
            : ""
        out += "\(name){door=\"\(self.door)\",reason=\"per-source\"} \(self.refusedPerSourceCount)\n"
        out += "\(name){door=\"\(self.door)\",reason=\"request-deadline\"} \(self.cutAtDeadlineCount)\n"
        return out
    }
}
