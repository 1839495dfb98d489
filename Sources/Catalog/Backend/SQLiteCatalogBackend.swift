import Glibc
import Logging
import MediaStore
import NIOPosix
import SQLKit
import SQLiteKit

/// Everything SQLite-specific about the catalog, in one place: opening the file, the PRAGMAs, how a write
/// transaction begins, how tables are listed, the append-only triggers and the WAL checkpoint.
///
/// The queries themselves go through SQLKit's builders on `any SQLDatabase`; ``PostgresCatalogBackend`` is the
/// other implementation of ``CatalogBackend``.
struct SQLiteCatalogBackend: CatalogBackend {
    let path: String
    let connection: SQLiteConnection
    let database: any SQLDatabase
    /// The thread that runs this connection's libsqlite3 calls: one per catalog, not sqlite-nio's shared pool
    /// (one thread per core). A statement waiting out another connection's write lock (`busy_timeout`) blocks
    /// its thread; on the shared pool, a few such waiters in one process (catalogs of tests, or a command
    /// beside its process's own) could occupy every thread, so the lock's holder could not run its COMMIT
    /// and every waiter failed with "database is locked" after the timeout.
    let threads: NIOThreadPool

    var location: CatalogLocation { .sqlite(path: self.path) }
    var dialect: CatalogDialect { Self.dialect }

    /// How long a statement waits for another connection's write lock before failing with `SQLITE_BUSY`.
    ///
    /// SQLite's busy handler is not a queue: a waiter sleeps (up to 100 ms at a time) and tries again, while
    /// the connection that just committed usually takes the lock again before any sleeper wakes. So a waiter
    /// can sit out several of another writer's transactions in a row, each with its fsync. 5 s was not enough
    /// under load: on CI (two cores, the whole test pass running) one of four catalogs appending to the
    /// audit log at once failed with "database is locked". Waiting costs only the waiting catalog's own
    /// thread; failing loses the operation (an audit entry, an acknowledged callback).
    static let busyTimeoutMilliseconds = 30_000

    /// Applied to every connection, in this order (the busy timeout first: switching to WAL takes a lock).
    ///
    /// - `busy_timeout` replaces sqlite-nio's default busy handler, which retries without sleeping.
    /// - `journal_mode=WAL`: readers (the CLI, a verifier) never block the writer and the writer never blocks
    ///   them; a commit appends to the log instead of rewriting pages. The mode is stored in the file.
    /// - `synchronous=FULL`: every commit is fsynced before it returns. With `NORMAL` a power cut can roll back
    ///   the last commits in WAL mode; here a commit is an acknowledged status callback (the platform will not
    ///   send it again), a claimed download or an audit entry, so durability is worth one fsync per commit at
    ///   the catalog's rate (a few writes per call).
    /// - `foreign_keys=ON`: SQLite enforces the declared foreign keys only when asked, per connection.
    static let pragmas = [
        "PRAGMA busy_timeout = \(busyTimeoutMilliseconds)",
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = FULL",
        "PRAGMA foreign_keys = ON",
    ]

    /// SQLite's statements.
    ///
    /// - A write transaction starts with `BEGIN IMMEDIATE`, which takes the write lock at once, so a
    ///   transaction that reads and then writes never fails half-way with `SQLITE_BUSY` (a deferred one cannot
    ///   wait for the lock safely).
    /// - Tables are listed in `sqlite_master`.
    /// - Append-only: `BEFORE UPDATE`/`BEFORE DELETE` triggers that `RAISE(ABORT)`.
    /// - `close()` checkpoints the WAL into the file (`wal_checkpoint(TRUNCATE)`).
    /// - Metadata pairs through `json_each`.
    static let dialect = CatalogDialect(
        beginWriteTransaction: ["BEGIN IMMEDIATE"],
        tableListing: { name in "SELECT name FROM sqlite_master WHERE type = 'table' AND name = \(bind: name)" },
        appendOnly: { table in appendOnlyTriggers(table) },
        checkpoint: "PRAGMA wal_checkpoint(TRUNCATE)",
        metadataPair: { key, value in
            "EXISTS (SELECT 1 FROM json_each(\(ident: Table.calls).metadata_json) AS m WHERE m.key = \(bind: key) AND m.value = \(bind: value))"
        },
        allTables: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        columnListing: { table in
            "SELECT name AS column_name, type AS data_type FROM pragma_table_info(\(bind: table)) ORDER BY cid"
        },
        beginSnapshot: ["BEGIN DEFERRED"],
        resetSequence: { _, _ in nil },
        suspendAppendOnly: { table in
            ["update", "delete"].map { #"DROP TRIGGER IF EXISTS "\#(table)_no_\#($0)""# }
        },
        resumeAppendOnly: { table in appendOnlyTriggers(table) }
    )

    static func appendOnlyTriggers(_ table: String) -> [String] {
        ["UPDATE", "DELETE"].map { event in
            """
            CREATE TRIGGER IF NOT EXISTS "\(table)_no_\(event.lowercased())" BEFORE \(event) ON "\(table)"
            BEGIN SELECT RAISE(ABORT, '\(table) is append-only'); END
            """
        }
    }

    static func open(path: String, logger: Logger) async throws -> SQLiteCatalogBackend {
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            do {
                try FileSystem.makeDirectories(String(path[..<slash]))
            } catch {
                throw CatalogError.cannotOpen(path: path, reason: error.description)
            }
        }
        // Created here first, 0640 with the reader group: SQLite gives its -wal and -shm files the database
        // file's mode (the catalog holds raw callback bodies; it is not for every local user).
        if !FileSystem.exists(path) {
            let fd = FileSystem.createFile(path, flags: O_EXCL | O_RDWR | O_CLOEXEC)
            if fd >= 0 { Glibc.close(fd) }
        }
        let threads = NIOThreadPool(numberOfThreads: 1)
        threads.start()
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(
                storage: .file(path: path),
                threadPool: threads,
                logger: logger,
                on: MultiThreadedEventLoopGroup.singleton.any()
            )
        } catch {
            try? await threads.shutdownGracefully()
            throw CatalogError.cannotOpen(path: path, reason: "\(error)")
        }
        let database = connection.sql(queryLogLevel: .trace)
        do {
            for pragma in Self.pragmas {
                try await database.execute(sql: SQLRaw(pragma)) { _ in }
            }
            let mode = try await database.raw("PRAGMA journal_mode").first(
                decodingColumn: "journal_mode",
                as: String.self
            )
            if mode?.lowercased() != "wal" {
                logger.warning(
                    "catalog is not in WAL mode; the filesystem may not support it",
                    metadata: ["catalog.path": "\(path)", "catalog.journal_mode": "\(mode ?? "?")"]
                )
            }
        } catch {
            try? await connection.close()
            try? await threads.shutdownGracefully()
            throw CatalogError.cannotOpen(path: path, reason: "\(error)")
        }
        return SQLiteCatalogBackend(path: path, connection: connection, database: database, threads: threads)
    }

    func withDatabase<T: Sendable>(
        isolation: isolated (any Actor)?,
        _ body: (any SQLDatabase) async throws -> T
    ) async throws -> T {
        try await body(self.database)
    }

    /// Moves every committed page from the WAL into the main file and empties the WAL, so the file alone is
    /// the whole database (before a rename, a copy or a close).
    func checkpoint() async throws {
        try await self.database.execute(sql: SQLRaw("PRAGMA wal_checkpoint(TRUNCATE)")) { _ in }
    }

    func close() async throws {
        try? await self.checkpoint()
        do {
            try await self.connection.close()
        } catch {
            try? await self.threads.shutdownGracefully()
            throw error
        }
        try await self.threads.shutdownGracefully()
    }
}
