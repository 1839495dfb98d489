import MediaStore
import SQLKit

/// How legal holds and the retention journal name what they keep or delete: a call by its CallSid, a stream
/// without a call (kept under `media/_streams/`) by `stream:<stream_sid>`. A CallSid never contains `:` (it is
/// a path-safe identifier), so the two cannot collide.
public enum RetentionKey {
    public static let streamPrefix = "stream:"

    /// The key of the stream without a call `streamSid`.
    public static func stream(_ streamSid: String) -> String { Self.streamPrefix + streamSid }

    /// The stream_sid `key` names, or nil when it names a call.
    public static func streamSid(in key: String) -> String? {
        key.hasPrefix(Self.streamPrefix) ? String(key.dropFirst(Self.streamPrefix.count)) : nil
    }
}

/// Retention of streams without a call: each stream file is dated by its start and deleted on its own; holds
/// and the journal name it `stream:<stream_sid>` (docs/ARCHIVE.md, "Streams without a call").
extension Catalog {
    /// Places a legal hold on the stream(s) without a call with this stream_sid (see
    /// ``placeHold(callSid:reason:by:actor:at:)``; the hold's `call_sid` is `stream:<stream_sid>`).
    /// - Throws: ``CatalogError/unknownCall(callSid:)`` (with the key) when no stream without a call has it.
    @discardableResult
    public func placeHold(
        streamSid: String,
        reason: String,
        by author: String,
        actor: String = "cli",
        at time: Timestamp = .now()
    ) async throws -> LegalHold {
        try await self.placeHold(
            callSid: RetentionKey.stream(streamSid),
            reason: reason,
            by: author,
            actor: actor,
            at: time
        )
    }

    /// Releases the hold on the stream without a call `streamSid`.
    @discardableResult
    public func releaseHold(
        streamSid: String,
        reason: String,
        by author: String,
        actor: String = "cli",
        at time: Timestamp = .now()
    ) async throws -> LegalHold {
        try await self.releaseHold(
            callSid: RetentionKey.stream(streamSid),
            reason: reason,
            by: author,
            actor: actor,
            at: time
        )
    }

    /// Whether a stream without a call has this stream_sid.
    static func unattachedStreamIsKnown(_ db: any SQLDatabase, streamSid: String) async throws -> Bool {
        try await db.select().column("path").from(Table.streams).where("stream_sid", .equal, streamSid)
            .where("call_sid", .equal, "").limit(1).first() != nil
    }

    /// Streams without a call that started before `cutoffMs`, one candidate per stream file, leaving out those
    /// whose key has a pending journal entry.
    static func unattachedRetentionCandidates(
        _ db: any SQLDatabase,
        before cutoffMs: Int64,
        pending: Set<String>
    ) async throws
        -> [RetentionCandidate]
    {
        let streams = try await db.select().column("*").from(Table.streams).where("call_sid", .equal, "")
            .where("started_at", .lessThan, cutoffMs).orderBy("started_at").orderBy("path").all().map(
                StreamRecord.init(row:)
            )
        var candidates: [RetentionCandidate] = []
        for stream in streams {
            let key = RetentionKey.stream(stream.streamSid)
            if pending.contains(key) { continue }
            let files = try await db.select().column("*").from(Table.mediaFiles).where("path", .equal, stream.path)
                .where("call_sid", .equal, "").all().map(MediaFile.init(row:))
            var candidate = RetentionCandidate(
                callSid: "",
                accountSid: nil,
                callTime: stream.startedAt,
                timeSource: .streamStarted,
                mediaFiles: files,
                hold: try await Self.activeHold(db, callSid: key),
                busy: try await Self.unattachedBusyReason(db, paths: [stream.path]),
                firstCallbackAt: nil
            )
            candidate.streamSid = stream.streamSid
            candidate.streamPath = stream.path
            candidates.append(candidate)
        }
        return candidates
    }

    /// Why one of these stream files must not be deleted now: it is still being written.
    static func unattachedBusyReason(_ db: any SQLDatabase, paths: [String]) async throws -> String? {
        guard !paths.isEmpty else { return nil }
        let recording = MediaFileState.recording.rawValue
        for table in [Table.streams, Table.mediaFiles] {
            if try await db.select().column("path").from(table).where("path", .in, paths).where("call_sid", .equal, "")
                .where("state", .equal, recording).limit(1).first() != nil
            {
                return "the stream is still being recorded"
            }
        }
        return nil
    }

    /// ``finishRetentionDeletion(_:at:)`` for a stream without a call: one `retention.file-deleted` audit entry per
    /// file, its `streams` and `media_files` rows removed, a `retention.stream-deleted` entry, the journal entry
    /// marked done. Its events-feed entries stay: with the audit log, they are the record that it existed.
    static func finishUnattachedDeletion(
        _ db: any SQLDatabase,
        _ entry: RetentionJournalEntry,
        streamSid: String,
        at time: Timestamp
    )
        async throws -> RetentionDeletion
    {
        let media = Dictionary(
            try await db.select().column("*").from(Table.mediaFiles).where("path", .in, entry.files).where(
                "call_sid",
                .equal,
                ""
            )
            .all().map(MediaFile.init(row:)).map { ($0.path, $0) },
            uniquingKeysWith: { first, _ in first }
        )
        let bytes = try await Self.auditFileDeletions(
            db,
            files: entry.files,
            media: media,
            runId: entry.runId,
            actor: entry.actor,
            at: time,
            streamSid: streamSid
        )
        for table in [Table.mediaFiles, Table.streams] {
            try await db.delete(from: table).where("path", .in, entry.files).where("call_sid", .equal, "").run()
        }
        let wav = media.keys.sorted().first ?? entry.files.first
        _ = try await Self.appendAudit(
            db,
            AuditEvent(
                at: time,
                actor: entry.actor,
                action: "retention.stream-deleted",
                path: wav,
                detail: [
                    "run_id": entry.runId, "stream_sid": streamSid, "cutoff": "\(entry.cutoff)",
                    "started_at": "\(entry.callTime)",
                    "files": "\(entry.files.count)", "media_files": "\(media.count)", "bytes": "\(bytes)",
                    "journal_id": "\(entry.id)",
                ]
            )
        )
        try await db.update(Table.retentionJournal)
            .set("state", to: RetentionJournalState.done.rawValue).set("finished_at", to: time.millisecondsSinceEpoch)
            .where("id", .equal, entry.id)
            .run()
        var deletion = RetentionDeletion(callSid: "", files: entry.files.count, mediaFiles: media.count, bytes: bytes)
        deletion.streamSid = streamSid
        deletion.path = wav
        return deletion
    }
}
