import MediaStore
import SQLKit

/// Where a page of the console's call list ends: the last call shown (newest first, so the next page holds
/// calls placed before it, or at the same millisecond with a smaller CallSid). Keyset pagination: a deep page
/// costs what the first does, and calls arriving meanwhile do not shift the pages.
public struct CallPageCursor: Sendable, Hashable {
    public var placedAt: Int64
    public var callSid: String

    public init(placedAt: Int64, callSid: String) {
        self.placedAt = placedAt
        self.callSid = callSid
    }

    /// `MILLISECONDS.CALLSID`, as the console puts it in its `after=` links.
    public var text: String { "\(self.placedAt).\(self.callSid)" }

    /// Parses ``text``; nil for anything else (a CallSid is at most 128 characters).
    public init?(text: String) {
        guard let dot = text.firstIndex(of: "."), let ms = Int64(text[..<dot]), ms >= 0 else { return nil }
        let sid = String(text[text.index(after: dot)...])
        guard (1...128).contains(sid.utf8.count) else { return nil }
        self.init(placedAt: ms, callSid: sid)
    }
}

/// One page of the console's call list: newest first, with the filters of ``CallSearch`` and `held`.
public struct CallPageQuery: Sendable, Hashable {
    /// Time, CallSid, status and CustomField (SQL conditions; `limit` and `offset` are ignored).
    public var filters = CallQuery()
    /// Matches `From`, `To` or `CallerId` after normalising (checked in Swift, as ``CallSearch`` does).
    public var number: String?
    public var normaliser = PhoneNumberNormaliser()
    public var hasRecording = false
    public var interrupted = false
    /// Only calls with an active legal hold.
    public var held = false
    public var after: CallPageCursor?
    public var limit = 50
    /// At most this many call rows are read for one page when filters are checked in Swift: a search for a
    /// number over a huge catalog says it stopped (``CallPage/scanStopped``) instead of reading everything.
    public var scanLimit = 100_000

    public init() {}
}

/// A call as the console lists it.
public struct CallPageRow: Sendable, Hashable {
    public var call: CallRecord
    public var media: [CatalogMediaFile]
    public var hold: LegalHold?
    public var summary: CallSummary { CallSummary(call: self.call, media: self.media.map(\.file)) }
}

/// A media file with its id (what `/v1/media/ID` and the console's players ask for).
public struct CatalogMediaFile: Sendable, Hashable {
    public var file: MediaFile
    public var mediaID: String?
}

public struct CallPage: Sendable, Hashable {
    public var rows: [CallPageRow]
    /// Where the next page starts, or nil on the last page.
    public var next: CallPageCursor?
    /// The scan limit was reached before the page filled: there may be more matches further back.
    public var scanStopped: Bool
}

extension Catalog {
    /// A page of calls, newest first (``CallPageQuery``). Reads the call rows in batches on the
    /// `placed_at` index, with the page's media and holds in one query each per batch.
    public func callPage(_ query: CallPageQuery) async throws -> CallPage {
        let limit = max(1, min(query.limit, 500))
        let wanted = query.number.map(query.normaliser.normalise)
        // A number search reads narrow rows, many at a time (each round trip costs more than the rows); the
        // media filters read whole rows a few pages at a time; plain pages one more row than they show.
        let batch = wanted != nil ? 2000 : ((query.hasRecording || query.interrupted) ? max(limit * 4, 200) : limit + 1)
        return try await self.exclusive("read a page of calls") { db in
            var rows: [CallPageRow] = []
            var cursor = query.after
            var scanned = 0
            while true {
                // With a number, the batch reads only the keys and the numbers; the whole rows are read for the
                // calls whose number matched (decoding a call's JSON columns is most of a row's cost).
                let select = db.select().from(Table.calls)
                if wanted == nil {
                    select.column("*")
                } else {
                    select.columns("call_sid", "placed_at", "from_number", "to_number", "caller_id")
                }
                let f = query.filters
                if let from = f.placedFrom {
                    select.where("placed_at", .greaterThanOrEqual, from.millisecondsSinceEpoch)
                }
                if let before = f.placedBefore { select.where("placed_at", .lessThan, before.millisecondsSinceEpoch) }
                if let sid = f.callSid { select.where("call_sid", .equal, sid) }
                if let status = f.status { select.where("status", .equal, status) }
                if let field = f.customField { select.where("custom_field", .equal, field) }
                if let origin = f.origin { select.where("origin", .equal, origin.rawValue) }
                if query.held {
                    select.where(
                        "call_sid",
                        .in,
                        SQLSubquery.select {
                            $0.column("call_sid").from(Table.legalHolds).where(
                                SQLColumn("released_at"),
                                .is,
                                SQLLiteral.null
                            )
                        }
                    )
                }
                if let cursor {
                    select.where(group: {
                        $0.where("placed_at", .lessThan, cursor.placedAt).orWhere(group: {
                            $0.where("placed_at", .equal, cursor.placedAt).where("call_sid", .lessThan, cursor.callSid)
                        })
                    })
                }
                let batchRows = try await select.orderBy("placed_at", .descending).orderBy("call_sid", .descending)
                    .limit(batch).all()
                scanned += batchRows.count
                var last: CallPageCursor?
                if let row = batchRows.last {
                    last = CallPageCursor(
                        placedAt: try row.decode(column: "placed_at"),
                        callSid: try row.decode(column: "call_sid")
                    )
                }
                let candidates: [CallRecord]
                if let wanted {
                    var matching: [String] = []
                    for row in batchRows {
                        let numbers = try ["from_number", "to_number", "caller_id"].compactMap {
                            try row.optional($0, as: String.self)
                        }
                        if numbers.map(query.normaliser.normalise).contains(wanted) {
                            matching.append(try row.decode(column: "call_sid"))
                        }
                        // Without media filters every match is shown: one past the page is enough.
                        if !query.hasRecording && !query.interrupted && matching.count > limit - rows.count { break }
                    }
                    candidates =
                        matching.isEmpty
                        ? []
                        : try await db.select().column("*").from(Table.calls).where("call_sid", .in, matching)
                            .orderBy("placed_at", .descending).orderBy("call_sid", .descending).all()
                            .map(CallRecord.init(row:))
                } else {
                    candidates = try batchRows.map(CallRecord.init(row:))
                }
                let sids = candidates.map(\.callSid)
                var media: [String: [CatalogMediaFile]] = [:]
                var holds: [String: LegalHold] = [:]
                if !sids.isEmpty {
                    for row in try await db.select().column("*").from(Table.mediaFiles).where("call_sid", .in, sids)
                        .orderBy("path").all()
                    {
                        let file = try MediaFile(row: row)
                        media[file.callSid, default: []].append(
                            CatalogMediaFile(file: file, mediaID: try row.optional("media_id", as: String.self))
                        )
                    }
                    for row in try await db.select().column("*").from(Table.legalHolds).where("call_sid", .in, sids)
                        .where(SQLColumn("released_at"), .is, SQLLiteral.null).all()
                    {
                        let hold = try LegalHold(row: row)
                        holds[hold.callSid] = hold
                    }
                }
                if let last { cursor = last }
                for call in candidates {
                    let row = CallPageRow(call: call, media: media[call.callSid] ?? [], hold: holds[call.callSid])
                    if query.hasRecording || query.interrupted {
                        let summary = row.summary
                        if query.hasRecording, summary.recordings == 0 { continue }
                        if query.interrupted, !summary.interrupted { continue }
                    }
                    if rows.count == limit {
                        // One more match exists: the page is full and has a next one.
                        let last = rows[rows.count - 1].call
                        return CallPage(
                            rows: rows,
                            next: CallPageCursor(placedAt: last.placedAt.millisecondsSinceEpoch, callSid: last.callSid),
                            scanStopped: false
                        )
                    }
                    rows.append(row)
                }
                if batchRows.count < batch { return CallPage(rows: rows, next: nil, scanStopped: false) }
                if scanned >= query.scanLimit {
                    return CallPage(rows: rows, next: cursor, scanStopped: true)
                }
            }
        }
    }

    /// The call's media files with their ids.
    public func mediaFilesWithIDs(callSid: String) async throws -> [CatalogMediaFile] {
        try await self.exclusive("read media files") { db in
            try await db.select().column("*").from(Table.mediaFiles).where("call_sid", .equal, callSid)
                .orderBy("path").all().map { row in
                    CatalogMediaFile(
                        file: try MediaFile(row: row),
                        mediaID: try row.optional("media_id", as: String.self)
                    )
                }
        }
    }
}

extension Catalog {
    /// The newest audit entry with one of `actions` for each of `callSids` (one query).
    public func latestAudit(callSids: [String], actions: [String]) async throws -> [String: AuditEntry] {
        guard !callSids.isEmpty else { return [:] }
        return try await self.exclusive("read audit entries of calls") { db in
            var latest: [String: AuditEntry] = [:]
            for row in try await db.select().column("*").from(Table.audit).where("call_sid", .in, callSids)
                .where("action", .in, actions).orderBy("seq").all()
            {
                let entry = try AuditEntry(row: row)
                if let sid = entry.callSid { latest[sid] = entry }
            }
            return latest
        }
    }
}
