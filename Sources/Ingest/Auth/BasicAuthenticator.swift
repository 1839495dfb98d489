import Foundation

/// Checks the HTTP Basic credentials the platform sends on the WebSocket upgrade.
///
/// The platform takes them from the StreamUrl's user-info (`wss://user:pass@host/...`) and sends
/// `Authorization: Basic base64(user:pass)` (exotel-platform.md §1.1). Comparison takes the same
/// time whatever the input, so response timing tells an attacker nothing about the password.
public struct BasicAuthenticator: Sendable {
    public struct Credential: Sendable, Hashable {
        public var username: String
        public var password: String
        public init(username: String, password: String) {
            self.username = username
            self.password = password
        }
    }

    public enum Verdict: Sendable, Hashable {
        case allowed
        case missing
        case malformed
        case wrong
    }

    private let expected: [[UInt8]]
    /// `true` only when the configuration says so explicitly.
    public let isDisabled: Bool

    public init(credentials: [Credential], disabled: Bool) {
        self.expected = credentials.map { Array("\($0.username):\($0.password)".utf8) }
        self.isDisabled = disabled
    }

    public func check(authorizationHeader header: String?) -> Verdict {
        if self.isDisabled { return .allowed }
        guard let header, !header.isEmpty else { return .missing }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let decoded = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces))
        else { return .malformed }
        let offered = Array(decoded)
        var match = false
        for candidate in self.expected where Self.constantTimeEquals(candidate, offered) {
            match = true
        }
        return match ? .allowed : .wrong
    }

    /// Whether `a` and `b` hold the same bytes, in time that depends on the longer length only (no early
    /// return at the first difference). The length difference is kept at full width: folded into one byte, a
    /// length differing by a multiple of 256 (the password followed by 256 NUL bytes) would compare equal.
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt(bitPattern: a.count ^ b.count)
        for i in 0..<max(a.count, b.count) {
            difference |= UInt((i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0))
        }
        return difference == 0
    }
}
