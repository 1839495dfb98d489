import ExotelKit
import Logging
import SQLKit

/// Where a catalog lives: an SQLite file (the embedded default) or a PostgreSQL database.
///
/// Every API that takes a catalog "path" takes either: a `postgres://` or `postgresql://` URL selects
/// PostgreSQL, anything else is the path of an SQLite file.
public enum CatalogLocation: Sendable, Hashable {
    case sqlite(path: String)
    case postgres(url: String)

    public init(_ pathOrURL: String) {
        if Self.isPostgresURL(pathOrURL) {
            self = .postgres(url: pathOrURL)
        } else {
            self = .sqlite(path: pathOrURL)
        }
    }

    /// Whether `text` names a PostgreSQL database rather than a file.
    public static func isPostgresURL(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    /// What messages and logs show: the path, or the URL without its password.
    public var displayName: String {
        switch self {
        case .sqlite(let path): path
        case .postgres(let url): URLRedaction.redacting(url)
        }
    }
}

/// Everything that differs between the catalog's databases, as data. The queries themselves are SQLKit
/// builders on `any SQLDatabase`, one set for both; only these statements differ.
struct CatalogDialect: Sendable {
    /// Run, in order, to start a write transaction (see ``SQLiteCatalogBackend`` and ``PostgresCatalogBackend``).
    let beginWriteTransaction: [String]
    /// Lists a table by name: one row when the table exists. The table name is bound as `$1`/`?` by the builder.
    let tableListing: @Sendable (String) -> SQLQueryString
    /// The statements that make a table refuse UPDATE and DELETE.
    let appendOnly: @Sendable (String) -> [String]
    /// Run before a close or a file copy; nil when the database has nothing to flush.
    let checkpoint: String?
    /// A condition true when `calls.metadata_json` holds the pair `key` = `value` exactly.
    let metadataPair: @Sendable (String, String) -> SQLQueryString
    /// Every table of the catalog, one row each with a text column `name`.
    let allTables: SQLQueryString
    /// A table's columns in order: rows of `column_name` and `data_type` (the declared type, as text).
    let columnListing: @Sendable (String) -> SQLQueryString
    /// Starts a read-only transaction that sees one snapshot of the whole catalog (`catalog migrate` reads in it).
    let beginSnapshot: [String]
    /// Sets an integer key's generator past the rows copied into the table; nil when inserting explicit keys
    /// already does (SQLite's AUTOINCREMENT).
    let resetSequence: @Sendable (_ table: String, _ column: String) -> String?
    /// Lifts and restores a table's append-only rule, inside one transaction (`catalog migrate --replace`).
    let suspendAppendOnly: @Sendable (String) -> [String]
    let resumeAppendOnly: @Sendable (String) -> [String]
}

/// A connection (or a pool of them) to the catalog's database. Two kinds: ``SQLiteCatalogBackend`` and
/// ``PostgresCatalogBackend``. The ``Catalog`` actor runs its operations one at a time through
/// ``withDatabase(isolation:_:)``; a transaction is always on one connection.
protocol CatalogBackend: Sendable {
    var location: CatalogLocation { get }
    var dialect: CatalogDialect { get }

    /// Runs `body` with one connection, for the length of `body`.
    func withDatabase<T: Sendable>(
        isolation: isolated (any Actor)?,
        _ body: (any SQLDatabase) async throws -> T
    ) async throws -> T

    /// Flushes and closes; later calls fail.
    func close() async throws
}

extension CatalogBackend {
    func tableExists(_ name: String, on db: any SQLDatabase) async throws -> Bool {
        try await db.raw(self.dialect.tableListing(name)).first() != nil
    }

    /// Makes `table` refuse UPDATE and DELETE. Someone with write access to the database can drop the
    /// triggers, which is why the audit log is also hash-chained; the triggers stop accidents, the chain
    /// detects intent.
    func makeAppendOnly(_ table: String, on db: any SQLDatabase) async throws {
        for statement in self.dialect.appendOnly(table) {
            try await db.execute(sql: SQLRaw(statement)) { _ in }
        }
    }
}

extension CatalogLocation {
    /// Connects to the database (creating an SQLite file and its folders if needed).
    func openBackend(logger: Logger) async throws -> any CatalogBackend {
        switch self {
        case .sqlite(let path): try await SQLiteCatalogBackend.open(path: path, logger: logger)
        case .postgres(let url): try await PostgresCatalogBackend.open(url: url, logger: logger)
        }
    }
}

/// A database error in one line, whichever database it came from (PostgresNIO's own description hides the
/// server's message on purpose; SQLite's is already one line).
func describeDatabaseError(_ error: any Error) -> String {
    PostgresCatalogBackend.describe(error)
}
