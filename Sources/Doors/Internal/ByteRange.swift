import Foundation

/// A single byte range from a `Range` header (RFC 9110 §14.1.2), resolved against a file's length.
public struct ByteRange: Sendable, Hashable {
    public let first: Int64
    /// Inclusive.
    public let last: Int64

    public var count: Int64 { self.last - self.first + 1 }

    public enum Resolution: Sendable, Hashable {
        /// No usable Range header (absent, not `bytes=`, several ranges, or malformed): send the whole file.
        case whole
        case partial(ByteRange)
        /// The range starts at or past the end: 416.
        case unsatisfiable
    }

    /// Resolves `header` against `length`. Malformed or multi-range headers are ignored (the whole file is
    /// sent), as RFC 9110 allows; a satisfiable range is clamped to the file.
    public static func resolve(_ header: String?, length: Int64) -> Resolution {
        guard let header else { return .whole }
        let text = header.trimmingCharacters(in: .whitespaces)
        guard text.lowercased().hasPrefix("bytes=") else { return .whole }
        let spec = text.dropFirst("bytes=".count)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let startText = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let endText = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        if startText.isEmpty {
            // A suffix: the last N bytes.
            guard let suffix = Int64(endText), suffix >= 0 else { return .whole }
            guard suffix > 0, length > 0 else { return .unsatisfiable }
            return .partial(ByteRange(first: max(0, length - suffix), last: length - 1))
        }
        guard let first = Int64(startText), first >= 0 else { return .whole }
        var last = length - 1
        if !endText.isEmpty {
            guard let end = Int64(endText), end >= first else { return .whole }
            last = min(end, length - 1)
        }
        guard first < length else { return .unsatisfiable }
        return .partial(ByteRange(first: first, last: last))
    }
}
