import Foundation
import Glibc
import Logging
import PostgresKit
import Testing

/// The catalog's databases a test runs on: SQLite always, PostgreSQL when `EXOREC_TEST_CATALOG_URL` names a
/// server (`make test` starts one with `tools/pg-test-server`). Parameterise a test with
/// `@Test(arguments: CatalogTestBackend.all)` and pass the backend to ``withTestCatalog(_:_:)``.
enum CatalogTestBackend: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { self.rawValue }

    /// SQLite, and PostgreSQL when the test server's URL is set (said once on stderr when it is not).
    static let all: [CatalogTestBackend] = {
        if TestPostgres.serverURL != nil { return [.sqlite, .postgres] }
        FileHandle.standardError.write(
            Data(
                "note: EXOREC_TEST_CATALOG_URL is not set: the catalog tests run on SQLite only (make test also runs them on PostgreSQL)\n"
                    .utf8
            )
        )
        return [.sqlite]
    }()
}

/// The PostgreSQL server of the tests: one schema per test, so tests stay independent and run in parallel.
///
/// One file, linked into each test target that runs the catalog on both databases (test targets do not import
/// each other).
enum TestPostgres {
    static let logger = Logger(label: "exorec.tests.postgres")

    static let serverURL: String? = {
        guard let url = ProcessInfo.processInfo.environment["EXOREC_TEST_CATALOG_URL"], !url.isEmpty else {
            return nil
        }
        return url
    }()

    /// Creates a new schema, runs `body` with a catalog URL whose `search_path` is that schema, drops it.
    static func withSchema<R>(_ body: (String) async throws -> R) async throws -> R {
        guard let server = self.serverURL else {
            throw TestPostgresError("EXOREC_TEST_CATALOG_URL is not set")
        }
        let schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        _ = try await self.run(url: server, ["CREATE SCHEMA \(schema)"])
        let url = server + (server.contains("?") ? "&" : "?") + "search_path=\(schema)"
        do {
            let result = try await body(url)
            _ = try? await self.run(url: server, ["DROP SCHEMA \(schema) CASCADE"])
            return result
        } catch {
            _ = try? await self.run(url: server, ["DROP SCHEMA \(schema) CASCADE"])
            throw error
        }
    }

    /// Runs `statements` on a connection of their own (in the URL's `search_path`), every value as text.
    static func run(url: String, _ statements: [String]) async throws -> [[String: String]] {
        guard var parts = URLComponents(string: url) else { throw TestPostgresError("bad URL") }
        let searchPath = parts.queryItems?.first { $0.name == "search_path" }?.value
        parts.queryItems = parts.queryItems?.filter { $0.name != "search_path" }
        guard let plain = parts.string else { throw TestPostgresError("bad URL") }
        var configuration = try SQLPostgresConfiguration(url: plain).coreConfiguration
        if let searchPath { configuration.options.additionalStartupParameters = [("search_path", searchPath)] }
        let connection = try await PostgresConnection.connect(
            configuration: configuration,
            id: 1,
            logger: TestPostgres.logger
        )
        var rows: [[String: String]] = []
        do {
            for statement in statements {
                for try await row in try await connection.query(
                    PostgresQuery(unsafeSQL: statement),
                    logger: TestPostgres.logger
                ) {
                    var values: [String: String] = [:]
                    for cell in row {
                        values[cell.columnName] = self.text(cell)
                    }
                    rows.append(values)
                }
            }
        } catch {
            try? await connection.close()
            throw TestPostgresError(String(reflecting: error))
        }
        try await connection.close()
        return rows
    }

    private static func text(_ cell: PostgresCell) -> String {
        guard cell.bytes != nil else { return "NULL" }
        if let value = try? cell.decode(Bool.self) { return value ? "1" : "0" }
        if let value = try? cell.decode(Int64.self) { return String(value) }
        if let value = try? cell.decode(Double.self) { return String(value) }
        if let value = try? cell.decode(String.self) { return value }
        return "<\(cell.bytes?.readableBytes ?? 0) bytes>"
    }
}

struct TestPostgresError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A loopback port nothing listens on (bound, then closed).
func closedLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw TestPostgresError("cannot bind a loopback port") }
    return Int(UInt16(bigEndian: address.sin_port))
}
