import MediaStore
import SQLKit

/// A signed-in browser of the web console (`console_sessions`). The token itself is only in the
/// browser's cookie; the catalog keeps its SHA-256.
public struct ConsoleSession: Sendable, Hashable, Codable {
    /// Lowercase hex SHA-256 of the session token.
    public var tokenSHA256: String
    public var userName: String
    /// A digest of the user's password hash when the session began (the console compares it with the
    /// configuration's now: a changed password ends the session).
    public var credential: String
    public var createdAt: Timestamp
    public var expiresAt: Timestamp
    /// The address the sign-in came from.
    public var remote: String

    public init(
        tokenSHA256: String,
        userName: String,
        credential: String,
        createdAt: Timestamp,
        expiresAt: Timestamp,
        remote: String
    ) {
        self.tokenSHA256 = tokenSHA256
        self.userName = userName
        self.credential = credential
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.remote = remote
    }

    init(row: any SQLRow) throws {
        self.tokenSHA256 = try row.value("token_sha256")
        self.userName = try row.value("user_name")
        self.credential = try row.value("credential")
        self.createdAt = try row.timestamp("created_at")
        self.expiresAt = try row.timestamp("expires_at")
        self.remote = try row.value("remote")
    }
}
