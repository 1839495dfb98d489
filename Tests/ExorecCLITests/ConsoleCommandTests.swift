import ExorecTesting
import Foundation
import Testing

/// `exorec console hash-password` and the `console` section of the configuration: a bad entry is a usage error
/// naming its key, before anything starts; the console on a non-loopback door without secure cookies is warned
/// about.
@Suite(.timeLimit(.minutes(3))) struct ConsoleCommandTests {
    @Test func hashPasswordPrintsASaltedScryptHash() async throws {
        let (status, output, errors) = try await ConsolePasswordHash.run(stdin: "a long enough password\n")
        #expect(status == 0, "\(errors)")
        let hash = output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(hash.hasPrefix("$scrypt$ln=10,r=8,p=1$") && hash.split(separator: "$").count == 4, "\(hash)")
        let (_, again, _) = try await ConsolePasswordHash.run(stdin: "a long enough password\n")
        #expect(again.trimmingCharacters(in: .whitespacesAndNewlines) != hash, "a fresh salt each time")
        #expect(try await ConsolePasswordHash.run(stdin: "short").0 == 64, "fewer than 8 characters is a usage error")
        #expect(try await ConsolePasswordHash.run(stdin: "a long enough password", ["--cost", "40"]).0 == 64)
    }

    static func serve(console: String, apiHost: String = "127.0.0.1") async throws -> (Int32, String, String) {
        let directory = makeTemporaryDirectory("exorec-console-config")
        let config = directory + "/exorec.yaml"
        try """
        storage: \(directory)/storage
        ingest:
          host: 127.0.0.1
          auth:
            credentials:
              - username: test
                password: test-secret
        api:
          host: \(apiHost)
        \(console)
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let process = try ExorecProcess([
            "serve", "--config", config, "--port", "0", "--callbacks-port", "0", "--api-port", "0",
        ])
        if (try? await process.waitForDoor("internal", timeout: .seconds(30))) != nil {
            process.signal(SIGTERM)
        }
        let status = try await process.waitForExit()
        return (status, process.standardOutput, process.standardError)
    }

    @Test func badConsoleEntriesAreUsageErrorsNamingTheKey() async throws {
        let good = try await ConsolePasswordHash.run(stdin: "a long enough password").1.trimmingCharacters(
            in: .whitespacesAndNewlines
        )
        let cases: [(String, String)] = [
            (
                "console:\n  users:\n    - name: a\n      role: boss\n      password_hash: \"\(good)\"",
                "console.users[0].role"
            ),
            (
                "console:\n  users:\n    - name: a\n      role: admin\n      password_hash: plain",
                "console.users[0].password_hash"
            ),
            ("console:\n  users:\n    - name: a\n      role: admin", "console.users[0]"),
            (
                "console:\n  users:\n    - name: a\n      role: admin\n      password_hash: \"$scrypt$ln=99,r=8,p=1$AAAA$AAAA\"",
                "console.users[0].password_hash"
            ),
            ("console:\n  session_lifetime: 1s", "console.session_lifetime"),
            ("console:\n  colour: blue", "console.colour"),
        ]
        for (section, key) in cases {
            let (status, _, errors) = try await Self.serve(console: section)
            #expect(status == 64, "\(section): \(status) \(errors)")
            #expect(errors.contains(key), "\(section): \(errors)")
        }
    }

    @Test func theConsoleOnANonLoopbackDoorWithoutSecureCookiesIsWarnedAbout() async throws {
        let good = try await ConsolePasswordHash.run(stdin: "a long enough password").1.trimmingCharacters(
            in: .whitespacesAndNewlines
        )
        let section = "console:\n  users:\n    - name: a\n      role: admin\n      password_hash: \"\(good)\""
        let (status, output, errors) = try await Self.serve(console: section, apiHost: "0.0.0.0")
        #expect(status == 0, "\(errors)")
        #expect((output + errors).contains("console-plain-http"), "\(output)\(errors)")
        let (_, quiet, quietErrors) = try await Self.serve(console: section)
        #expect(!(quiet + quietErrors).contains("console-plain-http"))
        #expect((quiet + quietErrors).contains("/console/"), "the door says the console is on")
    }
}
