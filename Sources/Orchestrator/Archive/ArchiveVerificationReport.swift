import Catalog
import MediaStore

/// What ``ArchiveVerifier`` found, file by file; `Codable` with snake_case keys for `--json`.
public struct ArchiveVerificationReport: Sendable, Hashable, Codable {
    /// One file that is not as the catalog says.
    public struct Problem: Sendable, Hashable, Codable, CustomStringConvertible {
        public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
            /// The catalog names the file; it is not on disk.
            case missing
            /// The content's SHA-256 or size differs from the catalog's: the file was altered or replaced.
            case changed
            /// The file exists but could not be read (permissions, I/O error).
            case unreadable
            /// The sidecar beside the file disagrees with the catalog (or is missing or unreadable).
            case sidecarMismatch = "sidecar-mismatch"
            /// A finished file that the catalog holds no checksum for, so it cannot be proven.
            case noChecksum = "no-checksum"
            /// A file under `media/` that no catalog row names.
            case unexpected
            /// A download's or a sidecar's temporary file (`*.part`, `*.tmp-<pid>`) left behind.
            case incompleteDownload = "incomplete-download"
            /// A retention run started deleting the file's call and was interrupted (its journal entry is pending);
            /// `exorec retention apply --yes` finishes the deletion.
            case deletionPending = "deletion-pending"
        }

        public var kind: Kind
        /// Relative to the storage root.
        public var path: String
        public var callSid: String?
        public var detail: String

        enum CodingKeys: String, CodingKey {
            case kind, path, detail
            case callSid = "call_sid"
        }

        public init(kind: Kind, path: String, callSid: String?, detail: String) {
            self.kind = kind
            self.path = path
            self.callSid = callSid
            self.detail = detail
        }

        public var description: String { "\(self.kind.rawValue): \(self.path) — \(self.detail)" }
    }

    /// Catalogued files selected for checking.
    public var selected: Int
    /// Re-hashed and equal to the catalog.
    public var ok: Int
    /// Still being written (`state = recording`): no checksum yet, not a problem.
    public var inProgress: Int
    /// Bytes read while hashing.
    public var bytesHashed: Int64
    /// Whether the tree under `media/` was walked for unexpected files (not when selecting by time or kind).
    public var scannedForUnexpected: Bool
    public var problems: [Problem]

    enum CodingKeys: String, CodingKey {
        case selected, ok, problems
        case inProgress = "in_progress", bytesHashed = "bytes_hashed", scannedForUnexpected = "scanned_for_unexpected"
    }

    public init(
        selected: Int,
        ok: Int,
        inProgress: Int,
        bytesHashed: Int64,
        scannedForUnexpected: Bool,
        problems: [Problem]
    ) {
        self.selected = selected
        self.ok = ok
        self.inProgress = inProgress
        self.bytesHashed = bytesHashed
        self.scannedForUnexpected = scannedForUnexpected
        self.problems = problems
    }

    public var isClean: Bool { self.problems.isEmpty }

    /// Problems per kind, every kind present (zeros included), for the audit entry and the summary line.
    public var counts: [Problem.Kind: Int] {
        var counts = Dictionary(uniqueKeysWithValues: Problem.Kind.allCases.map { ($0, 0) })
        for problem in self.problems { counts[problem.kind, default: 0] += 1 }
        return counts
    }

    /// One line: how many files, how many good, problems by kind.
    public var summaryLine: String {
        let counts = self.counts
        let kinds = Problem.Kind.allCases.compactMap { kind in
            counts[kind].flatMap { $0 > 0 ? "\($0) \(kind.rawValue)" : nil }
        }
        let problems = kinds.isEmpty ? "no problems" : kinds.joined(separator: ", ")
        return "\(self.selected) files checked, \(self.ok) ok, \(self.inProgress) in progress: \(problems)"
    }

    /// The problems as an aligned table (kind, path, detail), one row each.
    public var problemTable: [String] {
        guard !self.problems.isEmpty else { return [] }
        let kindWidth = max(4, self.problems.map(\.kind.rawValue.count).max() ?? 0)
        let pathWidth = max(4, self.problems.map(\.path.count).max() ?? 0)
        func pad(_ text: String, _ width: Int) -> String {
            text + String(repeating: " ", count: max(0, width - text.count))
        }
        var lines = ["\(pad("KIND", kindWidth))  \(pad("PATH", pathWidth))  DETAIL"]
        for problem in self.problems {
            lines.append("\(pad(problem.kind.rawValue, kindWidth))  \(pad(problem.path, pathWidth))  \(problem.detail)")
        }
        return lines
    }
}

extension AuditAnchor {
    /// Parses `SEQ:HASH` as `exorec audit verify` prints it (64 lowercase hex digits); nil if malformed.
    public init?(text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let seq = Int64(parts[0]), seq > 0 else { return nil }
        let hash = parts[1].lowercased()
        guard hash.count == 64, hash.allSatisfy({ $0.isHexDigit }) else { return nil }
        self.init(seq: seq, hash: hash)
    }

    /// `SEQ:HASH`, the form ``init(text:)`` reads.
    public var text: String { "\(self.seq):\(self.hash)" }
}

extension ArchiveVerifier.Selection {
    /// Reads `--since`: `2026-11-24`, `2026-11-24T09:30:00Z`, `2026-11-24T09:30:00.000Z` (UTC), or an age
    /// before `now` — `90m`, `24h`, `7d`. Nil if it is none of those.
    public static func parseSince(_ text: String, now: Timestamp = .now()) -> Timestamp? {
        if let unit = text.last, "mhd".contains(unit), let amount = Int64(text.dropLast()), amount >= 0 {
            let minutes: Int64 = unit == "m" ? 1 : unit == "h" ? 60 : 1440
            return Timestamp(millisecondsSinceEpoch: now.millisecondsSinceEpoch - amount * minutes * 60_000)
        }
        let full: String
        switch text.count {
        case 10: full = text + "T00:00:00.000Z"
        case 20 where text.hasSuffix("Z"): full = text.dropLast() + ".000Z"
        default: full = text
        }
        return try? Timestamp(iso8601: full)
    }
}
