import Foundation
import MediaStore
import SQLKit
import Synchronization

extension Catalog {
    // MARK: - Reading the feed

    /// Events with an id above `after`, oldest first, at most `limit`, optionally only of some kinds.
    public func events(after: Int64, limit: Int = 500, kinds: Set<FeedEvent.Kind>? = nil) async throws -> [FeedEvent] {
        try await self.exclusive("read events") { db in
            let query = db.select().column("*").from(Table.events).where("id", .greaterThan, after)
            if let kinds { query.where("type", .in, kinds.map(\.rawValue).sorted()) }
            return try await query.orderBy("id").limit(max(1, min(limit, 10_000))).all().map(FeedEvent.init(row:))
        }
    }

    /// The newest event's id (0 when there is none).
    public func latestEventID() async throws -> Int64 {
        try await self.exclusive("read latest event id") { db in
            let row = try await db.select().column(SQLFunction("MAX", args: SQLColumn("id")), as: "id").from(
                Table.events
            ).first()
            return try row?.optional("id", as: Int64.self) ?? 0
        }
    }

    /// Waits until an event with an id above `after` exists (returned at once if one does), or `timeout`
    /// passed (then empty). Wakes on this catalog's own writes at once and looks again every
    /// `pollInterval` for writes by other processes sharing the file.
    public func waitForEvents(
        after: Int64,
        timeout: Duration,
        limit: Int = 500,
        kinds: Set<FeedEvent.Kind>? = nil,
        pollInterval: Duration = .seconds(1)
    ) async throws -> [FeedEvent] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let generation = self.eventSignal.generation
            let found = try await self.events(after: after, limit: limit, kinds: kinds)
            let now = ContinuousClock.now
            if !found.isEmpty || now >= deadline || Task.isCancelled { return found }
            await self.eventSignal.wait(since: generation, atMost: min(deadline - now, pollInterval))
            // Cancelled while waiting (the server is stopping): nothing new, without another query.
            if Task.isCancelled { return [] }
        }
    }

    /// The media file with this id (``MediaFile/id``), if catalogued.
    public func mediaFile(id: String) async throws -> MediaFile? {
        guard MediaFile.isWellFormedID(id) else { return nil }
        return try await self.exclusive("read media file") { db in
            try await db.select().column("*").from(Table.mediaFiles).where("media_id", .equal, id).first().map(
                MediaFile.init(row:)
            )
        }
    }

    // MARK: - Progress of growing streams

    /// Adds one `stream.progress` event per report, all in one transaction (one disk sync for the whole batch)
    /// and a few multi-row statements: about once a second the ingest reports every growing stream, and at
    /// 2,000 streams a query per stream would take longer than the second. The streams' catalog rows are not
    /// touched: their size and duration are recorded when they are finalized. Progress events older than
    /// ``FeedEvent/progressRetention`` are pruned on the way, at most once a minute.
    /// - Returns: how many events were added.
    @discardableResult
    public func recordStreamProgress(_ reports: [StreamProgress]) async throws -> Int {
        guard !reports.isEmpty else { return 0 }
        let newest = reports.map(\.at).max() ?? .now()
        let prune = newest.millisecondsSinceEpoch - self.lastProgressPruneMs >= 60_000
        if prune { self.lastProgressPruneMs = newest.millisecondsSinceEpoch }
        return try await self.transaction("record stream progress") { db in
            for batch in stride(from: 0, to: reports.count, by: Self.progressRowsPerStatement) {
                let insert = db.insert(into: Table.events).columns(
                    "at",
                    "type",
                    "call_sid",
                    "stream_sid",
                    "media_id",
                    "path",
                    "detail_json"
                )
                for report in reports[batch..<min(batch + Self.progressRowsPerStatement, reports.count)] {
                    insert.values(
                        report.at.millisecondsSinceEpoch,
                        FeedEvent.Kind.streamProgress.rawValue,
                        report.callSid,
                        report.streamSid,
                        MediaFile.id(forPath: report.path),
                        report.path,
                        report.detailJSON
                    )
                }
                try await insert.run()
            }
            if prune {
                try await db.delete(from: Table.events)
                    .where("type", .equal, FeedEvent.Kind.streamProgress.rawValue)
                    .where("at", .lessThan, newest.millisecondsSinceEpoch - FeedEvent.progressRetention).run()
            }
            return reports.count
        }
    }

    /// 7 parameters a row: well under SQLite's 32,766 per statement.
    static let progressRowsPerStatement = 500

    // MARK: - Writing events (inside the transaction that made the change)

    static func announceStream(
        _ db: any SQLDatabase,
        sidecar: StreamSidecar,
        path: String,
        stateBefore: StreamSidecar.State?
    ) async throws {
        let kind: FeedEvent.Kind
        switch (stateBefore, sidecar.state) {
        case (nil, .recording): kind = .streamStarted
        case (.recording, .complete), (.recording, .interrupted), (nil, .complete), (nil, .interrupted):
            kind = .streamFinished
        default: return  // a repeat of a known state (a progress upsert, a second repair): nothing new
        }
        try await Self.appendEvent(
            db,
            kind,
            at: kind == .streamStarted ? sidecar.startedAt : (sidecar.endedAt ?? .now()),
            callSid: sidecar.catalogCallSid,
            streamSid: sidecar.streamSid,
            path: path,
            detail: FeedEvent.Detail(
                kind: .stream,
                state: sidecar.state.rawValue,
                format: "wav",
                sampleRate: sidecar.sampleRate,
                channels: sidecar.channels,
                frames: sidecar.frames,
                durationSeconds: sidecar.durationSeconds,
                bytes: sidecar.bytes,
                sha256: sidecar.sha256
            )
        )
    }

    static func announceRecording(_ db: any SQLDatabase, sidecar: RecordingSidecar, path: String) async throws {
        try await Self.appendEvent(
            db,
            .recordingStored,
            at: sidecar.fetchedAt,
            callSid: sidecar.callSid,
            streamSid: nil,
            path: path,
            detail: FeedEvent.Detail(
                kind: .recording,
                state: sidecar.state.rawValue,
                format: sidecar.format,
                sampleRate: sidecar.sampleRate,
                channels: sidecar.channels,
                durationSeconds: sidecar.durationSeconds,
                bytes: sidecar.bytes,
                sha256: sidecar.sha256
            )
        )
    }

    @discardableResult
    static func announceCallCompleted(
        _ db: any SQLDatabase,
        callSid: String,
        status: String,
        at time: Timestamp
    ) async throws -> Int64 {
        let media = try await db.select().column("*").from(Table.mediaFiles).where("call_sid", .equal, callSid).orderBy(
            "path"
        ).all()
            .map(MediaFile.init(row:))
            .map { FeedEvent.MediaReference(mediaID: $0.id, kind: $0.kind, path: $0.path, state: $0.state) }
        let origin = try await db.select().column("origin").from(Table.calls).where("call_sid", .equal, callSid).first()
            .map { try $0.value("origin", as: String.self) }
        return try await Self.appendEvent(
            db,
            .callCompleted,
            at: time,
            callSid: callSid,
            streamSid: nil,
            path: nil,
            detail: FeedEvent.Detail(status: status, media: media, origin: origin)
        )
    }

    @discardableResult
    static func appendEvent(
        _ db: any SQLDatabase,
        _ kind: FeedEvent.Kind,
        at time: Timestamp,
        callSid: String,
        streamSid: String?,
        path: String?,
        detail: FeedEvent.Detail
    ) async throws -> Int64 {
        let row = try await db.insert(into: Table.events)
            .columns("at", "type", "call_sid", "stream_sid", "media_id", "path", "detail_json")
            .values(
                time.millisecondsSinceEpoch,
                kind.rawValue,
                callSid,
                streamSid,
                path.map(MediaFile.id(forPath:)),
                path,
                CatalogJSON.encode(detail)
            )
            .returning("id").first()
        return try row?.value("id", as: Int64.self) ?? 0
    }

    // MARK: - Rebuild

    /// The whole feed as stored, whatever the schema version (a rebuild carries it over with its ids).
    func eventsForCarryOver() async throws -> [FeedEvent] {
        try await self.exclusive("read events", requiresSchema: false) { db in
            guard try await self.backend.tableExists(Table.events, on: db) else { return [] }
            return try await db.select().column("*").from(Table.events).orderBy("id").all().map(FeedEvent.init(row:))
        }
    }

    static func insertEvent(_ db: any SQLDatabase, _ event: FeedEvent) async throws {
        try await db.insert(into: Table.events)
            .columns("id", "at", "type", "call_sid", "stream_sid", "media_id", "path", "detail_json")
            .values(
                event.id,
                event.at.millisecondsSinceEpoch,
                event.type.rawValue,
                event.callSid,
                event.streamSid,
                event.mediaID,
                event.path,
                CatalogJSON.encode(event.detail)
            )
            .run()
    }
}

extension FeedEvent {
    init(row: any SQLRow) throws {
        self.id = try row.value("id")
        self.at = try row.timestamp("at")
        self.type = try row.choice("type", as: Kind.self, reading: "event")
        self.callSid = try row.value("call_sid")
        self.streamSid = try row.optional("stream_sid")
        self.mediaID = try row.optional("media_id")
        self.path = try row.optional("path")
        let json: String = try row.value("detail_json")
        do {
            self.detail = try JSONDecoder().decode(Detail.self, from: Data(json.utf8))
        } catch {
            throw CatalogError.database(
                operation: "read event \(self.id)",
                reason: "its detail is not valid JSON: \(error)"
            )
        }
    }
}

/// A counter bumped after every committed write, and the readers waiting for it to move.
final class CatalogChangeSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }
    private let state = Mutex(State())

    var generation: UInt64 { self.state.withLock { $0.generation } }

    func poke() {
        let waiting = self.state.withLock { state in
            state.generation &+= 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiting { waiter.resume() }
    }

    /// Returns once the generation moved past `seen`, after `limit`, or on cancellation.
    func wait(since seen: UInt64, atMost limit: Duration) async {
        let id = self.state.withLock { state in
            state.nextWaiter &+= 1
            return state.nextWaiter
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        let resumeNow = self.state.withLock { state in
                            if state.generation != seen || Task.isCancelled { return true }
                            state.waiters[id] = continuation
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: {
                    self.resume(id)
                }
            }
            group.addTask { try? await Task.sleep(for: limit) }
            await group.next()
            group.cancelAll()
        }
    }

    private func resume(_ id: UInt64) {
        self.state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
    }
}
