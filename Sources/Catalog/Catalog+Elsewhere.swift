import ExotelKit
import MediaStore
import SQLKit

/// Calls placed elsewhere: another tool placed the call and pointed its `StreamUrl` and `StatusCallback` at
/// exorec. The first stream start or status callback for a CallSid the catalog does not have makes it a call
/// (``CallOrigin/elsewhere``), so it is searched, exported, held, reconciled and its recording fetched like
/// exorec's own calls.
///
/// What the platform did not say stays empty: no request, numbers and CustomField only as a stream, callback
/// or Call Details reported them, status `unknown` until a status arrives, the account empty until a stream
/// (`start.account_sid`), a callback (`AccountSid`) or Call Details names it. `placed_at` is when exorec first
/// saw the call.
///
/// The call's folder (`folder`) is fixed at first sight: a stream's own folder when a stream came first, else
/// `media/<account>/<yyyy>/<mm>/<dd>/<CallSid>` dated by the callback; while no one has named the account it
/// is `media/_unknown/…`, and the first account named moves it there (only `call.json` can be in it then:
/// once a media file is in the folder it never moves, so a call's files never split).
extension Catalog {
    /// The account folder of a call whose account is not known yet (``CallSidecar/unknownAccount``).
    static let pendingAccountPrefix = "media/\(CallSidecar.unknownAccount)/"

    /// Makes `callSid` a call placed elsewhere if the catalog does not have it, or teaches a call placed
    /// elsewhere its account. `streamFolder` is the folder of the stream that announced it (relative to the
    /// storage root), nil for a callback or Call Details.
    ///
    /// `movingPastMedia` (the migration of an older catalog, whose streams are catalogued already) moves a
    /// pending folder to the stream's even though media rows exist: as a rebuild of the same files would.
    ///
    /// The numbers the platform reported (a callback's `From`, `To`, `CustomField`; a stream's `from`, `to`) are
    /// kept in the searched columns, the first reported of each; an empty value is no value.
    ///
    /// A CallSid or account that cannot name a folder (``PathSafeIdentifier``) is not turned into one: the
    /// callback stays flagged, the account unknown.
    /// - Returns: what changed (numbers alone are not reported: the next call.json rewrite carries them, and a
    ///   rebuild learns them from the same stream).
    @discardableResult
    static func noteCallSeen(
        _ db: any SQLDatabase,
        callSid: String,
        accountSid: String?,
        at time: Timestamp,
        streamFolder: String?,
        numbers: ReportedNumbers = ReportedNumbers(),
        movingPastMedia: Bool = false
    ) async throws -> CallSighting {
        guard let sid = try? PathSafeIdentifier(callSid, field: "CallSid") else { return .unchanged }
        let account = accountSid.flatMap { try? PathSafeIdentifier($0, field: "AccountSid") }
        guard
            let existing = try await db.select().columns("origin", "account_sid", "placed_at", "folder").from(
                Table.calls
            )
            .where("call_sid", .equal, callSid).first()
        else {
            let folder = streamFolder ?? Self.elsewhereFolder(account: account, callSid: sid, at: time)
            _ = try await Self.insertElsewhereCall(
                db,
                callSid: callSid,
                accountSid: account?.value ?? "",
                firstSeenAt: time,
                folder: folder,
                platformCallJSON: "{}",
                numbers: numbers
            )
            return .created
        }
        guard try existing.value("origin", as: String.self) == CallOrigin.elsewhere.rawValue else { return .unchanged }
        if !numbers.isEmpty {
            // Each kept as first reported: fill only what is still empty.
            func fill(_ column: String, _ value: String?) -> any SQLExpression {
                SQLFunction("COALESCE", args: SQLColumn(column), value.map { SQLBind($0) } ?? SQLLiteral.null)
            }
            try await db.update(Table.calls)
                .set("from_number", to: fill("from_number", numbers.from)).set(
                    "to_number",
                    to: fill("to_number", numbers.to)
                )
                .set("custom_field", to: fill("custom_field", numbers.customField))
                .where("call_sid", .equal, callSid).run()
        }
        // Only a call placed elsewhere whose account is still unknown learns one.
        guard let account, try existing.value("account_sid", as: String.self).isEmpty else { return .unchanged }
        let update = db.update(Table.calls).set("account_sid", to: account.value)
        let folder = try existing.optional("folder", as: String.self)
        let pending = folder.map { $0.hasPrefix(Self.pendingAccountPrefix) } ?? true
        var movable = movingPastMedia
        if !movable { movable = try await !Self.hasMediaFiles(db, callSid: callSid) }
        if pending, movable {
            let firstSeen = try existing.timestamp("placed_at")
            update.set(
                "folder",
                to: streamFolder ?? Self.elsewhereFolder(account: account, callSid: sid, at: firstSeen)
            )
        }
        try await update.where("call_sid", .equal, callSid).run()
        return .accountLearnt
    }

    /// Turns a call placed elsewhere back into "not in the catalog" so that exorec's placement can be
    /// inserted in its place: its history goes (the caller replays the callbacks after the placement), its
    /// folder is kept when media is already in it.
    /// - Returns: nil when `callSid` is not a call placed elsewhere; else whether it had a terminal status.
    static func adoptElsewhereCall(
        _ db: any SQLDatabase,
        callSid: String,
        account: String,
        placedAt: Timestamp
    ) async throws -> AdoptedCall? {
        guard
            let row = try await db.select().columns("origin", "terminal_at", "folder").from(Table.calls)
                .where("call_sid", .equal, callSid).where("origin", .equal, CallOrigin.elsewhere.rawValue).first()
        else { return nil }
        var folder = try row.optional("folder", as: String.self)
        if let kept = folder, kept.hasPrefix(Self.pendingAccountPrefix) {
            let hasMedia = try await Self.hasMediaFiles(db, callSid: callSid)
            if !hasMedia { folder = nil }
        }
        // The folder exorec's own call would have anyway needs no keeping (and a rebuild, reading the placement
        // from call.json, gives no folder either).
        if folder != nil, folder == Self.placedFolder(accountSid: account, callSid: callSid, placedAt: placedAt) {
            folder = nil
        }
        try await db.delete(from: Table.statusHistory).where("call_sid", .equal, callSid).run()
        try await db.delete(from: Table.calls).where("call_sid", .equal, callSid).run()
        return AdoptedCall(wasTerminal: try row.optional("terminal_at", as: Int64.self) != nil, folder: folder)
    }

    /// Numbers the platform reported for a call placed elsewhere. They come from outside and are printed by
    /// `catalog ls/show`: a value with a control character (a forged line, a terminal escape) or longer than
    /// ``maximumLength`` characters is not kept.
    struct ReportedNumbers: Sendable {
        static let maximumLength = 256

        var from: String?
        var to: String?
        var customField: String?

        init(from: String? = nil, to: String? = nil, customField: String? = nil) {
            func given(_ text: String?) -> String? {
                guard let text, !text.isEmpty, text.count <= Self.maximumLength,
                    !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
                else { return nil }
                return text
            }
            self.from = given(from)
            self.to = given(to)
            self.customField = given(customField)
        }

        init(_ callback: StatusCallback) {
            self.init(from: callback.from, to: callback.to, customField: callback.customField)
        }

        var isEmpty: Bool { self.from == nil && self.to == nil && self.customField == nil }
    }

    /// What a sighting of a call changed in the catalog.
    public enum CallSighting: Sendable, Hashable {
        case unchanged
        /// A call placed elsewhere was created.
        case created
        /// A call placed elsewhere learnt its account (and its folder, if nothing was in the old one yet).
        case accountLearnt
    }

    struct AdoptedCall: Sendable {
        var wasTerminal: Bool
        var folder: String?
    }

    /// Inserts a call placed elsewhere: at first sight, or as `call.json` describes it (the rebuilder's path;
    /// no history).
    /// - Returns: false if the CallSid is there already.
    static func insertElsewhereCall(
        _ db: any SQLDatabase,
        callSid: String,
        accountSid: String,
        firstSeenAt: Timestamp,
        folder: String?,
        platformCallJSON: String,
        numbers: ReportedNumbers
    ) async throws -> Bool {
        let row = try await db.insert(into: Table.calls)
            .columns(
                "call_sid",
                "account_sid",
                "placed_at",
                "parameters_json",
                "status",
                "platform_call_json",
                "updated_at",
                "origin",
                "folder",
                "from_number",
                "to_number",
                "custom_field"
            )
            .values(
                callSid,
                accountSid,
                firstSeenAt.millisecondsSinceEpoch,
                "{}",
                "unknown",
                platformCallJSON,
                firstSeenAt.millisecondsSinceEpoch,
                CallOrigin.elsewhere.rawValue,
                folder,
                numbers.from,
                numbers.to,
                numbers.customField
            )
            .ignoringConflicts(with: "call_sid")
            .returning("call_sid")
            .first()
        return row != nil
    }

    static func callExists(_ db: any SQLDatabase, callSid: String) async throws -> Bool {
        try await db.select().column("call_sid").from(Table.calls).where("call_sid", .equal, callSid).first() != nil
    }

    static func hasMediaFiles(_ db: any SQLDatabase, callSid: String) async throws -> Bool {
        try await db.select().column("call_sid").from(Table.mediaFiles).where("call_sid", .equal, callSid).limit(1)
            .first() != nil
    }

    /// `media/<account>/<yyyy>/<mm>/<dd>/<CallSid>`, the account `_unknown` while none is known.
    static func elsewhereFolder(account: PathSafeIdentifier?, callSid: PathSafeIdentifier, at time: Timestamp) -> String
    {
        // `_unknown` is a valid identifier: the force is safe.
        let folderAccount = account ?? (try! PathSafeIdentifier(CallSidecar.unknownAccount, field: "AccountSid"))
        return StorageLayout.relativeCallDirectory(account: folderAccount, callSid: callSid, startedAt: time)
    }

    /// The folder of exorec's own call (relative to the root), from its account and placement time; nil when
    /// either id cannot name a folder.
    static func placedFolder(accountSid: String, callSid: String, placedAt: Timestamp) -> String? {
        guard let account = try? PathSafeIdentifier(accountSid, field: "AccountSid"),
            let sid = try? PathSafeIdentifier(callSid, field: "CallSid")
        else { return nil }
        return StorageLayout.relativeCallDirectory(account: account, callSid: sid, startedAt: placedAt)
    }

    /// The folder of a stream file (relative path) — the folder a call first seen by this stream keeps.
    static func parentFolder(of path: String) -> String? {
        guard let slash = path.lastIndex(of: "/") else { return nil }
        return String(path[..<slash])
    }
}

extension CallRecord {
    /// The call's folder, relative to the root: the one the catalog fixed (a call placed elsewhere), else its
    /// account's by placement time (`_unknown` while no account is known); nil when an id cannot name a folder.
    public var relativeFolder: String? {
        self.folder
            ?? Catalog.placedFolder(
                accountSid: self.accountSid.isEmpty ? CallSidecar.unknownAccount : self.accountSid,
                callSid: self.callSid,
                placedAt: self.placedAt
            )
    }
}
