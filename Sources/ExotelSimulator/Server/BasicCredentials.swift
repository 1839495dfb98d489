import Foundation

/// HTTP Basic credentials from an `Authorization` header. Credentials written into a URL's user-info
/// (`https://key:token@api.exotel.com/…`, as the docs' curl examples do) reach us this way too: clients
/// turn them into the header.
struct BasicCredentials: Sendable, Hashable {
    var user: String
    var password: String

    /// Nil unless the header is `Basic <base64 of user:password>` (scheme case-insensitive).
    init?(authorization header: String?) {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let data = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
            let decoded = String(data: data, encoding: .utf8),
            let colon = decoded.firstIndex(of: ":")
        else { return nil }
        self.user = String(decoded[..<colon])
        self.password = String(decoded[decoded.index(after: colon)...])
    }

    /// Whether these credentials open `account`: its API key and token, or — as legacy SDKs send — its
    /// account sid and token.
    func authorize(_ account: SimulatedAccount) -> Bool {
        let userMatches =
            Self.constantTimeEquals(self.user, account.apiKey) || Self.constantTimeEquals(self.user, account.sid)
        return Self.constantTimeEquals(self.password, account.apiToken) && userMatches
    }

    /// Compares without returning early at the first difference, so response times say nothing about the token.
    /// The length difference is kept at full width (folded into one byte, lengths differing by a multiple of
    /// 256 would cancel out).
    static func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
        let a = Array(lhs.utf8)
        let b = Array(rhs.utf8)
        var difference = UInt(bitPattern: a.count ^ b.count)
        for index in 0..<max(a.count, b.count) {
            difference |= UInt((index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0))
        }
        return difference == 0
    }
}
