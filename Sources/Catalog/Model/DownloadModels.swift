import MediaStore

/// Where a download job stands.
public enum DownloadState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Waiting for `next_attempt_at`.
    case queued
    /// Claimed by a worker until `lease_until`; claimable again after that.
    case running
    /// The file and its sidecar are stored.
    case done
    /// Given up after the worker's retries.
    case failed
    /// The platform refused for good (e.g. 403/404): retrying would not help.
    case refused
}

/// One row of the download queue.
public struct DownloadJob: Sendable, Hashable, Codable {
    public var id: Int64
    public var callSid: String
    public var url: String
    public var state: DownloadState
    /// Claims so far (the current one included).
    public var attempts: Int
    public var nextAttemptAt: Timestamp
    public var leaseUntil: Timestamp?
    /// Identifies the claim: finishing a job needs the token of the claim that holds it.
    public var claimToken: String?
    public var lastError: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    enum CodingKeys: String, CodingKey {
        case id, url, state, attempts
        case callSid = "call_sid", nextAttemptAt = "next_attempt_at", leaseUntil = "lease_until"
        case claimToken = "claim_token", lastError = "last_error", createdAt = "created_at", updatedAt = "updated_at"
    }
}

/// What ``Catalog/enqueueDownload(callSid:url:notBefore:at:)`` did.
public struct DownloadEnqueueResult: Sendable, Hashable {
    public var job: DownloadJob
    /// False when the same call and URL were queued before (the existing job is returned unchanged).
    public var isNew: Bool
}
