public import Catalog
import Glibc
public import MediaStore

/// What a retention run would do: the calls older than the cutoff it deletes, those it keeps and why, and the
/// deletions an interrupted run left to finish. `Codable` with snake_case keys for `--json`.
public struct RetentionPlan: Sendable, Hashable, Encodable {
    /// One call to delete, with the files and folders that go with it (relative to the storage root).
    public struct Item: Sendable, Hashable, Encodable {
        public var call: RetentionCandidate
        /// Media files, then their sidecars, then the `call.json` files found.
        public var files: [String]
        /// The call's folders, removed once empty.
        public var directories: [String]
    }

    /// A call (or stream without a call) older than the cutoff that is kept, and why.
    public struct Kept: Sendable, Hashable, Encodable {
        public var callSid: String
        public var callTime: Timestamp
        public var reason: String
        /// The hold's reason, when the call is held.
        public var hold: LegalHold?
        /// A stream without a call (`callSid` is `""`): its stream_sid and WAV path.
        public var streamSid: String?
        public var path: String?

        public var kind: String { self.streamSid == nil ? "call" : "stream" }

        enum CodingKeys: String, CodingKey {
            case reason, hold, kind, path
            case callSid = "call_sid", callTime = "call_time", streamSid = "stream_sid"
        }

        public init(
            callSid: String,
            callTime: Timestamp,
            reason: String,
            hold: LegalHold?,
            streamSid: String? = nil,
            path: String? = nil
        ) {
            self.callSid = callSid
            self.callTime = callTime
            self.reason = reason
            self.hold = hold
            self.streamSid = streamSid
            self.path = path
        }

        init(_ candidate: RetentionCandidate, reason: String, hold: LegalHold?) {
            self.init(
                callSid: candidate.callSid,
                callTime: candidate.callTime,
                reason: reason,
                hold: hold,
                streamSid: candidate.streamSid,
                path: candidate.streamPath
            )
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(self.kind, forKey: .kind)
            try c.encode(self.callSid, forKey: .callSid)
            try c.encodeIfPresent(self.streamSid, forKey: .streamSid)
            try c.encodeIfPresent(self.path, forKey: .path)
            try c.encode(self.callTime, forKey: .callTime)
            try c.encode(self.reason, forKey: .reason)
            try c.encodeIfPresent(self.hold, forKey: .hold)
        }
    }

    /// The age given (`90d`).
    public var olderThan: String
    /// Calls from before this instant are deleted.
    public var cutoff: Timestamp
    public var delete: [Item]
    /// Old calls on legal hold: never deleted.
    public var held: [Kept]
    /// Old calls still being recorded or downloaded: deleted by a later run.
    public var busy: [Kept]
    /// Deletions an interrupted run started; the next run with `--yes` finishes them first.
    public var pending: [RetentionJournalEntry]

    enum CodingKeys: String, CodingKey {
        case cutoff, delete, held, busy, pending
        case olderThan = "older_than"
    }

    public var fileCount: Int { self.delete.reduce(0) { $0 + $1.files.count } }
    /// How many of ``delete`` are streams without a call.
    public var streamCount: Int { self.delete.filter { $0.call.streamSid != nil }.count }
    public var bytes: Int64 { self.delete.reduce(0) { $0 + $1.call.bytes } }
}

extension RetentionPlan {
    /// Reads the catalog and the storage root and works out what `age` means today. Changes nothing.
    public static func make(
        catalog: Catalog,
        layout: StorageLayout,
        olderThan age: RetentionAge,
        now: Timestamp = .now()
    ) async throws -> RetentionPlan {
        let cutoff = age.cutoff(now: now)
        var plan = RetentionPlan(
            olderThan: age.description,
            cutoff: cutoff,
            delete: [],
            held: [],
            busy: [],
            pending: []
        )
        for candidate in try await catalog.retentionCandidates(before: cutoff) {
            if let hold = candidate.hold {
                plan.held.append(Kept(candidate, reason: "on legal hold: \(hold.reason)", hold: hold))
            } else if let busy = candidate.busy {
                plan.busy.append(Kept(candidate, reason: busy, hold: nil))
            } else {
                let (files, directories) =
                    candidate.streamPath.map { Self.files(ofUnattachedStream: $0, layout: layout) }
                    ?? Self.files(of: candidate, layout: layout)
                plan.delete.append(Item(call: candidate, files: files, directories: directories))
            }
        }
        plan.pending = try await catalog.pendingRetentionDeletions()
        return plan
    }

    /// The call's files on disk, relative to the storage root: every catalogued media file (a `missing` one
    /// too: its row goes), each one's sidecar if present, and `call.json` in each of the call's folders (the
    /// folder by placement date, the folder the catalog fixed for a call placed elsewhere, the `_unknown` folder
    /// by first callback for a call exorec did not place (older versions), and
    /// every folder holding its media: a stream that started after midnight sits in the next day's).
    static func files(of call: RetentionCandidate, layout: StorageLayout) -> (files: [String], directories: [String]) {
        var files: [String] = []
        var sidecars: [String] = []
        var directories: [String] = []
        func addDirectory(_ relative: String) {
            if !directories.contains(relative) { directories.append(relative) }
        }
        for media in call.mediaFiles {
            files.append(media.path)
            let sidecar = StorageLayout.sidecarPath(ofMedia: media.path)
            if FileSystem.exists(layout.absolute(sidecar)) && !sidecars.contains(sidecar) { sidecars.append(sidecar) }
            addDirectory(Self.parent(of: media.path))
        }
        let callSid = try? PathSafeIdentifier(call.callSid, field: "CallSid")
        if let folder = call.folder, callSid != nil { addDirectory(folder) }
        if let callSid, let account = call.accountSid,
            let accountId = try? PathSafeIdentifier(account, field: "AccountSid")
        {
            addDirectory(
                layout.relative(layout.callDirectory(account: accountId, callSid: callSid, startedAt: call.callTime))
            )
        }
        if let callSid, let first = call.firstCallbackAt,
            let unknown = try? PathSafeIdentifier(CallSidecar.unknownAccount, field: "AccountSid")
        {
            addDirectory(layout.relative(layout.callDirectory(account: unknown, callSid: callSid, startedAt: first)))
        }
        directories = directories.filter { !$0.isEmpty && FileSystem.exists(layout.absolute($0)) }
        var callSidecars: [String] = []
        for directory in directories {
            let path = CallSidecar.path(inCallDirectory: directory)
            if FileSystem.exists(layout.absolute(path)) { callSidecars.append(path) }
        }
        if callSidecars.isEmpty, let callSid {
            // Not where its dates put it (a catalog whose times were corrected, files moved by hand): look in
            // every date folder, only for this call, so that no call.json outlives its call.
            for path in Self.glob("\(layout.mediaRoot)/*/*/*/*/\(callSid)/\(CallSidecar.fileName)") {
                let relative = layout.relative(path)
                callSidecars.append(relative)
                addDirectory(Self.parent(of: relative))
            }
        }
        return (files + sidecars + callSidecars, directories)
    }

    /// A stream without a call's files: its WAV and sidecar; its folders: the stream_sid's folder, then the date
    /// folders above it up to (not including) `media/_streams`, each removed only once empty.
    static func files(
        ofUnattachedStream path: String,
        layout: StorageLayout
    ) -> (files: [String], directories: [String]) {
        var files = [path]
        let sidecar = StorageLayout.sidecarPath(ofMedia: path)
        if FileSystem.exists(layout.absolute(sidecar)) { files.append(sidecar) }
        let top = "media/\(StorageLayout.unattachedStreamsFolder)"
        var directories: [String] = []
        var directory = Self.parent(of: path)
        while directory.hasPrefix(top + "/") && directories.count < 4 {
            directories.append(directory)
            directory = Self.parent(of: directory)
        }
        return (files, directories)
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return String(path[..<slash])
    }

    private static func glob(_ pattern: String) -> [String] {
        var found = glob_t()
        defer { globfree(&found) }
        guard Glibc.glob(pattern, 0, nil, &found) == 0 else { return [] }
        return (0..<Int(found.gl_pathc)).compactMap { found.gl_pathv[$0].map { String(cString: $0) } }
    }
}
