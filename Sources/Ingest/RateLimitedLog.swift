/// Logs a kind of event at most once per interval, counting what it held back: the one rule behind
/// every refusal log (the stream door's upgrades and connections, libwebsockets' own lines, and the
/// HTTP doors through their thread-safe `RefusalLog`).
public struct RateLimitedLog: Sendable {
    public let intervalMs: Int64
    private var last: [String: (at: Int64, suppressed: Int)] = [:]

    public init(intervalMs: Int64) { self.intervalMs = intervalMs }

    /// Returns the number suppressed since the last log when this one should be logged, else nil.
    /// `now` is any monotonic clock in milliseconds.
    public mutating func shouldLog(_ kind: String, now: Int64) -> Int? {
        if let entry = self.last[kind], now - entry.at < self.intervalMs {
            self.last[kind] = (entry.at, entry.suppressed + 1)
            return nil
        }
        let suppressed = self.last[kind]?.suppressed ?? 0
        self.last[kind] = (now, 0)
        return suppressed
    }
}
