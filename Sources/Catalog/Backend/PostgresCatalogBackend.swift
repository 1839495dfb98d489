import ExotelKit
import Foundation
import Glibc
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresKit
import SQLKit

/// Everything PostgreSQL-specific about the catalog, in one place: the URL, the connection pool, how a write
/// transaction begins, how tables are listed and the append-only triggers. The queries are the same SQLKit
/// builders as on SQLite (``SQLiteCatalogBackend``).
///
/// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (or `postgresql://`), with optional query parameters:
/// `sslmode` (`disable`, `prefer` (the default), `require`) and `search_path` (the schema the catalog's
/// tables live in; the user's default when absent). The password is never logged or shown:
/// ``CatalogLocation/displayName`` drops it.
struct PostgresCatalogBackend: CatalogBackend {
    let url: String
    let client: PostgresClient
    let runner: Task<Void, Never>

    var location: CatalogLocation { .postgres(url: self.url) }
    var dialect: CatalogDialect { Self.dialect }

    /// How long opening waits for the server before it fails: a catalog that is down fails fast and clearly.
    static let connectTimeoutSeconds: Int64 = 5
    /// Connections per `Catalog` (per process): its operations run one at a time, so a few suffice; the pool
    /// replaces a connection the server dropped.
    static let maximumConnections = 4

    /// PostgreSQL's statements.
    ///
    /// - A write transaction is `BEGIN` (read committed) followed by a transaction-scoped advisory lock on the
    ///   catalog (its schema): one writer at a time per catalog, as SQLite's `BEGIN IMMEDIATE`, so every
    ///   read-then-write transaction written for SQLite (claim a lease, append to the audit chain, dedupe a
    ///   callback) stays correct when several processes share the database. Readers take no lock.
    /// - Tables are listed in `information_schema.tables` of the current schema.
    /// - Append-only: one PL/pgSQL function that raises, and `BEFORE UPDATE`/`DELETE` (per row) and
    ///   `BEFORE TRUNCATE` (per statement) triggers calling it.
    /// - No checkpoint: the server owns durability (`synchronous_commit` on, its default).
    /// - Metadata pairs through `jsonb_each_text`.
    static let dialect = CatalogDialect(
        beginWriteTransaction: [
            "BEGIN ISOLATION LEVEL READ COMMITTED",
            "SELECT pg_advisory_xact_lock(\(advisoryLockClass), hashtext(current_schema()))",
        ],
        tableListing: { name in
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = \(bind: name)"
        },
        appendOnly: { table in
            [
                """
                CREATE OR REPLACE FUNCTION exorec_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$
                """,
                """
                CREATE OR REPLACE TRIGGER "\(table)_no_update" BEFORE UPDATE ON "\(table)"
                FOR EACH ROW EXECUTE FUNCTION exorec_append_only()
                """,
                """
                CREATE OR REPLACE TRIGGER "\(table)_no_delete" BEFORE DELETE ON "\(table)"
                FOR EACH ROW EXECUTE FUNCTION exorec_append_only()
                """,
                """
                CREATE OR REPLACE TRIGGER "\(table)_no_truncate" BEFORE TRUNCATE ON "\(table)"
                FOR EACH STATEMENT EXECUTE FUNCTION exorec_append_only()
                """,
            ]
        },
        checkpoint: nil,
        metadataPair: { key, value in
            "EXISTS (SELECT 1 FROM jsonb_each_text(CAST(\(ident: Table.calls).metadata_json AS jsonb)) AS m WHERE m.key = \(bind: key) AND m.value = \(bind: value))"
        },
        allTables: """
            SELECT CAST(table_name AS text) AS name FROM information_schema.tables
            WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
            """,
        columnListing: { table in
            """
            SELECT CAST(column_name AS text) AS column_name, CAST(data_type AS text) AS data_type
            FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = \(bind: table)
            ORDER BY ordinal_position
            """
        },
        beginSnapshot: ["BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"],
        resetSequence: { table, column in
            """
            SELECT setval(pg_get_serial_sequence('"\(table)"', '\(column)'),
                COALESCE((SELECT MAX("\(column)") FROM "\(table)"), 0) + 1, false)
            """
        },
        suspendAppendOnly: { table in [#"ALTER TABLE "\#(table)" DISABLE TRIGGER USER"#] },
        resumeAppendOnly: { table in [#"ALTER TABLE "\#(table)" ENABLE TRIGGER USER"#] }
    )

    /// The first key of the catalog's advisory lock ("exo" in ASCII); the second is the schema's hash.
    static let advisoryLockClass: Int32 = 0x65_78_6F

    /// The parts of a catalog URL.
    struct Endpoint: Sendable {
        var host: String
        var port: Int
        var username: String
        var password: String?
        var database: String?
        var searchPath: String?
        var tls: String

        init(url: String) throws(CatalogError) {
            let shown = URLRedaction.redacting(url)
            func bad(_ why: String) -> CatalogError {
                CatalogError.cannotOpen(path: shown, reason: "not a usable PostgreSQL URL: \(why)")
            }
            guard let parts = URLComponents(string: url) else { throw bad("cannot parse it") }
            guard let scheme = parts.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql" else {
                throw bad("the scheme must be postgres:// or postgresql://")
            }
            guard let host = parts.host, !host.isEmpty else { throw bad("no host") }
            guard let user = parts.user, !user.isEmpty else { throw bad("no user") }
            self.host = host
            self.port = parts.port ?? 5432
            guard (1...65535).contains(self.port) else { throw bad("port out of range") }
            self.username = user.removingPercentEncoding ?? user
            self.password = parts.password.map { $0.removingPercentEncoding ?? $0 }
            let path = parts.path.hasPrefix("/") ? String(parts.path.dropFirst()) : parts.path
            self.database = path.isEmpty ? nil : (path.removingPercentEncoding ?? path)
            var tls = "prefer"
            for item in parts.queryItems ?? [] {
                switch item.name.lowercased() {
                case "sslmode", "tlsmode", "ssl", "tls":
                    tls = item.value?.lowercased() ?? ""
                case "search_path":
                    guard let value = item.value, !value.isEmpty,
                        value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
                    else { throw bad("search_path must be one schema name of letters, digits and _") }
                    self.searchPath = value
                default:
                    throw bad("unknown parameter \(item.name) (known: sslmode, search_path)")
                }
            }
            guard ["disable", "prefer", "require", "verify-full", "verify-ca", "allow"].contains(tls) else {
                throw bad("sslmode must be disable, prefer or require")
            }
            self.tls = tls
        }

        var clientTLS: PostgresClient.Configuration.TLS {
            switch self.tls {
            case "disable": .disable
            case "require", "verify-full", "verify-ca": .require(.makeClientConfiguration())
            default: .prefer(.makeClientConfiguration())
            }
        }

        var connectionTLS: PostgresConnection.Configuration.TLS {
            get throws {
                switch self.tls {
                case "disable": .disable
                case "require", "verify-full", "verify-ca":
                    .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
                default: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
                }
            }
        }

        var startupParameters: [(String, String)] {
            self.searchPath.map { [("search_path", $0)] } ?? []
        }
    }

    static func open(url: String, logger: Logger) async throws -> PostgresCatalogBackend {
        let shown = URLRedaction.redacting(url)
        let endpoint = try Endpoint(url: url)
        // One connection first, with a short timeout: a server that is down or refuses us fails here, at once and
        // with the server's reason, instead of in the pool, which would retry in the background.
        do {
            var probe = PostgresConnection.Configuration(
                host: endpoint.host,
                port: endpoint.port,
                username: endpoint.username,
                password: endpoint.password,
                database: endpoint.database,
                tls: try endpoint.connectionTLS
            )
            probe.options.connectTimeout = .seconds(Self.connectTimeoutSeconds)
            probe.options.additionalStartupParameters = endpoint.startupParameters
            let connection = try await PostgresConnection.connect(configuration: probe, id: 0, logger: logger)
            try? await connection.close()
        } catch {
            throw CatalogError.cannotOpen(path: shown, reason: Self.describe(error))
        }
        var configuration = PostgresClient.Configuration(
            host: endpoint.host,
            port: endpoint.port,
            username: endpoint.username,
            password: endpoint.password,
            database: endpoint.database,
            tls: endpoint.clientTLS
        )
        configuration.options.connectTimeout = .seconds(Self.connectTimeoutSeconds)
        configuration.options.maximumConnections = Self.maximumConnections
        configuration.options.additionalStartupParameters = endpoint.startupParameters
        var poolLogger = logger
        poolLogger[metadataKey: "catalog.url"] = "\(shown)"
        // The pool warns when it is asked for a connection before its run() task has started, which the first
        // operation after open may be; its errors (a connection lost) still show.
        poolLogger.logLevel = max(poolLogger.logLevel, .error)
        let client = PostgresClient(configuration: configuration, backgroundLogger: poolLogger)
        let runner = Task { await client.run() }
        return PostgresCatalogBackend(url: url, client: client, runner: runner)
    }

    func withDatabase<T: Sendable>(
        isolation: isolated (any Actor)?,
        _ body: (any SQLDatabase) async throws -> T
    ) async throws -> T {
        try await self.client.withConnection(isolation: isolation) { connection in
            try await body(connection.sql(queryLogLevel: .trace))
        }
    }

    func close() async throws {
        self.runner.cancel()
        await self.runner.value
    }

    /// A PostgreSQL error in one line: the server's message (and detail), or the connection's cause. PostgresNIO's
    /// own `description` hides both on purpose; neither holds the password.
    static func describe(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let info = error.serverInfo {
            var text = [info[.sqlState].map { "SQLSTATE \($0)" }, info[.message]].compactMap { $0 }.joined(
                separator: ": "
            )
            if let detail = info[.detail] { text += " (\(detail))" }
            return text
        }
        if let underlying = error.underlying as? NIOConnectionError {
            let causes =
                underlying.connectionErrors.map { failure in
                    (failure.error as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(failure.error)"
                } + [underlying.dnsAError, underlying.dnsAAAAError].compactMap { $0.map { "\($0)" } }
            return "cannot connect to \(underlying.host):\(underlying.port): " + (causes.first ?? "no address")
        }
        if let underlying = error.underlying {
            return Self.describe(underlying)
        }
        if error.code == .connectionError || error.code == .serverClosedConnection {
            return "the server closed the connection"
        }
        return "\(error.code)"
    }
}
