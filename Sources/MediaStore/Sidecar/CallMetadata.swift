/// The rules for a call's metadata: the name → value pairs a user attaches to a call (a campaign row's
/// extra columns, `exorec call --meta key=value`), kept in `call.json` (`metadata`) and the catalog
/// (`calls.metadata_json`), shown by `catalog show` and searched exactly by `catalog search --meta`.
///
/// The pairs come from outside (a CRM's CSV export, a command line), so they are bounded and checked before
/// anything is placed: at most ``maximumEntries`` pairs; a key is 1–``maximumKeyBytes`` bytes of UTF-8 with
/// no control character and no `=` (it is lowercased and trimmed, as a CSV header name is); a value is at
/// most ``maximumValueBytes`` bytes with no control character other than tab, line feed and carriage return
/// (a quoted CSV cell may hold line breaks). Empty values are left out.
public enum CallMetadata {
    public static let maximumEntries = 32
    public static let maximumKeyBytes = 64
    public static let maximumValueBytes = 1024

    /// The key as stored: trimmed of spaces and lowercased.
    public static func normalisedKey(_ key: String) -> String {
        var scalars = Substring(key).unicodeScalars
        while let first = scalars.first, first.properties.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() }
        return String(scalars).lowercased()
    }

    /// Every problem of `metadata` (empty when it can be stored), each a sentence naming the key.
    public static func problems(_ metadata: [String: String]) -> [String] {
        Self.countProblem(metadata).map { [$0] + Self.entryProblems(metadata) } ?? Self.entryProblems(metadata)
    }

    /// Why `metadata` has too many pairs, if it has.
    public static func countProblem(_ metadata: [String: String]) -> String? {
        guard metadata.count > Self.maximumEntries else { return nil }
        return "\(metadata.count) metadata columns, at most \(Self.maximumEntries) are kept"
    }

    /// The problems of each pair (key, then value), in key order.
    public static func entryProblems(_ metadata: [String: String]) -> [String] {
        var problems: [String] = []
        for key in metadata.keys.sorted() {
            if let problem = Self.keyProblem(key) {
                problems.append(problem)
            } else if let value = metadata[key], let problem = Self.valueProblem(value, key: key) {
                problems.append(problem)
            }
        }
        return problems
    }

    /// `key=value` (the first `=` splits) as a normalised pair, or why it cannot be one.
    public static func pair(_ argument: String) -> Result<(key: String, value: String), MetadataProblem> {
        guard let equals = argument.firstIndex(of: "=") else {
            return .failure(MetadataProblem("'\(Self.shown(argument))' is not key=value"))
        }
        let key = Self.normalisedKey(String(argument[..<equals]))
        let value = String(argument[argument.index(after: equals)...])
        if let problem = Self.keyProblem(key) ?? Self.valueProblem(value, key: key) {
            return .failure(MetadataProblem(problem))
        }
        return .success((key, value))
    }

    static func keyProblem(_ key: String) -> String? {
        if key.isEmpty { return "a metadata key is empty" }
        if key.utf8.count > Self.maximumKeyBytes {
            return "metadata key '\(Self.shown(key))' is longer than \(Self.maximumKeyBytes) bytes"
        }
        if key.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0 == "=" }) {
            return "metadata key '\(Self.shown(key))' has a control character or '='"
        }
        return nil
    }

    static func valueProblem(_ value: String, key: String) -> String? {
        if value.utf8.count > Self.maximumValueBytes {
            return "metadata '\(Self.shown(key))' is longer than \(Self.maximumValueBytes) bytes"
        }
        let allowed: Set<Unicode.Scalar> = ["\t", "\n", "\r"]
        if value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && !allowed.contains($0) })
        {
            return "metadata '\(Self.shown(key))' has a control character (only tab and line breaks are kept)"
        }
        return nil
    }

    /// Text as it appears in a message: control characters escaped, at most 64 characters.
    static func shown(_ text: String) -> String {
        var shown = ""
        for scalar in text.unicodeScalars.prefix(64) {
            shown += scalar.properties.generalCategory == .control ? scalar.escaped(asASCII: true) : String(scalar)
        }
        return text.unicodeScalars.count > 64 ? shown + "…" : shown
    }
}

/// Why a `key=value` is not call metadata.
public struct MetadataProblem: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
