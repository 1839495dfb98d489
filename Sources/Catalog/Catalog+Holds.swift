import Foundation
import MediaStore
import SQLKit

extension Catalog {
    /// The longest hold reason or author accepted, in characters.
    public static let maxHoldTextLength = 1000

    /// Places a legal hold on a call: retention will not delete it until the hold is released. Appends a
    /// `hold.added` audit entry (actor `actor`, detail `reason`, `by`, `hold_id`) in the same transaction.
    ///
    /// The call must be known to the catalog (placed by exorec, or with media or callbacks). `stream:<stream_sid>`
    /// holds the stream(s) without a call with that stream_sid (``placeHold(streamSid:reason:by:actor:at:)``).
    /// - Throws: ``CatalogError/unknownCall(callSid:)``, ``CatalogError/alreadyHeld(callSid:reason:)``,
    ///   ``CatalogError/deletionPending(callSid:)`` (retention has started deleting it),
    ///   ``CatalogError/invalidHold(reason:)`` (an empty or over-long reason or author).
    @discardableResult
    public func placeHold(
        callSid: String,
        reason: String,
        by author: String,
        actor: String = "cli",
        at time: Timestamp = .now()
    ) async throws -> LegalHold {
        let reason = try Self.holdText(reason, what: "reason")
        let author = try Self.holdText(author, what: "the author (--by)")
        return try await self.transaction("place legal hold") { db in
            guard try await Self.callIsKnown(db, callSid: callSid) else {
                throw CatalogError.unknownCall(callSid: callSid)
            }
            if let active = try await Self.activeHold(db, callSid: callSid) {
                throw CatalogError.alreadyHeld(callSid: callSid, reason: active.reason)
            }
            if try await Self.pendingDeletion(db, callSid: callSid) != nil {
                throw CatalogError.deletionPending(callSid: callSid)
            }
            guard
                let row = try await db.insert(into: Table.legalHolds)
                    .columns("call_sid", "reason", "placed_by", "placed_at")
                    .values(callSid, reason, author, time.millisecondsSinceEpoch)
                    .returning("*").first()
            else { throw CatalogError.database(operation: "place legal hold", reason: "the insert returned no row") }
            let hold = try LegalHold(row: row)
            // The object archive's copies follow the hold (docs/ARCHIVE.md): their legal hold is set in the store
            // by whoever syncs next (the CLI at once, serve's archiver otherwise).
            try await Self.bumpArchiveHolds(db, callSid: callSid)
            _ = try await Self.appendAudit(
                db,
                AuditEvent(
                    at: time,
                    actor: actor,
                    action: "hold.added",
                    callSid: callSid,
                    detail: ["reason": reason, "by": author, "hold_id": "\(hold.id)"]
                )
            )
            return hold
        }
    }

    /// Releases the call's active hold, keeping the row with who released it, when and why. Appends a
    /// `hold.released` audit entry in the same transaction.
    /// - Throws: ``CatalogError/notHeld(callSid:)`` when the call has no active hold (or is unknown),
    ///   ``CatalogError/invalidHold(reason:)`` for an empty or over-long reason or author.
    @discardableResult
    public func releaseHold(
        callSid: String,
        reason: String,
        by author: String,
        actor: String = "cli",
        at time: Timestamp = .now()
    ) async throws -> LegalHold {
        let reason = try Self.holdText(reason, what: "reason")
        let author = try Self.holdText(author, what: "the author (--by)")
        return try await self.transaction("release legal hold") { db in
            guard var hold = try await Self.activeHold(db, callSid: callSid) else {
                throw CatalogError.notHeld(callSid: callSid)
            }
            try await db.update(Table.legalHolds)
                .set("released_by", to: author).set("released_at", to: time.millisecondsSinceEpoch)
                .set("release_reason", to: reason)
                .where("id", .equal, hold.id)
                .run()
            try await Self.bumpArchiveHolds(db, callSid: callSid)
            hold.releasedBy = author
            hold.releasedAt = time
            hold.releaseReason = reason
            _ = try await Self.appendAudit(
                db,
                AuditEvent(
                    at: time,
                    actor: actor,
                    action: "hold.released",
                    callSid: callSid,
                    detail: ["reason": reason, "by": author, "hold_id": "\(hold.id)", "placed_reason": hold.reason]
                )
            )
            return hold
        }
    }

    /// Legal holds, oldest first: the active ones, or with `includeReleased` every hold ever placed.
    public func legalHolds(includeReleased: Bool = false, callSid: String? = nil) async throws -> [LegalHold] {
        try await self.exclusive("read legal holds") { db in
            let select = db.select().column("*").from(Table.legalHolds)
            if !includeReleased { select.where("released_at", .is, SQLLiteral.null) }
            if let callSid { select.where("call_sid", .equal, callSid) }
            return try await select.orderBy("placed_at").orderBy("id").all().map(LegalHold.init(row:))
        }
    }

    /// The call's active hold, if it has one.
    public func activeHold(callSid: String) async throws -> LegalHold? {
        try await self.exclusive("read legal hold") { db in try await Self.activeHold(db, callSid: callSid) }
    }

    // MARK: - Shared with retention and the rebuilder

    static func activeHold(_ db: any SQLDatabase, callSid: String) async throws -> LegalHold? {
        try await db.select().column("*").from(Table.legalHolds)
            .where("call_sid", .equal, callSid).where("released_at", .is, SQLLiteral.null)
            .orderBy("id").first().map(LegalHold.init(row:))
    }

    /// Whether any table knows the call: placed, with media, or with callbacks.
    static func callIsKnown(_ db: any SQLDatabase, callSid: String) async throws -> Bool {
        if let streamSid = RetentionKey.streamSid(in: callSid) {
            return try await Self.unattachedStreamIsKnown(db, streamSid: streamSid)
        }
        // "" marks the rows of streams without a call: it is no call.
        if callSid.isEmpty { return false }
        for table in [Table.calls, Table.mediaFiles, Table.callbacks] {
            if try await db.select().column("call_sid").from(table).where("call_sid", .equal, callSid).limit(1).first()
                != nil
            {
                return true
            }
        }
        return false
    }

    /// Every hold as stored, whatever the schema version (none before the table existed).
    func legalHoldsForCarryOver() async throws -> [LegalHold] {
        try await self.exclusive("read legal holds", requiresSchema: false) { db in
            guard try await self.backend.tableExists(Table.legalHolds, on: db) else { return [] }
            return try await db.select().column("*").from(Table.legalHolds).orderBy("id").all().map(
                LegalHold.init(row:)
            )
        }
    }

    static func insertLegalHold(_ db: any SQLDatabase, _ hold: LegalHold) async throws {
        try await db.insert(into: Table.legalHolds)
            .columns(
                "id",
                "call_sid",
                "reason",
                "placed_by",
                "placed_at",
                "released_by",
                "released_at",
                "release_reason"
            )
            .values(
                hold.id,
                hold.callSid,
                hold.reason,
                hold.placedBy,
                hold.placedAt.millisecondsSinceEpoch,
                hold.releasedBy,
                hold.releasedAt?.millisecondsSinceEpoch,
                hold.releaseReason
            )
            .run()
    }

    /// `text` trimmed; empty or longer than ``maxHoldTextLength`` is an error naming `what`.
    private static func holdText(_ text: String, what: String) throws -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw CatalogError.invalidHold(reason: "\(what) is empty") }
        guard trimmed.count <= Self.maxHoldTextLength else {
            throw CatalogError.invalidHold(
                reason: "\(what) has \(trimmed.count) characters, at most \(Self.maxHoldTextLength) are kept"
            )
        }
        return trimmed
    }
}

extension LegalHold {
    init(row: any SQLRow) throws {
        self.id = try row.value("id")
        self.callSid = try row.value("call_sid")
        self.reason = try row.value("reason")
        self.placedBy = try row.value("placed_by")
        self.placedAt = try row.timestamp("placed_at")
        self.releasedBy = try row.optional("released_by")
        self.releasedAt = try row.optionalTimestamp("released_at")
        self.releaseReason = try row.optional("release_reason")
    }
}
