import Logging
import MediaStore
import SQLKit

/// The index of everything exorec placed, received and stored: calls and their statuses, status callbacks,
/// streams, recordings, media files, the download queue and the hash-chained audit log.
///
/// One SQLite file (`storage/catalog.sqlite` by default) or a PostgreSQL database (a `postgres://` URL in place
/// of the path), written through one set of SQLKit query builders (see `docs/CATALOG.md`). The files and sidecars
/// under `storage/media` are the record; ``CatalogRebuilder`` recreates this index from them.
///
/// ```swift
/// try await Catalog.withCatalog(path: "storage/catalog.sqlite", logger: logger) { catalog in
///     try await catalog.recordPlacedCall(PlacedCall(request: request, response: call, accountSid: "acme", placedAt: .now()))
///     let result = try await catalog.recordCallback(ReceivedCallback(receivedAt: .now(), contentType: type, body: body))
/// }
/// ```
///
/// Operations on one `Catalog` run one at a time on its single connection (SQLite has one writer anyway);
/// several `Catalog`s, in one process or several, may share a file: WAL lets readers run beside the writer,
/// write transactions take the lock up front and wait for it up to the busy timeout, and every multi-statement
/// change is one transaction.
public actor Catalog {
    /// The catalog file, or the PostgreSQL URL without its password: what messages and logs show.
    public nonisolated let path: String
    /// Where the catalog lives.
    public nonisolated let location: CatalogLocation
    /// Poked after every committed write, so that feed readers waiting in ``waitForEvents(after:timeout:)``
    /// look again at once instead of at their next poll.
    nonisolated let eventSignal = CatalogChangeSignal()
    /// When progress events were last pruned (their own time, epoch ms).
    var lastProgressPruneMs: Int64 = 0
    let backend: any CatalogBackend
    let logger: Logger
    private var isClosed = false
    /// Set once the file is known to be at ``supportedSchemaVersion`` (checked on first use, or by `migrate()`).
    private var schemaReady = false
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    /// The highest schema version this code knows (the last of its migrations).
    public static var supportedSchemaVersion: Int { CatalogMigration.all.last?.version ?? 0 }

    private init(backend: any CatalogBackend, logger: Logger) {
        self.location = backend.location
        self.path = backend.location.displayName
        self.backend = backend
        self.logger = logger
    }

    deinit {
        if !self.isClosed {
            self.logger.warning(
                "catalog released without close(); its connection stays open until the process ends",
                metadata: ["catalog.path": "\(self.path)"]
            )
        }
    }

    /// Opens (creating it and its parent folders if needed) the catalog at `path`: an SQLite file, or the
    /// PostgreSQL database of a `postgres://` URL (see ``CatalogLocation``).
    ///
    /// - Throws: ``CatalogError/schemaTooNew(path:found:supported:)`` when a newer exorec has migrated the catalog;
    ///   ``CatalogError/cannotOpen(path:reason:)`` when the file cannot be opened as an SQLite database or the
    ///   PostgreSQL server cannot be reached or refuses the login (within a few seconds).
    public static func open(path: String, logger: Logger) async throws -> Catalog {
        try await Self.open(CatalogLocation(path), logger: logger)
    }

    /// Opens the catalog at `location`.
    public static func open(_ location: CatalogLocation, logger: Logger) async throws -> Catalog {
        let backend = try await location.openBackend(logger: logger)
        let catalog = Catalog(backend: backend, logger: logger)
        do {
            let version = try await catalog.schemaVersion()
            if version > Self.supportedSchemaVersion {
                throw CatalogError.schemaTooNew(
                    path: catalog.path,
                    found: version,
                    supported: Self.supportedSchemaVersion
                )
            }
        } catch {
            try? await catalog.close()
            throw error
        }
        return catalog
    }

    /// Opens the catalog, migrates it (unless told not to), runs `body` and closes it on every path.
    public static func withCatalog<Result: Sendable>(
        path: String,
        logger: Logger,
        migrate: Bool = true,
        _ body: (Catalog) async throws -> Result
    ) async throws -> Result {
        let catalog = try await Catalog.open(path: path, logger: logger)
        do {
            if migrate { try await catalog.migrate() }
            let result = try await body(catalog)
            try await catalog.close()
            return result
        } catch {
            try? await catalog.close()
            throw error
        }
    }

    /// Checkpoints the WAL into the file (SQLite) and closes the connection (or the pool). Later calls throw ``CatalogError/closed(path:)``.
    public func close() async throws {
        guard !self.isClosed else { return }
        await self.acquire()
        defer { self.release() }
        self.isClosed = true
        try await self.backend.close()
    }

    // MARK: - One operation at a time

    private func acquire() async {
        if !self.busy {
            self.busy = true
            return
        }
        await withCheckedContinuation { self.waiters.append($0) }
    }

    private func release() {
        if self.waiters.isEmpty {
            self.busy = false
        } else {
            // Hand the connection straight to the next waiter (`busy` stays true).
            self.waiters.removeFirst().resume()
        }
    }

    /// Runs `body` with the connection to itself. Errors that are not a ``CatalogError`` are wrapped in
    /// ``CatalogError/database(operation:reason:)`` naming `operation`.
    ///
    /// Unless `requiresSchema` is false, the file must be fully migrated:
    /// ``CatalogError/schemaTooOld(path:found:required:)`` otherwise.
    func exclusive<T: Sendable>(
        _ operation: String,
        requiresSchema: Bool = true,
        _ body: (any SQLDatabase) async throws -> T
    ) async throws -> T {
        await self.acquire()
        defer { self.release() }
        guard !self.isClosed else { throw CatalogError.closed(path: self.path) }
        do {
            if requiresSchema && !self.schemaReady {
                let version = try await self.backend.withDatabase(isolation: self) { db in
                    try await self.currentVersion(db)
                }
                guard version == Self.supportedSchemaVersion else {
                    throw CatalogError.schemaTooOld(
                        path: self.path,
                        found: version,
                        required: Self.supportedSchemaVersion
                    )
                }
                self.schemaReady = true
            }
            return try await self.backend.withDatabase(isolation: self) { db in try await body(db) }
        } catch let error as CatalogError {
            throw error
        } catch {
            throw CatalogError.database(operation: operation, reason: describeDatabaseError(error))
        }
    }

    /// Runs `body` in one write transaction: committed if it returns, rolled back if it throws.
    func transaction<T: Sendable>(
        _ operation: String,
        requiresSchema: Bool = true,
        _ body: (any SQLDatabase) async throws -> T
    ) async throws -> T {
        try await self.exclusive(operation, requiresSchema: requiresSchema) { db in
            for statement in self.backend.dialect.beginWriteTransaction {
                try await db.execute(sql: SQLRaw(statement)) { _ in }
            }
            do {
                let result = try await body(db)
                try await db.execute(sql: SQLRaw("COMMIT")) { _ in }
                // Whatever committed may have added events: waiting feed readers look again.
                self.eventSignal.poke()
                return result
            } catch {
                try? await db.execute(sql: SQLRaw("ROLLBACK")) { _ in }
                throw error
            }
        }
    }

    // MARK: - Schema

    /// The schema version the file is at: the highest version in `schema_migrations`, 0 for a new file.
    public func schemaVersion() async throws -> Int {
        try await self.exclusive("read schema version", requiresSchema: false) { db in
            try await self.currentVersion(db)
        }
    }

    private func currentVersion(_ db: any SQLDatabase) async throws -> Int {
        guard try await self.backend.tableExists(CatalogMigration.table, on: db) else { return 0 }
        let row = try await db.select()
            .column(SQLFunction("MAX", args: SQLColumn("version")), as: "version")
            .from(CatalogMigration.table)
            .first()
        return try row.flatMap { try $0.optional("version", as: Int.self) } ?? 0
    }

    /// Applies every migration the file has not had yet, each in its own transaction together with its row in
    /// `schema_migrations`; re-running it is a no-op. Returns the migrations it applied.
    ///
    /// - Throws: ``CatalogError/schemaTooNew(path:found:supported:)`` if another process migrated the file past
    ///   what this code knows; ``CatalogError/migrationFailed(version:name:reason:)`` (the migration is rolled
    ///   back) if a step fails.
    @discardableResult
    public func migrate(at time: Timestamp = .now()) async throws -> [AppliedMigration] {
        var applied: [AppliedMigration] = []
        for migration in CatalogMigration.all {
            let done = try await self.transaction("migrate", requiresSchema: false) { db -> AppliedMigration? in
                try await db.create(table: CatalogMigration.table)
                    .ifNotExists()
                    .column("version", type: .bigint, .primaryKey(autoIncrement: false))
                    .column("name", type: .text, .notNull)
                    .column("applied_at", type: .bigint, .notNull)
                    .run()
                let current = try await self.currentVersion(db)
                if current > Self.supportedSchemaVersion {
                    throw CatalogError.schemaTooNew(
                        path: self.path,
                        found: current,
                        supported: Self.supportedSchemaVersion
                    )
                }
                guard current < migration.version else { return nil }
                do {
                    try await migration.apply(db, self.backend)
                } catch {
                    throw CatalogError.migrationFailed(
                        version: migration.version,
                        name: migration.name,
                        reason: describeDatabaseError(error)
                    )
                }
                try await db.insert(into: CatalogMigration.table)
                    .columns("version", "name", "applied_at")
                    .values(migration.version, migration.name, time.millisecondsSinceEpoch)
                    .run()
                return AppliedMigration(version: migration.version, name: migration.name, appliedAt: time)
            }
            if let done {
                applied.append(done)
                self.logger.info(
                    "catalog migrated",
                    metadata: [
                        "catalog.path": "\(self.path)", "catalog.version": "\(done.version)",
                        "catalog.migration": "\(done.name)",
                    ]
                )
            }
        }
        self.schemaReady = true
        return applied
    }

    /// The rows of `schema_migrations`, oldest first.
    public func appliedMigrations() async throws -> [AppliedMigration] {
        try await self.exclusive("read migrations", requiresSchema: false) { db in
            guard try await self.backend.tableExists(CatalogMigration.table, on: db) else { return [] }
            return try await db.select().columns("version", "name", "applied_at").from(CatalogMigration.table)
                .orderBy("version").all()
                .map { row in
                    AppliedMigration(
                        version: try row.value("version"),
                        name: try row.value("name"),
                        appliedAt: try row.timestamp("applied_at")
                    )
                }
        }
    }
}

/// A row of `schema_migrations`.
public struct AppliedMigration: Sendable, Hashable, Codable {
    public var version: Int
    public var name: String
    public var appliedAt: Timestamp

    enum CodingKeys: String, CodingKey { case version, name, appliedAt = "applied_at" }
}
