import MediaStore
import SQLKit

extension Catalog {
    /// Records a new console session (a successful sign-in). Expired sessions are removed on the way.
    public func createConsoleSession(_ session: ConsoleSession) async throws {
        try await self.transaction("create console session") { db in
            try await db.delete(from: Table.consoleSessions)
                .where("expires_at", .lessThanOrEqual, session.createdAt.millisecondsSinceEpoch).run()
            try await db.insert(into: Table.consoleSessions)
                .columns("token_sha256", "user_name", "credential", "created_at", "expires_at", "remote")
                .values(
                    session.tokenSHA256,
                    session.userName,
                    session.credential,
                    session.createdAt.millisecondsSinceEpoch,
                    session.expiresAt.millisecondsSinceEpoch,
                    session.remote
                )
                .run()
        }
    }

    /// The unexpired session with this token hash, or nil.
    public func consoleSession(tokenSHA256: String, at time: Timestamp = .now()) async throws -> ConsoleSession? {
        try await self.exclusive("read console session") { db in
            try await db.select().column("*").from(Table.consoleSessions)
                .where("token_sha256", .equal, tokenSHA256)
                .where("expires_at", .greaterThan, time.millisecondsSinceEpoch)
                .first().map(ConsoleSession.init(row:))
        }
    }

    /// Ends a session (sign-out): true when there was one.
    @discardableResult
    public func deleteConsoleSession(tokenSHA256: String) async throws -> Bool {
        try await self.transaction("delete console session") { db in
            let found = try await db.select().column("token_sha256").from(Table.consoleSessions)
                .where("token_sha256", .equal, tokenSHA256).first()
            try await db.delete(from: Table.consoleSessions).where("token_sha256", .equal, tokenSHA256).run()
            return found != nil
        }
    }

    /// Ends every session of a user (a user removed from the configuration, or whose password changed).
    public func deleteConsoleSessions(userName: String) async throws {
        try await self.transaction("delete console sessions of a user") { db in
            try await db.delete(from: Table.consoleSessions).where("user_name", .equal, userName).run()
        }
    }
}
