import Catalog
import MediaStore

/// What one claim of a download job came to.
public struct DownloadOutcome: Sendable, Hashable {
    public enum Result: Sendable, Hashable {
        /// Downloaded, checked and stored; `path` is relative to the storage root.
        case stored(path: String)
        /// The same bytes were in the call's folder already (an earlier attempt stopped after storing them);
        /// catalogued and completed, nothing new written.
        case alreadyStored(path: String)
        /// Stored under a suffixed name because `conflictWith` holds a *different* recording of the call;
        /// both are kept and the audit entry says so.
        case storedBesideConflict(path: String, conflictWith: String)
        /// Not there yet, or a passing failure: queued again for `at`.
        case retrying(at: Timestamp, reason: String)
        /// Given up after ``RecordingFetcherConfiguration/giveUpAfter``.
        case failed(reason: String)
        /// Refused for good: a host that is not allowed, credentials in the URL, not audio, too large, or a
        /// 4xx other than 401/403/404/429.
        case refused(reason: String)
        /// The fetcher stopped mid-download; the job went back to the queue as due at once.
        case interrupted
        /// Another worker holds the job now (this claim's lease ran out); whatever this claim did is left
        /// to that one.
        case leaseLost
    }

    public var jobId: Int64
    public var callSid: String
    public var url: String
    public var result: Result

    public init(jobId: Int64, callSid: String, url: String, result: Result) {
        self.jobId = jobId
        self.callSid = callSid
        self.url = url
        self.result = result
    }
}

/// Counters of one ``RecordingFetcher`` since it was created (swift-metrics is not a dependency: read them
/// with ``RecordingFetcher/metrics``, or from the `download.*` fields of its log lines).
public struct RecordingFetcherMetrics: Sendable, Hashable, Codable {
    /// Jobs claimed (first claims and reclaims of expired leases alike).
    public var claimed = 0
    /// Jobs that stored a new file.
    public var stored = 0
    /// Jobs whose bytes were stored already.
    public var alreadyStored = 0
    /// New files stored beside a different recording of the same call.
    public var conflicts = 0
    public var retried = 0
    public var failed = 0
    public var refused = 0
    public var interrupted = 0
    public var leasesLost = 0
    /// Bytes of new files stored.
    public var bytesStored: Int64 = 0
    /// Downloads running now.
    public var inFlight = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case claimed, stored, conflicts, retried, failed, refused, interrupted
        case alreadyStored = "already_stored", leasesLost = "leases_lost", bytesStored = "bytes_stored", inFlight =
            "in_flight"
    }
}
