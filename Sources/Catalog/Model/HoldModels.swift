import MediaStore

/// A legal hold on one call: while it is active (not released) retention never deletes the call.
public struct LegalHold: Sendable, Hashable, Codable {
    public var id: Int64
    public var callSid: String
    public var reason: String
    /// Who placed it (`--by`, or the user running the command).
    public var placedBy: String
    public var placedAt: Timestamp
    public var releasedBy: String?
    public var releasedAt: Timestamp?
    public var releaseReason: String?

    public var isActive: Bool { self.releasedAt == nil }

    enum CodingKeys: String, CodingKey {
        case id, reason
        case callSid = "call_sid", placedBy = "placed_by", placedAt = "placed_at", releasedBy = "released_by"
        case releasedAt = "released_at", releaseReason = "release_reason"
    }
}

/// How far retention got with one call (a row of `retention_journal`).
public enum RetentionJournalState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Its files are being (or were partly) deleted; the catalog rows are still there. The next run finishes it.
    case pending
    /// Files, sidecars and catalog rows are gone, and the audit log says so.
    case done
}

/// One call retention set out to delete: which files and folders, and when.
public struct RetentionJournalEntry: Sendable, Hashable, Codable {
    public var id: Int64
    /// The run that started it (`exorec retention apply` prints it).
    public var runId: String
    public var callSid: String
    public var state: RetentionJournalState
    /// Calls from before this instant were to be deleted.
    public var cutoff: Timestamp
    /// The call's time (placement, or its earliest media or callback) that put it before the cutoff.
    public var callTime: Timestamp
    public var actor: String
    /// Every file to delete, relative to the storage root: media files, then their sidecars, then `call.json`.
    public var files: [String]
    /// The call's folders, relative to the storage root, removed once empty.
    public var directories: [String]
    public var startedAt: Timestamp
    public var finishedAt: Timestamp?

    enum CodingKeys: String, CodingKey {
        case id, state, cutoff, actor, files, directories
        case runId = "run_id", callSid = "call_sid", callTime = "call_time", startedAt = "started_at"
        case finishedAt = "finished_at"
    }
}

/// A call whose time is before a retention cutoff, with what decides whether it may be deleted now.
public struct RetentionCandidate: Sendable, Hashable, Encodable {
    /// Where ``callTime`` comes from.
    public enum TimeSource: String, Sendable, Hashable, Codable {
        /// `calls.placed_at`: exorec placed the call.
        case placed
        /// The earliest media file or callback, or a call placed elsewhere's first sight: a call exorec did not place.
        case firstSeen = "first-seen"
        /// `streams.started_at`: a stream without a call.
        case streamStarted = "stream-started"
    }

    public var callSid: String
    /// Nil for a call exorec did not place.
    public var accountSid: String?
    public var callTime: Timestamp
    public var timeSource: TimeSource
    public var mediaFiles: [MediaFile]
    /// The active hold, if any: the call is kept.
    public var hold: LegalHold?
    /// Why the call cannot be deleted yet though old (a stream still being written, a download queued or
    /// running); nil when nothing is under way.
    public var busy: String?
    /// When exorec received its first callback (locates the `call.json` of a call it did not place).
    public var firstCallbackAt: Timestamp?
    /// The call's folder as the catalog fixed it (a call placed elsewhere), relative to the storage root.
    public var folder: String?
    /// Set for a stream without a call (`callSid` is then `""`): its stream_sid. Such a stream is dated by its
    /// start and deleted on its own, keyed ``RetentionKey/stream(_:)`` in holds and the journal.
    public var streamSid: String?
    /// The stream's WAV, relative to the storage root (a stream without a call only).
    public var streamPath: String?

    /// `call` or `stream` (a stream without a call).
    public var kind: String { self.streamSid == nil ? "call" : "stream" }
    /// What holds and the retention journal name it by: the CallSid, or `stream:<stream_sid>`.
    public var key: String { self.streamSid.map(RetentionKey.stream) ?? self.callSid }

    public var bytes: Int64 { self.mediaFiles.reduce(0) { $0 + ($1.bytes ?? 0) } }

    enum CodingKeys: String, CodingKey {
        case hold, busy, bytes, kind
        case streamSid = "stream_sid", streamPath = "path"
        case callSid = "call_sid", accountSid = "account_sid", callTime = "call_time", timeSource = "time_source"
        case folder
        case mediaFiles = "media_files", firstCallbackAt = "first_callback_at"
    }

    public init(
        callSid: String,
        accountSid: String?,
        callTime: Timestamp,
        timeSource: TimeSource,
        mediaFiles: [MediaFile],
        hold: LegalHold?,
        busy: String?,
        firstCallbackAt: Timestamp?,
        folder: String? = nil
    ) {
        self.folder = folder
        self.callSid = callSid
        self.accountSid = accountSid
        self.callTime = callTime
        self.timeSource = timeSource
        self.mediaFiles = mediaFiles
        self.hold = hold
        self.busy = busy
        self.firstCallbackAt = firstCallbackAt
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(self.kind, forKey: .kind)
        try c.encode(self.callSid, forKey: .callSid)
        try c.encodeIfPresent(self.streamSid, forKey: .streamSid)
        try c.encodeIfPresent(self.streamPath, forKey: .streamPath)
        try c.encodeIfPresent(self.accountSid, forKey: .accountSid)
        try c.encode(self.callTime, forKey: .callTime)
        try c.encode(self.timeSource, forKey: .timeSource)
        try c.encode(self.mediaFiles, forKey: .mediaFiles)
        try c.encodeIfPresent(self.hold, forKey: .hold)
        try c.encodeIfPresent(self.busy, forKey: .busy)
        try c.encodeIfPresent(self.firstCallbackAt, forKey: .firstCallbackAt)
        try c.encode(self.bytes, forKey: .bytes)
    }
}
