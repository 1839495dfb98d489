import Foundation
import MediaStore
import Testing

@testable import Catalog

@Suite(.timeLimit(.minutes(1)))
struct CatalogMigrationTests {
    static let tables = [
        "calls", "call_status_history", "callbacks", "streams", "recordings", "media_files", "download_queue",
        "audit_log", "schema_migrations",
    ]

    /// A fresh file gets every table, one row per migration, WAL mode, in a folder that did not exist.
    @Test func freshCatalogIsCreatedAndMigrated() async throws {
        try await withTemporaryDirectory { directory async throws in
            let path = "\(directory)/not/yet/there/catalog.sqlite"
            let catalog = try await Catalog.open(path: path, logger: testLogger)
            #expect(try await catalog.schemaVersion() == 0)
            let applied = try await catalog.migrate(at: t0)
            #expect(applied.map(\.version) == Array(1...Catalog.supportedSchemaVersion))
            #expect(try await catalog.schemaVersion() == Catalog.supportedSchemaVersion)
            try await catalog.close()

            let tables = try await rawSQL(path, "SELECT name FROM sqlite_master WHERE type = 'table'").compactMap {
                $0["name"]
            }
            for table in Self.tables { #expect(tables.contains(table), "missing table \(table)") }
            let mode = try await rawSQL(path, "PRAGMA journal_mode")
            #expect(mode.first?["journal_mode"] == "wal")
            let migrations = try await rawSQL(path, "SELECT version, name, applied_at FROM schema_migrations")
            #expect(migrations.count == Catalog.supportedSchemaVersion)
            #expect(migrations.first?["applied_at"] == String(t0.millisecondsSinceEpoch))
        }
    }

    /// A fresh PostgreSQL schema gets every table, one row per migration and the append-only triggers; the
    /// URL's password appears in no message.
    @Test(.enabled(if: TestPostgres.serverURL != nil)) func freshPostgresCatalogIsMigrated() async throws {
        try await withTestCatalogLocation(.postgres) { url async throws in
            let catalog = try await Catalog.open(path: url, logger: testLogger)
            #expect(!catalog.path.contains(try #require(URLComponents(string: url)?.password)))
            #expect(try await catalog.schemaVersion() == 0)
            let applied = try await catalog.migrate(at: t0)
            #expect(applied.map(\.version) == Array(1...Catalog.supportedSchemaVersion))
            try await catalog.appendAudit(AuditEvent(at: t0, actor: "test", action: "test", detail: [:]))
            try await catalog.close()

            let tables = try await rawSQL(
                url,
                "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()"
            ).compactMap { $0["name"] }
            for table in Self.tables { #expect(tables.contains(table), "missing table \(table)") }
            let migrations = try await rawSQL(url, "SELECT version, name, applied_at FROM schema_migrations")
            #expect(migrations.count == Catalog.supportedSchemaVersion)
            #expect(migrations.first?["applied_at"] == String(t0.millisecondsSinceEpoch))
            for statement in ["UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"] {
                let error = await #expect(throws: (any Error).self) { try await rawSQL(url, statement) }
                #expect("\(error.map { "\($0)" } ?? "")".contains("append-only"), "\(statement)")
            }
        }
    }

    /// A PostgreSQL server that is not there fails at open, at once, with a one-line reason and no password.
    @Test func absentPostgresServerFailsFast() async throws {
        let port = try closedLoopbackPort()
        let url = "postgres://exorec:s3cret-pw@127.0.0.1:\(port)/exorec?sslmode=disable"
        let started = ContinuousClock.now
        let error = await #expect(throws: CatalogError.self) { try await Catalog.open(path: url, logger: testLogger) }
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(error?.code == "catalog.open")
        let text = error?.description ?? ""
        #expect(!text.contains("s3cret-pw"), "\(text)")
        #expect(text.contains("127.0.0.1:\(port)"), "\(text)")
        #expect(!text.contains("\n"), "\(text)")
    }

    /// A malformed PostgreSQL URL is refused before any connection, saying why.
    @Test(arguments: [
        "postgres://127.0.0.1:5432/db", "postgres://u:p@:5432/db", "postgres://u:p@h:5432/db?search_path=a;drop",
        "postgres://u:p@h:5432/db?sslmode=maybe", "postgres://u:p@h:5432/db?application=x",
    ])
    func badPostgresURLIsRefused(url: String) async throws {
        let error = await #expect(throws: CatalogError.self) { try await Catalog.open(path: url, logger: testLogger) }
        #expect(error?.description.contains("not a usable PostgreSQL URL") == true, "\(error.map { "\($0)" } ?? "")")
        #expect(error?.description.contains(":p@") == false)
    }

    /// Migrating twice (and reopening) applies nothing the second time and keeps the data.
    @Test(arguments: CatalogTestBackend.all) func migrateIsIdempotent(backend: CatalogTestBackend) async throws {
        try await withTestCatalogLocation(backend) { path async throws in
            try await Catalog.withCatalog(path: path, logger: testLogger) { catalog async throws in
                try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1"))
                #expect(try await catalog.migrate().isEmpty)
            }
            try await Catalog.withCatalog(path: path, logger: testLogger, migrate: false) { catalog async throws in
                #expect(try await catalog.migrate().isEmpty)
                #expect(try await catalog.appliedMigrations().count == Catalog.supportedSchemaVersion)
                #expect(try await catalog.call(sid: "CA1") != nil)
            }
        }
    }

    /// A file migrated by a newer exorec is refused at open, with an error that says what to do.
    @Test(arguments: CatalogTestBackend.all) func newerSchemaIsRefused(backend: CatalogTestBackend) async throws {
        try await withTestCatalogLocation(backend) { path async throws in
            let shown = CatalogLocation(path).displayName
            try await Catalog.withCatalog(path: path, logger: testLogger) { _ in }
            let newer = Catalog.supportedSchemaVersion + 1
            _ = try await rawSQL(
                path,
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (\(newer), 'from the future', 0)"
            )

            let error = await #expect(throws: CatalogError.self) {
                try await Catalog.open(path: path, logger: testLogger)
            }
            #expect(error == .schemaTooNew(path: shown, found: newer, supported: Catalog.supportedSchemaVersion))
            #expect(error?.description.contains("newer exorec") == true)
        }
    }

    /// Using a catalog that was never migrated fails clearly instead of with "no such table".
    @Test(arguments: CatalogTestBackend.all) func unmigratedCatalogIsRefusedForData(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalogLocation(backend) { path async throws in
            let shown = CatalogLocation(path).displayName
            let catalog = try await Catalog.open(path: path, logger: testLogger)
            let error = await #expect(throws: CatalogError.self) { try await catalog.call(sid: "CA1") }
            #expect(error == .schemaTooOld(path: shown, found: 0, required: Catalog.supportedSchemaVersion))
            try await catalog.migrate()
            #expect(try await catalog.call(sid: "CA1") == nil)
            try await catalog.close()
            await #expect(throws: CatalogError.closed(path: shown)) { try await catalog.call(sid: "CA1") }
        }
    }

    /// A file that is not a database is reported as such.
    @Test func garbageFileCannotBeOpened() async throws {
        try await withTemporaryDirectory { directory async throws in
            let path = "\(directory)/catalog.sqlite"
            try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: path))
            let error = await #expect(throws: CatalogError.self) {
                try await Catalog.open(path: path, logger: testLogger)
            }
            #expect(error?.code == "catalog.open")
        }
    }
}
