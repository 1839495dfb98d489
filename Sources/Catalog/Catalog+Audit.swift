import MediaStore
import SQLKit

extension Catalog {
    /// Appends an entry to the audit log, chained to the previous one
    /// (see ``AuditEntry/computeHash(seq:at:actor:action:callSid:path:detail:prevHash:)``).
    ///
    /// The read of the chain's head and the insert are one write transaction, so concurrent appenders (other
    /// connections or processes) queue up instead of forking the chain; `prev_hash` is unique besides.
    @discardableResult
    public func appendAudit(_ event: AuditEvent) async throws -> AuditEntry {
        try await self.transaction("append audit entry") { db in
            try await Self.appendAudit(db, event)
        }
    }

    /// Audit entries after `seq`, oldest first; optionally only those about one call or one file.
    public func auditEntries(
        after seq: Int64 = 0,
        callSid: String? = nil,
        path: String? = nil,
        limit: Int = 1000
    ) async throws -> [AuditEntry] {
        try await self.exclusive("read audit log") { db in
            let select = db.select().column("*").from(Table.audit).where("seq", .greaterThan, seq)
            if let callSid { select.where("call_sid", .equal, callSid) }
            if let path { select.where("path", .equal, path) }
            return try await select.orderBy("seq").limit(max(0, limit)).all().map(AuditEntry.init(row:))
        }
    }

    /// Walks the whole audit log and checks every entry's hash, every link to the previous entry and the
    /// sequence numbers; with an `anchor` (a head remembered earlier), also that the log still holds it.
    ///
    /// An edited entry fails its hash; a removed entry leaves a gap in `seq` and a broken link after it; a
    /// reordered pair fails both hashes (each covers its own `seq`) or the links. Removing the newest entries
    /// leaves a valid shorter chain, which only an anchor reveals.
    public func verifyAuditChain(anchor: AuditAnchor? = nil) async throws -> AuditChainReport {
        try await self.exclusive("verify audit log") { db in
            var problems: [AuditChainReport.Problem] = []
            var count = 0
            var previous: AuditEntry?
            var anchorSeen = false
            var after: Int64 = .min
            while true {
                // In pages, so a long log is not held in memory at once.
                let page = try await db.select().column("*").from(Table.audit).where("seq", .greaterThan, after)
                    .orderBy("seq").limit(1000).all().map(AuditEntry.init(row:))
                if page.isEmpty { break }
                for entry in page {
                    count += 1
                    let expectedSeq = (previous?.seq ?? 0) + 1
                    if entry.seq != expectedSeq {
                        problems.append(
                            .init(
                                kind: .sequenceGap,
                                seq: entry.seq,
                                detail: "expected seq \(expectedSeq), found \(entry.seq)"
                            )
                        )
                    }
                    let expectedPrev = previous?.hash ?? AuditEntry.genesisHash
                    if entry.prevHash != expectedPrev {
                        problems.append(
                            .init(
                                kind: .brokenLink,
                                seq: entry.seq,
                                detail:
                                    "prev_hash \(entry.prevHash.prefix(12))… does not match the previous entry's hash "
                                    + "\(expectedPrev.prefix(12))…"
                            )
                        )
                    }
                    if entry.recomputedHash != entry.hash {
                        problems.append(
                            .init(
                                kind: .hashMismatch,
                                seq: entry.seq,
                                detail: "the entry's fields do not give its stored hash"
                            )
                        )
                    }
                    if let anchor, anchor.seq == entry.seq {
                        anchorSeen = true
                        if anchor.hash != entry.hash {
                            problems.append(
                                .init(
                                    kind: .anchorMismatch,
                                    seq: entry.seq,
                                    detail: "the entry's hash differs from the anchor's"
                                )
                            )
                        }
                    }
                    previous = entry
                }
                after = page[page.count - 1].seq
            }
            if let anchor, !anchorSeen {
                problems.append(
                    .init(
                        kind: .anchorMismatch,
                        seq: anchor.seq,
                        detail: "the log has no entry \(anchor.seq); it was truncated or rewritten"
                    )
                )
            }
            return AuditChainReport(
                entries: count,
                head: previous.map { AuditAnchor(seq: $0.seq, hash: $0.hash) },
                problems: problems
            )
        }
    }

    // MARK: - Shared with the rebuilder

    /// The whole audit log as stored, whatever the schema version (the rebuilder carries it over).
    func auditLogForCarryOver() async throws -> [AuditEntry] {
        try await self.exclusive("read audit log", requiresSchema: false) { db in
            guard try await self.backend.tableExists(Table.audit, on: db) else { return [] }
            return try await db.select().column("*").from(Table.audit).orderBy("seq").all().map(AuditEntry.init(row:))
        }
    }

    static func appendAudit(_ db: any SQLDatabase, _ event: AuditEvent) async throws -> AuditEntry {
        let head = try await db.select().columns("seq", "hash").from(Table.audit)
            .orderBy("seq", .descending).limit(1).first()
        let seq = (try head?.value("seq", as: Int64.self) ?? 0) + 1
        let prevHash = try head?.value("hash", as: String.self) ?? AuditEntry.genesisHash
        let detail = CatalogJSON.encode(event.detail)
        let hash = AuditEntry.computeHash(
            seq: seq,
            at: event.at,
            actor: event.actor,
            action: event.action,
            callSid: event.callSid,
            path: event.path,
            detail: detail,
            prevHash: prevHash
        )
        let entry = AuditEntry(
            seq: seq,
            at: event.at,
            actor: event.actor,
            action: event.action,
            callSid: event.callSid,
            path: event.path,
            detail: detail,
            prevHash: prevHash,
            hash: hash
        )
        try await Self.insertAudit(db, entry)
        return entry
    }

    /// Inserts an entry as it is (the rebuilder carries the old log over verbatim).
    static func insertAudit(_ db: any SQLDatabase, _ entry: AuditEntry) async throws {
        try await db.insert(into: Table.audit)
            .columns("seq", "at", "actor", "action", "call_sid", "path", "detail", "prev_hash", "hash")
            .values(
                entry.seq,
                entry.at.millisecondsSinceEpoch,
                entry.actor,
                entry.action,
                entry.callSid,
                entry.path,
                entry.detail,
                entry.prevHash,
                entry.hash
            )
            .run()
    }
}

extension AuditEntry {
    init(row: any SQLRow) throws {
        self.seq = try row.value("seq")
        self.at = try row.timestamp("at")
        self.actor = try row.value("actor")
        self.action = try row.value("action")
        self.callSid = try row.optional("call_sid")
        self.path = try row.optional("path")
        self.detail = try row.value("detail")
        self.prevHash = try row.value("prev_hash")
        self.hash = try row.value("hash")
    }
}
