import MediaStore
import SQLKit

extension Catalog {
    /// Records (or updates) a stream from its sidecar, and its WAV as a media file of kind `stream`.
    ///
    /// Called as often as the sidecar changes (start, progress, finalize, repair); `path` is the WAV relative
    /// to the storage root and identifies the stream (a repeated stream_sid gets a second file).
    ///
    /// With `announce` (the live path; a rebuild passes false), the events feed gets `stream.started` when
    /// a growing stream first appears and `stream.finished` when it becomes final, in the same transaction.
    ///
    /// A stream whose CallSid the catalog does not have makes it a call placed elsewhere (see
    /// `Catalog+Elsewhere.swift`); the result says so, for whoever keeps `call.json`.
    @discardableResult
    public func upsertStream(
        from sidecar: StreamSidecar,
        path: String,
        announce: Bool = true
    ) async throws -> CallSighting {
        try await self.transaction("record stream") { db in
            let before = try await db.select().column("state").from(Table.streams).where("path", .equal, path).first()
                .map { try $0.choice("state", as: StreamSidecar.State.self, reading: "stream") }
            let sighting = try await Self.upsertStream(db, sidecar: sidecar, path: path)
            guard announce else { return sighting }
            try await Self.announceStream(db, sidecar: sidecar, path: path, stateBefore: before)
            return sighting
        }
    }

    /// Records (or updates) a downloaded recording from its sidecar, and the file as a media file of kind
    /// `recording`. `path` is the recording file relative to the storage root.
    ///
    /// With `announce` (the live path; a rebuild passes false), the events feed gets `recording.stored`
    /// when the file is new or its state changed, in the same transaction.
    public func upsertRecording(from sidecar: RecordingSidecar, path: String, announce: Bool = true) async throws {
        try await self.transaction("record recording") { db in
            let before = try await db.select().column("state").from(Table.recordings).where("path", .equal, path)
                .first()
                .map { try $0.value("state", as: String.self) }
            try await Self.upsertRecording(db, sidecar: sidecar, path: path)
            guard announce, before != sidecar.state.rawValue else { return }
            try await Self.announceRecording(db, sidecar: sidecar, path: path)
        }
    }

    /// Records (or updates, keyed by path) a media file. An update keeps the row's `created_at`.
    public func upsertMediaFile(_ file: MediaFile) async throws {
        try await self.transaction("record media file") { db in
            try await Self.upsertMediaFile(db, file)
        }
    }

    /// The call's media files, by path.
    public func mediaFiles(callSid: String) async throws -> [MediaFile] {
        try await self.exclusive("read media files") { db in
            try await db.select().column("*").from(Table.mediaFiles).where("call_sid", .equal, callSid)
                .orderBy("path").all().map(MediaFile.init(row:))
        }
    }

    /// The media file at `path` (relative to the storage root), if catalogued.
    public func mediaFile(path: String) async throws -> MediaFile? {
        try await self.exclusive("read media file") { db in
            try await db.select().column("*").from(Table.mediaFiles).where("path", .equal, path).first()
                .map(MediaFile.init(row:))
        }
    }

    /// The call's streams, by start time.
    public func streams(callSid: String) async throws -> [StreamRecord] {
        try await self.exclusive("read streams") { db in
            try await db.select().column("*").from(Table.streams).where("call_sid", .equal, callSid)
                .orderBy("started_at").orderBy("path").all().map(StreamRecord.init(row:))
        }
    }

    /// The paths (relative to the storage root) of the streams the catalog still has as `recording`: the live
    /// ones, and any whose end a process did not live to catalog (``Orchestrator`` catches those up).
    public func streamPathsStillRecording() async throws -> [String] {
        try await self.exclusive("read recording streams") { db in
            try await db.select().column("path").from(Table.streams)
                .where("state", .equal, StreamSidecar.State.recording.rawValue)
                .orderBy("path").all().map { try $0.value("path", as: String.self) }
        }
    }

    /// The call's downloaded recordings.
    public func recordings(callSid: String) async throws -> [RecordingRecord] {
        try await self.exclusive("read recordings") { db in
            try await db.select().column("*").from(Table.recordings).where("call_sid", .equal, callSid)
                .orderBy("fetched_at").orderBy("path").all().map(RecordingRecord.init(row:))
        }
    }

    // MARK: - Shared with the rebuilder

    @discardableResult
    static func upsertStream(_ db: any SQLDatabase, sidecar: StreamSidecar, path: String) async throws -> CallSighting {
        // A stream of a call the catalog does not have makes it a call placed elsewhere, in the stream's folder.
        var sighting = CallSighting.unchanged
        if let callSid = sidecar.callSid, !callSid.isEmpty {
            sighting = try await Self.noteCallSeen(
                db,
                callSid: callSid,
                accountSid: sidecar.accountSid,
                at: sidecar.startedAt,
                streamFolder: Self.parentFolder(of: path),
                numbers: ReportedNumbers(from: sidecar.from, to: sidecar.to)
            )
        }
        try await db.insert(into: Table.streams)
            .columns(
                "stream_sid",
                "call_sid",
                "account_sid",
                "path",
                "state",
                "sample_rate",
                "channels",
                "from_number",
                "to_number",
                "custom_parameters_json",
                "started_at",
                "ended_at",
                "close_reason",
                "frames",
                "duration_seconds",
                "gap_ms_total",
                "pauses_json"
            )
            .values(
                // A stream that named no call (kept under media/_streams/) has call_sid and account_sid "".
                sidecar.streamSid,
                sidecar.catalogCallSid,
                sidecar.accountSid ?? "",
                path,
                sidecar.state.rawValue,
                sidecar.sampleRate,
                sidecar.channels,
                sidecar.from,
                sidecar.to,
                CatalogJSON.encode(sidecar.customParameters),
                sidecar.startedAt.millisecondsSinceEpoch,
                sidecar.endedAt?.millisecondsSinceEpoch,
                sidecar.closeReason,
                sidecar.frames,
                sidecar.durationSeconds,
                sidecar.gapMsTotal,
                sidecar.pauses.map { CatalogJSON.encode($0) }
            )
            .onConflict(with: "path") { update in
                for column in [
                    "state", "sample_rate", "channels", "from_number", "to_number", "custom_parameters_json",
                    "started_at", "ended_at", "close_reason", "frames", "duration_seconds", "gap_ms_total",
                    "pauses_json",
                ] { update.set(excludedValueOf: column) }
                return update
            }
            .run()
        try await Self.upsertMediaFile(
            db,
            MediaFile(
                callSid: sidecar.catalogCallSid,
                kind: .stream,
                path: path,
                format: "wav",
                sampleRate: sidecar.sampleRate,
                channels: sidecar.channels,
                durationSeconds: sidecar.durationSeconds,
                bytes: sidecar.bytes,
                sha256: sidecar.sha256,
                state: MediaFileState(sidecar.state),
                createdAt: sidecar.startedAt,
                updatedAt: sidecar.endedAt ?? sidecar.startedAt
            )
        )
        return sighting
    }

    static func upsertRecording(_ db: any SQLDatabase, sidecar: RecordingSidecar, path: String) async throws {
        try await db.insert(into: Table.recordings)
            .columns(
                "call_sid",
                "account_sid",
                "url",
                "path",
                "state",
                "fetched_at",
                "http_status",
                "content_type",
                "format",
                "channels",
                "sample_rate",
                "duration_seconds",
                "bytes",
                "sha256"
            )
            .values(
                sidecar.callSid,
                sidecar.accountSid,
                sidecar.url,
                path,
                sidecar.state.rawValue,
                sidecar.fetchedAt.millisecondsSinceEpoch,
                sidecar.httpStatus,
                sidecar.contentType,
                sidecar.format,
                sidecar.channels,
                sidecar.sampleRate,
                sidecar.durationSeconds,
                sidecar.bytes,
                sidecar.sha256
            )
            .onConflict(with: "path") { update in
                for column in [
                    "url", "state", "fetched_at", "http_status", "content_type", "format", "channels", "sample_rate",
                    "duration_seconds", "bytes", "sha256",
                ] { update.set(excludedValueOf: column) }
                return update
            }
            .run()
        try await Self.upsertMediaFile(
            db,
            MediaFile(
                callSid: sidecar.callSid,
                kind: .recording,
                path: path,
                format: sidecar.format,
                sampleRate: sidecar.sampleRate,
                channels: sidecar.channels,
                durationSeconds: sidecar.durationSeconds,
                bytes: sidecar.bytes,
                sha256: sidecar.sha256,
                state: MediaFileState(sidecar.state),
                createdAt: sidecar.fetchedAt,
                updatedAt: sidecar.fetchedAt
            )
        )
    }

    static func upsertMediaFile(_ db: any SQLDatabase, _ file: MediaFile) async throws {
        try await db.insert(into: Table.mediaFiles)
            .columns(
                "call_sid",
                "kind",
                "path",
                "media_id",
                "format",
                "sample_rate",
                "channels",
                "duration_seconds",
                "bytes",
                "sha256",
                "state",
                "created_at",
                "updated_at"
            )
            .values(
                file.callSid,
                file.kind.rawValue,
                file.path,
                file.id,
                file.format,
                file.sampleRate,
                file.channels,
                file.durationSeconds,
                file.bytes,
                file.sha256,
                file.state.rawValue,
                file.createdAt.millisecondsSinceEpoch,
                file.updatedAt.millisecondsSinceEpoch
            )
            .onConflict(with: "path") { update in
                for column in [
                    "call_sid", "kind", "format", "sample_rate", "channels", "duration_seconds", "bytes", "sha256",
                    "state",
                    "updated_at",
                ] { update.set(excludedValueOf: column) }
                return update
            }
            .run()
    }
}

extension MediaFile {
    init(row: any SQLRow) throws {
        let decodedKind = try row.choice("kind", as: MediaKind.self, reading: "media file")
        let decodedState = try row.choice("state", as: MediaFileState.self, reading: "media file")
        self.init(
            callSid: try row.value("call_sid"),
            kind: decodedKind,
            path: try row.value("path"),
            format: try row.value("format"),
            sampleRate: try row.optional("sample_rate"),
            channels: try row.optional("channels"),
            durationSeconds: try row.optional("duration_seconds"),
            bytes: try row.optional("bytes"),
            sha256: try row.optional("sha256"),
            state: decodedState,
            createdAt: try row.timestamp("created_at"),
            updatedAt: try row.timestamp("updated_at")
        )
    }
}

extension StreamRecord {
    init(row: any SQLRow) throws {
        let decodedState = try row.choice("state", as: StreamSidecar.State.self, reading: "stream")
        self.streamSid = try row.value("stream_sid")
        self.callSid = try row.value("call_sid")
        self.accountSid = try row.value("account_sid")
        self.path = try row.value("path")
        self.state = decodedState
        self.sampleRate = try row.value("sample_rate")
        self.channels = try row.optional("channels")
        self.from = try row.optional("from_number")
        self.to = try row.optional("to_number")
        self.customParameters = try CatalogJSON.decode(
            [String: String].self,
            from: row.value("custom_parameters_json"),
            column: "custom_parameters_json"
        )
        self.startedAt = try row.timestamp("started_at")
        self.endedAt = try row.optionalTimestamp("ended_at")
        self.closeReason = try row.optional("close_reason")
        self.frames = try row.value("frames")
        self.durationSeconds = try row.value("duration_seconds")
        self.gapMsTotal = try row.value("gap_ms_total")
        self.pauses = try row.optional("pauses_json", as: String.self).map {
            try CatalogJSON.decode([StreamSidecar.Pause].self, from: $0, column: "pauses_json")
        }
    }
}

extension RecordingRecord {
    init(row: any SQLRow) throws {
        let decodedState = try row.choice("state", as: RecordingSidecar.State.self, reading: "recording")
        self.callSid = try row.value("call_sid")
        self.accountSid = try row.value("account_sid")
        self.url = try row.value("url")
        self.path = try row.value("path")
        self.state = decodedState
        self.fetchedAt = try row.timestamp("fetched_at")
        self.httpStatus = try row.optional("http_status")
        self.contentType = try row.optional("content_type")
        self.format = try row.value("format")
        self.channels = try row.optional("channels")
        self.sampleRate = try row.optional("sample_rate")
        self.durationSeconds = try row.optional("duration_seconds")
        self.bytes = try row.value("bytes")
        self.sha256 = try row.value("sha256")
    }
}
