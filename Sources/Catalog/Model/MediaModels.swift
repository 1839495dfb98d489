import MediaStore

/// What produced a media file.
public enum MediaKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// A live stream recorded by the ingest (`stream-<sid>.wav`).
    case stream
    /// The platform's recording, downloaded (`recording.mp3`).
    case recording
}

/// Where a media file stands.
public enum MediaFileState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Still being written (a stream in progress).
    case recording
    /// Finished: flushed, hashed, read-only.
    case complete
    /// Its writer died; repaired at start-up, audio up to the crash kept.
    case interrupted
    /// A download that received fewer bytes than announced.
    case incomplete
    /// The sidecar names it but the file is not on disk (found by a rebuild or a verify).
    case missing

    public init(_ state: StreamSidecar.State) {
        switch state {
        case .recording: self = .recording
        case .complete: self = .complete
        case .interrupted: self = .interrupted
        }
    }

    public init(_ state: RecordingSidecar.State) {
        switch state {
        case .complete: self = .complete
        case .incomplete: self = .incomplete
        }
    }
}

/// One media file. `path` is relative to the storage root and is the file's identity.
///
/// The times are the media's own (a stream's start and end, a recording's fetch), not when the index was
/// written, so a rebuilt catalog has the same values.
public struct MediaFile: Sendable, Hashable, Codable {
    public var callSid: String
    public var kind: MediaKind
    public var path: String
    /// `wav`, `mp3`, …
    public var format: String
    public var sampleRate: Int?
    public var channels: Int?
    public var durationSeconds: Double?
    public var bytes: Int64?
    /// Lowercase hex; nil until the file is finished.
    public var sha256: String?
    public var state: MediaFileState
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    enum CodingKeys: String, CodingKey {
        case kind, path, format, channels, bytes, sha256, state
        case callSid = "call_sid", sampleRate = "sample_rate", durationSeconds = "duration_seconds"
        case createdAt = "created_at", updatedAt = "updated_at"
    }

    public init(
        callSid: String,
        kind: MediaKind,
        path: String,
        format: String,
        sampleRate: Int?,
        channels: Int?,
        durationSeconds: Double?,
        bytes: Int64?,
        sha256: String?,
        state: MediaFileState,
        createdAt: Timestamp,
        updatedAt: Timestamp
    ) {
        self.callSid = callSid
        self.kind = kind
        self.path = path
        self.format = format
        self.sampleRate = sampleRate
        self.channels = channels
        self.durationSeconds = durationSeconds
        self.bytes = bytes
        self.sha256 = sha256
        self.state = state
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// One recorded stream, from its sidecar.
public struct StreamRecord: Sendable, Hashable, Codable {
    public var streamSid: String
    public var callSid: String
    public var accountSid: String
    /// The WAV, relative to the storage root.
    public var path: String
    public var state: StreamSidecar.State
    public var sampleRate: Int
    public var channels: Int?
    public var from: String?
    public var to: String?
    public var customParameters: [String: String]
    public var startedAt: Timestamp
    public var endedAt: Timestamp?
    public var closeReason: String?
    public var frames: Int64
    public var durationSeconds: Double
    public var gapMsTotal: Int64
    /// The call's pauses while the stream ran (PCI pause); nil when it never was.
    public var pauses: [StreamSidecar.Pause]?

    enum CodingKeys: String, CodingKey {
        case path, state, channels, from, to, frames, pauses
        case streamSid = "stream_sid", callSid = "call_sid", accountSid = "account_sid", sampleRate = "sample_rate"
        case customParameters = "custom_parameters", startedAt = "started_at", endedAt = "ended_at"
        case closeReason = "close_reason", durationSeconds = "duration_seconds", gapMsTotal = "gap_ms_total"
    }
}

/// One downloaded platform recording, from its sidecar.
public struct RecordingRecord: Sendable, Hashable, Codable {
    public var callSid: String
    public var accountSid: String
    public var url: String
    /// The recording file, relative to the storage root.
    public var path: String
    public var state: RecordingSidecar.State
    public var fetchedAt: Timestamp
    public var httpStatus: Int?
    public var contentType: String?
    public var format: String
    public var channels: Int?
    public var sampleRate: Int?
    public var durationSeconds: Double?
    public var bytes: Int64
    public var sha256: String

    enum CodingKeys: String, CodingKey {
        case url, path, state, format, channels, bytes, sha256
        case callSid = "call_sid", accountSid = "account_sid", fetchedAt = "fetched_at", httpStatus = "http_status"
        case contentType = "content_type", sampleRate = "sample_rate", durationSeconds = "duration_seconds"
    }
}
