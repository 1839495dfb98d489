import MediaStore

/// What an archived file is.
public enum ArchiveKind: String, Sendable, Hashable, Codable, CaseIterable {
    case stream
    case streamSidecar = "stream-sidecar"
    case recording
    case recordingSidecar = "recording-sidecar"
    /// The call's `call.json`, once the call is over and its recordings fetched.
    case call

    /// Media (which ``Catalog`` may evict locally after upload), as opposed to sidecars and `call.json`.
    public var isMedia: Bool { self == .stream || self == .recording }
}

/// Where an upload job stands.
public enum ArchiveJobState: String, Sendable, Hashable, Codable, CaseIterable {
    case queued, running, done, failed
}

/// One row of the archive's upload queue.
public struct ArchiveJob: Sendable, Hashable, Codable {
    public var id: Int64
    /// The file, relative to the storage root; the object key is the configured prefix and this path.
    public var path: String
    public var callSid: String
    public var kind: ArchiveKind
    public var state: ArchiveJobState
    public var attempts: Int
    public var nextAttemptAt: Timestamp
    public var leaseUntil: Timestamp?
    public var claimToken: String?
    public var lastError: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    enum CodingKeys: String, CodingKey {
        case id, path, kind, state, attempts
        case callSid = "call_sid", nextAttemptAt = "next_attempt_at", leaseUntil = "lease_until"
        case claimToken = "claim_token", lastError = "last_error", createdAt = "created_at", updatedAt = "updated_at"
    }
}

/// One file sealed in the bucket: the version exorec uploaded and the lock it set.
public struct ArchivedObject: Sendable, Hashable, Codable {
    public var path: String
    public var callSid: String
    public var kind: ArchiveKind
    public var bucket: String
    public var key: String
    public var versionID: String
    /// The file's SHA-256, lowercase hex.
    public var sha256: String
    /// `x-amz-checksum-sha256` as the store recorded it (base64; `…-N` for a multipart upload).
    public var checksum: String
    public var bytes: Int64
    /// `COMPLIANCE` or `GOVERNANCE`; nil when uploaded without retention.
    public var lockMode: String?
    public var retainUntil: Timestamp?
    /// The legal hold the store was last told (or set at upload).
    public var legalHold: Bool
    public var holdVersion: Int64
    public var holdSyncedVersion: Int64
    public var uploadedAt: Timestamp
    public var uploadedBy: String
    /// When the local copy was removed (``Catalog/markEvicted(path:at:)``); nil while it is on disk.
    public var evictedAt: Timestamp?

    /// Whether the store's legal hold may differ from the catalog's.
    public var holdSyncPending: Bool { self.holdVersion != self.holdSyncedVersion }

    enum CodingKeys: String, CodingKey {
        case path, kind, bucket, key, sha256, checksum, bytes
        case callSid = "call_sid", versionID = "version_id", lockMode = "lock_mode", retainUntil = "retain_until"
        case legalHold = "legal_hold", holdVersion = "hold_version", holdSyncedVersion = "hold_synced_version"
        case uploadedAt = "uploaded_at", uploadedBy = "uploaded_by", evictedAt = "evicted_at"
    }

    public init(
        path: String,
        callSid: String,
        kind: ArchiveKind,
        bucket: String,
        key: String,
        versionID: String,
        sha256: String,
        checksum: String,
        bytes: Int64,
        lockMode: String?,
        retainUntil: Timestamp?,
        legalHold: Bool,
        uploadedAt: Timestamp,
        uploadedBy: String
    ) {
        self.path = path
        self.callSid = callSid
        self.kind = kind
        self.bucket = bucket
        self.key = key
        self.versionID = versionID
        self.sha256 = sha256
        self.checksum = checksum
        self.bytes = bytes
        self.lockMode = lockMode
        self.retainUntil = retainUntil
        self.legalHold = legalHold
        self.holdVersion = 0
        self.holdSyncedVersion = 0
        self.uploadedAt = uploadedAt
        self.uploadedBy = uploadedBy
        self.evictedAt = nil
    }
}

/// The archive at a glance (`exorec archive status`).
public struct ArchiveStatus: Sendable, Hashable, Codable {
    public var queued: Int
    public var running: Int
    public var done: Int
    public var failed: Int
    public var objects: Int
    public var bytes: Int64
    public var holdSyncPending: Int
    public var evicted: Int
    /// The oldest queued job's error, if it failed before.
    public var lastError: String?

    enum CodingKeys: String, CodingKey {
        case queued, running, done, failed, objects, bytes, evicted
        case holdSyncPending = "hold_sync_pending", lastError = "last_error"
    }
}
