/// What an export did; `Codable` with snake_case keys for `exorec export --json`.
public struct ExportReport: Sendable, Hashable, Codable {
    /// A selected source file that was not exported.
    public struct Problem: Sendable, Hashable, Codable, CustomStringConvertible {
        public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
            /// The catalog names the file; it is not on disk (or is catalogued as `missing`).
            case missing
            /// Its SHA-256 or size differs from the catalog's: altered or replaced, so not exported.
            case changed
            /// No checksum in the catalog (a stream still being written, or never hashed): it cannot be proven.
            case noChecksum = "no-checksum"
            /// It could not be read or decoded, or the export's copy could not be written.
            case unreadable
        }

        public var kind: Kind
        /// The source, relative to the storage root.
        public var path: String
        public var callSid: String
        public var detail: String

        enum CodingKeys: String, CodingKey {
            case kind, path, detail
            case callSid = "call_sid"
        }

        public var description: String { "\(self.kind.rawValue): \(self.path) — \(self.detail)" }
    }

    public var destination: String
    public var bag: Bool
    public var format: ExportFormat
    public var splitLegs: Bool
    /// Calls exported (their metadata at least).
    public var calls: Int
    /// Whether the selection stopped at the search's limit (more calls may match).
    public var reachedLimit: Bool
    /// Source files selected.
    public var selected: Int
    /// Source files exported, this run or an interrupted one before it.
    public var exported: Int
    /// Of those, exported by an interrupted run and kept.
    public var resumed: Int
    /// Payload files and their total size (metadata and `export.json` included).
    public var payloadFiles: Int
    public var payloadBytes: Int64
    public var problems: [Problem]
    /// The audit entry recording this export (`export.completed`).
    public var auditSeq: Int64

    enum CodingKeys: String, CodingKey {
        case destination, bag, format, calls, selected, exported, resumed, problems
        case splitLegs = "split_legs", reachedLimit = "reached_limit", payloadFiles = "payload_files"
        case payloadBytes = "payload_bytes", auditSeq = "audit_seq"
    }

    public var isClean: Bool { self.problems.isEmpty }

    /// `3 calls, 6 of 6 files exported (2 resumed), 9 payload files, 1.2 MB, as a BagIt bag in out/; no problems`.
    public var summaryLine: String {
        let megabytes = Double(self.payloadBytes) / 1_000_000
        let size = megabytes < 0.1 ? "\(self.payloadBytes) bytes" : "\((megabytes * 10).rounded() / 10) MB"
        var line = "\(self.calls) call(s), \(self.exported) of \(self.selected) file(s) exported"
        if self.resumed > 0 { line += " (\(self.resumed) by an earlier, interrupted run)" }
        line +=
            ", \(self.payloadFiles) payload files, \(size), \(self.bag ? "as a BagIt bag" : "as a folder") in \(self.destination); "
        if self.problems.isEmpty {
            line += "no problems"
        } else {
            var counts: [Problem.Kind: Int] = [:]
            for problem in self.problems { counts[problem.kind, default: 0] += 1 }
            line += Problem.Kind.allCases.compactMap { kind in counts[kind].map { "\($0) \(kind.rawValue)" } }.joined(
                separator: ", "
            )
        }
        return line
    }
}
