import ExorecTesting
import Foundation
import Testing

/// The commands on a PostgreSQL catalog, as a user runs them: `catalog migrate` from the SQLite catalog
/// `exorec demo` leaves, then the read commands through `EXOREC_CATALOG_URL` print what they print on the file.
@Suite(.timeLimit(.minutes(3)))
struct CatalogPostgresCommandTests {
    struct MigrateSummary: Decodable {
        struct Copy: Decodable {
            var rows: Int
            var to: String
        }

        var copy: Copy
        var audit_entries: Int
        var audit_head: String?
    }

    static func head(_ output: String) -> String? {
        output.split(separator: "\n").first { $0.hasPrefix("head: ") }.map { String($0.dropFirst(6)) }
    }

    /// A server that is not there: one line on stderr, exit 1, within seconds, no password.
    @Test func aCatalogURLOnAClosedPortFailsFast() async throws {
        let storage = makeTemporaryDirectory()
        let url = "postgres://exorec:pw-not-shown@127.0.0.1:\(try closedLoopbackPort())/exorec"
        let started = ContinuousClock.now
        let result = try await ExorecProcess.run(
            ["catalog", "ls", "--storage", storage],
            environment: ["EXOREC_CATALOG_URL": url]
        )
        #expect(ContinuousClock.now - started < .seconds(15))
        #expect(result.status == 1)
        let lines = result.errors.split(separator: "\n")
        #expect(lines.count == 1, "\(result.errors)")
        #expect(result.errors.contains("cannot connect to 127.0.0.1"), "\(result.errors)")
        #expect(!(result.output + result.errors).contains("pw-not-shown"))
    }

    /// `catalog.url` selects PostgreSQL, `EXOREC_CATALOG_URL` wins over it, and a URL of another scheme is a
    /// configuration error (64) naming the key.
    @Test func catalogURLComesFromTheConfigurationOrTheEnvironment() async throws {
        let directory = makeTemporaryDirectory()
        let (fromFile, fromEnvironment) = (try closedLoopbackPort(), try closedLoopbackPort())
        let config = "\(directory)/exorec.yaml"
        try "catalog:\n  url: \"postgres://u:file-pw@127.0.0.1:\(fromFile)/db\"\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let configured = try await ExorecProcess.run(["catalog", "ls", "--config", config])
        #expect(configured.status == 1 && configured.errors.contains("127.0.0.1:\(fromFile)"), "\(configured.errors)")
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/storage/catalog.sqlite"))
        let overridden = try await ExorecProcess.run(
            ["catalog", "ls", "--config", config],
            environment: ["EXOREC_CATALOG_URL": "postgres://u:env-pw@127.0.0.1:\(fromEnvironment)/db"]
        )
        #expect(
            overridden.status == 1 && overridden.errors.contains("127.0.0.1:\(fromEnvironment)"),
            "\(overridden.errors)"
        )
        #expect(!(configured.errors + overridden.errors).contains("-pw"))

        try "catalog:\n  url: mysql://u:p@h/db\n".write(toFile: config, atomically: true, encoding: .utf8)
        let wrong = try await ExorecProcess.run(["catalog", "ls", "--config", config])
        #expect(wrong.status == 64 && wrong.errors.contains("catalog.url"), "\(wrong.errors)")
    }

    /// Migrate, then audit verify (same head), catalog ls / show and verify agree on both catalogs; a second
    /// migrate into the now non-empty database is refused, `--replace` copies again.
    @Test(.enabled(if: TestPostgres.serverURL != nil)) func migrateThenTheCommandsAgree() async throws {
        let storage = makeTemporaryDirectory()
        let demo = try await ExorecProcess.run(["demo", "--storage", storage, "--speed", "40", "--json"])
        #expect(demo.status == 0, "\(demo.errors)")
        try await TestPostgres.withSchema { url in
            let password = URLComponents(string: url)?.password ?? "?"
            let onFile = try await ExorecProcess.run(["audit", "verify", "--storage", storage])
            #expect(onFile.status == 0, "\(onFile.errors)")
            let head = try #require(Self.head(onFile.output))

            let migrate = try await ExorecProcess.run(
                ["catalog", "migrate", "--storage", storage, "--to", url, "--json", "-q"]
            )
            #expect(migrate.status == 0, "\(migrate.errors)")
            #expect(migrate.errors.isEmpty, "-q prints no progress: \(migrate.errors)")
            let summary = try JSONDecoder().decode(MigrateSummary.self, from: Data(migrate.output.utf8))
            #expect(summary.copy.rows > 10)
            #expect(head.hasSuffix(":\(summary.audit_head ?? "none")"))
            #expect(!migrate.output.contains(password))

            let postgres = ["EXOREC_CATALOG_URL": url]
            let onServer = try await ExorecProcess.run(
                ["audit", "verify", "--storage", storage],
                environment: postgres
            )
            #expect(onServer.status == 0, "\(onServer.errors)")
            #expect(Self.head(onServer.output) == head)

            for command in [["catalog", "ls", "--json"], ["verify", "--json"]] {
                let file = try await ExorecProcess.run(command + ["--storage", storage])
                let server = try await ExorecProcess.run(command + ["--storage", storage], environment: postgres)
                #expect(file.status == 0 && server.status == 0, "\(command): \(file.errors) \(server.errors)")
                #expect(file.output == server.output, "\(command)")
            }
            let calls = try #require(
                try JSONSerialization.jsonObject(
                    with: Data(
                        try await ExorecProcess.run(["catalog", "ls", "--json", "--storage", storage]).output.utf8
                    )
                ) as? [[String: Any]]
            )
            let sid = try #require((calls.first?["call"] as? [String: Any])?["call_sid"] as? String)
            let showFile = try await ExorecProcess.run(["catalog", "show", sid, "--json", "--storage", storage])
            let showServer = try await ExorecProcess.run(
                ["catalog", "show", sid, "--json", "--storage", storage],
                environment: postgres
            )
            #expect(showFile.status == 0 && showFile.output == showServer.output)

            let again = try await ExorecProcess.run(["catalog", "migrate", "--storage", storage, "--to", url])
            #expect(again.status == 1)
            #expect(again.errors.contains("not empty"), "\(again.errors)")
            #expect(!again.errors.contains(password))
            let replaced = try await ExorecProcess.run(
                ["catalog", "migrate", "--storage", storage, "--to", url, "--replace"]
            )
            #expect(replaced.status == 0, "\(replaced.errors)")
            #expect(replaced.errors.contains("audit_log: "), "progress on stderr: \(replaced.errors)")
            #expect(replaced.output.contains("same as the source"))
        }
    }
}
