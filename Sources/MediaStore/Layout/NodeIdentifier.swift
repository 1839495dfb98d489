import Glibc

/// The rules for a node id (`node.id`): letters, digits, `.`, `_` and `-`, starting with a letter or a digit,
/// at most 63 characters. A node id names the node in the catalog's registry, in `/metrics` labels and in
/// logs, and may name files in a shared storage root, so it is checked like any identifier that becomes a path.
public enum NodeIdentifier {
    public static let maxLength = 63

    /// Why `id` cannot be a node id, or nil if it can.
    public static func problem(with id: String) -> String? {
        guard !id.isEmpty else { return "is empty" }
        guard id.utf8.count <= Self.maxLength else { return "is longer than \(Self.maxLength) characters" }
        guard let first = id.unicodeScalars.first, Self.isAlphanumeric(first) else {
            return "must start with a letter or a digit"
        }
        guard id.unicodeScalars.allSatisfy({ Self.isAlphanumeric($0) || $0 == "." || $0 == "_" || $0 == "-" }) else {
            return "may hold only letters, digits, '.', '_' and '-'"
        }
        return nil
    }

    /// The host name up to its first dot, every character a node id cannot hold mapped to `-` (on a machine
    /// that runs one node, its name is the natural id); `node` when there is none.
    public static func fromHostName() -> String {
        var id = String.UnicodeScalarView()
        for scalar in Self.hostName().unicodeScalars.prefix(while: { $0 != "." }).prefix(Self.maxLength) {
            id.append(Self.isAlphanumeric(scalar) || scalar == "_" || scalar == "-" ? scalar : "-")
        }
        let candidate = String(id)
        return Self.problem(with: candidate) == nil ? candidate : "node"
    }

    /// This machine's host name (`gethostname`), "" if it has none.
    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar))
    }
}
