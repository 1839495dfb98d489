import ExotelKit
import MediaStore

/// Something exorec did that the audit trail must show (to a file, a call or the catalog).
public struct AuditEvent: Sendable, Hashable {
    public var at: Timestamp
    /// Who did it: `ingest`, `fetcher`, `reconciler`, `cli:<user>`, …
    public var actor: String
    /// What was done: `stream.finalized`, `recording.downloaded`, `catalog.rebuilt`, …
    public var action: String
    public var callSid: String?
    /// The file concerned, relative to the storage root.
    public var path: String?
    public var detail: [String: String]

    public init(
        at: Timestamp,
        actor: String,
        action: String,
        callSid: String? = nil,
        path: String? = nil,
        detail: [String: String] = [:]
    ) {
        self.at = at
        self.actor = actor
        self.action = action
        self.callSid = callSid
        self.path = path
        self.detail = detail
    }
}

/// One entry of the hash-chained audit log.
public struct AuditEntry: Sendable, Hashable, Codable {
    /// 1, 2, 3, … without gaps.
    public var seq: Int64
    public var at: Timestamp
    public var actor: String
    public var action: String
    public var callSid: String?
    public var path: String?
    /// The detail map as JSON text with sorted keys, exactly as hashed.
    public var detail: String
    /// The previous entry's `hash` (``AuditEntry/genesisHash`` for the first).
    public var prevHash: String
    public var hash: String

    /// The `prev_hash` of the first entry.
    public static let genesisHash = String(repeating: "0", count: 64)

    enum CodingKeys: String, CodingKey {
        case seq, at, actor, action, path, detail, hash
        case callSid = "call_sid", prevHash = "prev_hash"
    }

    /// The entry's hash: SHA-256 (lowercase hex) of its canonical encoding, a JSON array
    /// `[seq, at_ms, actor, action, call_sid|null, path|null, detail, prev_hash]` with no spaces, strings quoted as
    /// ``JSONText/quoted(_:)`` does. Everything but the hash itself is covered, the link to the previous entry
    /// included, so editing, removing or reordering entries breaks the chain.
    public static func computeHash(
        seq: Int64,
        at: Timestamp,
        actor: String,
        action: String,
        callSid: String?,
        path: String?,
        detail: String,
        prevHash: String
    ) -> String {
        func quoted(_ text: String?) -> String { text.map(JSONText.quoted) ?? "null" }
        let canonical =
            "[\(seq),\(at.millisecondsSinceEpoch),\(quoted(actor)),\(quoted(action)),\(quoted(callSid)),"
            + "\(quoted(path)),\(quoted(detail)),\(quoted(prevHash))]"
        return SHA256Hex.of(canonical)
    }

    /// The hash this entry's fields give (equal to ``hash`` unless the entry was altered).
    public var recomputedHash: String {
        Self.computeHash(
            seq: self.seq,
            at: self.at,
            actor: self.actor,
            action: self.action,
            callSid: self.callSid,
            path: self.path,
            detail: self.detail,
            prevHash: self.prevHash
        )
    }

    /// The detail map back from its JSON text.
    public var detailMap: [String: String] {
        (try? CatalogJSON.decode([String: String].self, from: self.detail, column: "detail")) ?? [:]
    }
}

/// A point of the chain remembered elsewhere (printed by a verify, kept in an export): the log must still
/// contain exactly this entry. Without one, removing the newest entries cannot be told from never having
/// written them.
public struct AuditAnchor: Sendable, Hashable, Codable {
    public var seq: Int64
    public var hash: String

    public init(seq: Int64, hash: String) {
        self.seq = seq
        self.hash = hash
    }
}

/// The outcome of ``Catalog/verifyAuditChain(anchor:)``.
public struct AuditChainReport: Sendable, Hashable, Codable {
    public struct Problem: Sendable, Hashable, Codable, CustomStringConvertible {
        public enum Kind: String, Sendable, Hashable, Codable {
            /// The entry's fields do not give its hash: it was edited.
            case hashMismatch = "hash-mismatch"
            /// The entry's `prev_hash` is not the previous entry's hash: an entry before it was removed,
            /// replaced or moved.
            case brokenLink = "broken-link"
            /// Sequence numbers skip or repeat: entries were removed or renumbered.
            case sequenceGap = "sequence-gap"
            /// The anchor's entry is not in the log (the log was truncated or rewritten).
            case anchorMismatch = "anchor-mismatch"
        }

        public var kind: Kind
        public var seq: Int64
        public var detail: String

        public var description: String { "\(self.kind.rawValue) at seq \(self.seq): \(self.detail)" }
    }

    public var entries: Int
    /// The newest entry, to remember as an anchor.
    public var head: AuditAnchor?
    public var problems: [Problem]

    public var isIntact: Bool { self.problems.isEmpty }
}
