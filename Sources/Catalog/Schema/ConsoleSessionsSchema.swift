import SQLKit

extension Table {
    /// The web console's signed-in sessions (``ConsoleSession``).
    static let consoleSessions = "console_sessions"
}

/// The console's sessions: one row per signed-in browser, shared by every node on the catalog, so a
/// session started on one node works on the other, and signing out (deleting the row) ends it on both.
///
/// The row holds the SHA-256 of the session token, never the token: whoever reads the catalog cannot
/// sign in with what they read. Runtime state like `nodes`: neither copied nor rebuilt from the files.
func createConsoleSessions(_ db: any SQLDatabase) async throws {
    typealias T = ColumnType
    try await db.create(table: Table.consoleSessions)
        .column("token_sha256", type: T.text, .primaryKey(autoIncrement: false))
        .column("user_name", type: T.text, .notNull)
        // A digest of the user's password hash at sign-in: a changed password ends the user's sessions.
        .column("credential", type: T.text, .notNull)
        .column("created_at", type: T.time, .notNull)
        .column("expires_at", type: T.time, .notNull)
        .column("remote", type: T.text, .notNull)
        .run()
    try await db.create(index: "console_sessions_by_expiry").on(Table.consoleSessions).column("expires_at").run()
}
