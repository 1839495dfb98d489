/// A media file on disk held against what a record says of it: whether it is there, its size and its SHA-256.
///
/// The one check that `exorec catalog rebuild` (the file against its sidecar) and `exorec archive verify` (the
/// file against the catalog's row) both make. Each says in its own words what a finding means for it; the
/// rules of the check itself (what is compared, in which order, what is hashed) live here only.
public struct MediaFileCheck: Sendable, Equatable {
    /// When the file is hashed (only ever if an expected SHA-256 is given).
    public enum Hashing: Sendable, Hashable {
        /// Never: existence and size only.
        case never
        /// Always, also when the size already differs (every disagreement is reported).
        case always
        /// Only when the size agrees: a file of the wrong size has changed whatever it hashes to, and is not
        /// read.
        case whenSizeAgrees
    }

    /// What could not be read.
    public enum Operation: String, Sendable, Hashable {
        case size, sha256
    }

    /// One disagreement between the file and the record.
    public enum Finding: Sendable, Equatable {
        /// The file is not on disk (nothing else is checked).
        case missing
        /// The file has `actual` bytes, the record says `expected`.
        case sizeDiffers(actual: Int64, expected: Int64)
        /// The file hashes to `actual`, the record says `expected` (lowercase hex).
        case sha256Differs(actual: String, expected: String)
        /// The file is there but its size (then it is not hashed) or its content could not be read.
        case unreadable(Operation, MediaError)
    }

    /// The disagreements, in the order they were found; empty when the file is as the record says.
    public var findings: [Finding]
    /// The bytes read to hash the file (0 if it was not hashed, or hashing failed).
    public var hashedBytes: Int64

    public init(findings: [Finding], hashedBytes: Int64) {
        self.findings = findings
        self.hashedBytes = hashedBytes
    }

    public var isMissing: Bool { self.findings == [.missing] }

    /// Checks the file at `path` (absolute) against `bytes` and `sha256` (each nil when the record does not say).
    /// Blocking file I/O: run it off the event loops.
    public static func check(_ path: String, bytes: Int64?, sha256: String?, hashing: Hashing) -> MediaFileCheck {
        guard FileSystem.exists(path) else { return MediaFileCheck(findings: [.missing], hashedBytes: 0) }
        var findings: [Finding] = []
        let size: Int64
        do {
            size = try FileSystem.size(of: path)
        } catch {
            return MediaFileCheck(findings: [.unreadable(.size, error)], hashedBytes: 0)
        }
        if let bytes, size != bytes {
            findings.append(.sizeDiffers(actual: size, expected: bytes))
            if hashing == .whenSizeAgrees { return MediaFileCheck(findings: findings, hashedBytes: 0) }
        }
        guard hashing != .never, let sha256 else { return MediaFileCheck(findings: findings, hashedBytes: 0) }
        do {
            let actual = try FileSystem.sha256(of: path)
            if actual != sha256 { findings.append(.sha256Differs(actual: actual, expected: sha256)) }
            return MediaFileCheck(findings: findings, hashedBytes: size)
        } catch {
            findings.append(.unreadable(.sha256, error))
            return MediaFileCheck(findings: findings, hashedBytes: 0)
        }
    }
}
