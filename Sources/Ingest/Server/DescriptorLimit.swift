import Foundation
import MediaStore

/// The process's open-file limit (`RLIMIT_NOFILE`) and how many descriptors are open: the numbers
/// the stream door's descriptor budget is made of.
public enum DescriptorLimit {
    /// The soft and hard limit, as `getrlimit` reports them.
    public struct Limits: Sendable, Hashable {
        public var soft: Int
        public var hard: Int
    }

    /// The current limits.
    public static func current() -> Limits {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return Limits(soft: 1024, hard: 1024) }
        return Limits(soft: Self.clamp(limit.rlim_cur), hard: Self.clamp(limit.rlim_max))
    }

    /// Raises the soft limit to the hard one (what an unprivileged process may do).
    ///
    /// - Returns: the limits before and after; `after` equals `before` when nothing could be raised.
    @discardableResult
    public static func raiseToHard() -> (before: Limits, after: Limits) {
        let before = Self.current()
        var limit = rlimit()
        guard before.soft < before.hard, getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
            return (before, before)
        }
        limit.rlim_cur = limit.rlim_max
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) != 0 {
            // Some systems refuse an unlimited or very large soft limit: settle for a high one.
            limit.rlim_cur = rlim_t(min(before.hard, 1 << 20))
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return (before, Self.current())
    }

    /// How many descriptors this process has open (`/proc/self/fd`), or nil where that cannot be read.
    public static func openCount() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            if !FileSystem.entryName(entry).hasPrefix(".") { count += 1 }
        }
        return count - 1  // the directory's own descriptor
    }

    private static func clamp(_ value: rlim_t) -> Int {
        value > rlim_t(Int32.max) ? Int(Int32.max) : Int(value)
    }
}

/// How the stream door spends the descriptors it may open.
///
/// Every open stream holds two (its socket and its WAV file); a connection that has not upgraded
/// holds one. `reserve` descriptors are never given to connections: finalizing a stream (sidecar
/// writes, reading the WAV back to hash it, the folder's fsync), the catalog, logs and the other
/// doors draw on them, so a flood of connections can never make an open stream's finalize fail.
public struct DescriptorBudget: Sendable, Hashable {
    /// The soft `RLIMIT_NOFILE` the process runs with.
    public var limit: Int
    /// Descriptors open when the server started (libraries, the storage lock, the catalog, logs).
    public var baseline: Int
    /// Descriptors kept back beyond the baseline (`ingest.descriptor_reserve`).
    public var reserve: Int

    public init(limit: Int, baseline: Int, reserve: Int) {
        self.limit = limit
        self.baseline = baseline
        self.reserve = reserve
    }

    /// Descriptors the door may hold for sockets and stream files together.
    public var forConnections: Int { max(0, self.limit - self.baseline - self.reserve) }

    /// How many streams fit at once (two descriptors each), before `ingest.max_streams`.
    public var streamCapacity: Int { self.forConnections / 2 }

    /// Whether one more socket fits next to `sockets` open sockets and `streams` open stream files.
    public func admitsSocket(sockets: Int, streams: Int) -> Bool {
        sockets + streams + 1 <= self.forConnections
    }

    /// Whether a connection already counted in `sockets` may open its stream file.
    public func admitsStream(sockets: Int, streams: Int) -> Bool {
        sockets + streams + 1 <= self.forConnections
    }
}
