import MediaStore
import SQLKit

/// Streams whose `start` named no call (kept under `media/_streams/`): their rows have `call_sid` `""`, the
/// catalog's mark for "no call". `exorec catalog search --unattached` lists them and `catalog show STREAM_SID`
/// shows one (or any stream, by its stream_sid).
extension Catalog {
    /// Streams without a call, newest first, started in `[from, before)` when given; at most `limit`.
    public func unattachedStreams(
        startedFrom from: Timestamp? = nil,
        startedBefore before: Timestamp? = nil,
        limit: Int = 50
    ) async throws
        -> [StreamRecord]
    {
        try await self.exclusive("read unattached streams") { db in
            var query = db.select().column("*").from(Table.streams).where("call_sid", .equal, "")
            if let from { query = query.where("started_at", .greaterThanOrEqual, from.millisecondsSinceEpoch) }
            if let before { query = query.where("started_at", .lessThan, before.millisecondsSinceEpoch) }
            return try await query.orderBy("started_at", .descending).orderBy("path", .descending)
                .limit(max(1, limit)).all().map(StreamRecord.init(row:))
        }
    }

    /// Every stream file with this stream_sid (a repeated stream_sid has several), oldest first, each with its
    /// media file row.
    public func streams(streamSid: String) async throws -> [(stream: StreamRecord, file: MediaFile?)] {
        try await self.exclusive("read streams by stream_sid") { db in
            let streams = try await db.select().column("*").from(Table.streams).where("stream_sid", .equal, streamSid)
                .orderBy("started_at").orderBy("path").all().map(StreamRecord.init(row:))
            var result: [(stream: StreamRecord, file: MediaFile?)] = []
            for stream in streams {
                let file = try await db.select().column("*").from(Table.mediaFiles).where("path", .equal, stream.path)
                    .first()
                    .map(MediaFile.init(row:))
                result.append((stream, file))
            }
            return result
        }
    }
}

extension StreamRecord {
    /// True for a stream whose start named no call.
    public var isUnattached: Bool { self.callSid.isEmpty }
}
