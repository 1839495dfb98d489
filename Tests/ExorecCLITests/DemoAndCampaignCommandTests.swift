import ExorecTesting
import Foundation
import Glibc
import Testing

/// `exorec demo`, `exorec campaign` and `exorec catalog rebuild` as a user runs them.
@Suite(.timeLimit(.minutes(3))) struct DemoAndCampaignCommandTests {
    struct DemoDocument: Decodable {
        struct Call: Decodable {
            struct File: Decodable {
                var kind: String
                var path: String
                var channels: Int?
                var sha256: String?
            }

            var call_sid: String
            var to: String
            var status: String
            var done: Bool
            var files: [File]
        }

        struct Played: Decodable {
            var call_sid: String
            var url: String
            var sha256: String
            var from_cache: Bool
        }

        var complete: Bool
        var calls: [Call]
        var wait_audio_played: [Played]
    }

    @Test func theDemoPlacesMixedCallsAndCatalogsEveryStreamAndRecording() async throws {
        let storage = makeTemporaryDirectory()
        let result = try await ExorecProcess.run(["demo", "--storage", storage, "--speed", "40", "--json"])
        #expect(result.status == 0, "\(result.errors)")
        let document = try JSONDecoder().decode(DemoDocument.self, from: Data(result.output.utf8))
        #expect(document.complete)
        #expect(Set(document.calls.map(\.status)) == ["completed", "busy", "no-answer"])
        for call in document.calls {
            let kinds = call.files.map(\.kind).sorted()
            if call.status == "completed" {
                #expect(kinds == ["recording", "stream"], "\(call.call_sid)")
                for file in call.files {
                    let path = "\(storage)/\(file.path)"
                    #expect(FileManager.default.fileExists(atPath: path))
                    let attributes = try FileManager.default.attributesOfItem(atPath: path)
                    #expect(((attributes[.posixPermissions] as? Int) ?? 0o644) & 0o222 == 0, "\(path) is read-only")
                }
            } else {
                #expect(kinds.isEmpty, "a failed call has no media")
            }
            let callDirectory = call.files.first.map { "\(storage)/\(($0.path as NSString).deletingLastPathComponent)" }
            if let callDirectory { #expect(FileManager.default.fileExists(atPath: "\(callDirectory)/call.json")) }
        }
        // The hold music changed between the calls: the last call's busted URL and audio differ, and
        // the calls before it shared one version (the platform's cache served it).
        let played = document.wait_audio_played
        #expect(played.count == document.calls.count)
        #expect(Set(played.map(\.url)).count == 2 && Set(played.map(\.sha256)).count == 2)
        #expect(played.filter { !$0.from_cache }.count == 2, "each version fetched once")
        #expect(FileManager.default.fileExists(atPath: "\(storage)/catalog.sqlite"))
    }

    @Test func aCampaignWithABadRowPlacesNothingAndSaysWhichLine() async throws {
        let directory = makeTemporaryDirectory()
        let campaign = directory + "/spring.csv"
        try "from,to,custom_field\n+919876500001,+919123400001,ok\n+919876500002,,missing to\n".write(
            toFile: campaign,
            atomically: true,
            encoding: .utf8
        )
        let config = directory + "/exorec.yaml"
        try """
        exotel:
          account_sid: acme
          api_key: key
          api_token: token
          base_url: http://127.0.0.1:9
          caller_id: "08047112345"
        calls:
          public_url: https://rec.example.com
        callbacks:
          token: 0123456789abcdef0123
        ingest:
          auth:
            credentials:
              - username: exotel
                password: s3cret
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let result = try await ExorecProcess.run([
            "campaign", "--config", config, "--storage", directory + "/storage", campaign,
        ])
        #expect(result.status == 64, "\(result.output) \(result.errors)")
        #expect(result.errors.contains("line 3: needs 'to' (a number) or 'flow' (a call-flow URL)"), "\(result.errors)")
        // Nothing was placed: the platform URL (port 9) is not even contacted, and no catalog was made.
        #expect(!FileManager.default.fileExists(atPath: directory + "/storage/catalog.sqlite"))
    }

    /// A configuration placing calls at a simulator (no server is needed to place them).
    static func placementConfig(directory: String, simulatorPort: Int, catalogURL: String? = nil) throws -> String {
        let config = directory + "/exorec.yaml"
        try """
        storage: \(directory)/storage
        exotel:
          account_sid: acme
          api_key: key
          api_token: token
          base_url: http://127.0.0.1:\(simulatorPort)
          caller_id: "08047112345"
        calls:
          public_url: http://127.0.0.1:9
          callback_url: http://127.0.0.1:9
        callbacks:
          token: 0123456789abcdef0123
        ingest:
          auth:
            credentials:
              - username: exotel
                password: s3cret
        """.appending(catalogURL.map { "\ncatalog:\n  url: \"\($0)\"\n" } ?? "")
            .write(toFile: config, atomically: true, encoding: .utf8)
        return config
    }

    /// Rows of `sql` (its `columns`, in order) from the file under `directory`, or from the server.
    static func query(
        _ directory: String,
        _ catalogURL: String?,
        _ sql: String,
        columns: [String]
    ) async throws
        -> [[String]]
    {
        guard let catalogURL else { return try await PipelineProcess.query("\(directory)/storage/catalog.sqlite", sql) }
        return try await TestPostgres.run(url: catalogURL, [sql]).map { row in columns.map { row[$0] ?? "NULL" } }
    }

    /// Issue 12: what Excel and Python's csv write (CRLF, a byte-order mark, quoted cells with commas,
    /// quotes and a line break, a CRM's extra column) places every row; a semicolon file too; and a
    /// renamed copy of a placed file places nothing again.
    /// On SQLite and on PostgreSQL (`catalog.url`): campaign, call, catalog show and search --meta.
    @Test(arguments: CatalogTestBackend.all)
    func spreadsheetCSVFilesPlaceTheirRowsAndARenamedCopyPlacesNothing(backend: CatalogTestBackend) async throws {
        switch backend {
        case .sqlite: try await Self.spreadsheetCSVFiles(catalogURL: nil)
        case .postgres: try await TestPostgres.withSchema { try await Self.spreadsheetCSVFiles(catalogURL: $0) }
        }
    }

    static func spreadsheetCSVFiles(catalogURL: String?) async throws {
        let directory = makeTemporaryDirectory()
        let simulator = try ExorecProcess([
            "simulate", "--port", "0", "--account-sid", "acme", "--api-key", "key", "--api-token", "token",
        ])
        defer { simulator.signal(SIGTERM) }
        let config = try Self.placementConfig(
            directory: directory,
            simulatorPort: try await simulator.waitForListening(),
            catalogURL: catalogURL
        )
        let excel = directory + "/excel.csv"
        try
            ("\u{FEFF}from,to,name,custom_field\r\n+919876500001,+919123400001,\"Doe, Jane\",\"said \"\"hi\"\"\"\r\n"
            + "+919876500002,+919123400002,\"two\r\nlines\",b\r\n+919876500003,+919123400003,Ravi,c\r\n")
            .write(toFile: excel, atomically: true, encoding: .utf8)
        let check = try await ExorecProcess.run(["campaign", "--config", config, "--check", excel])
        #expect(
            check.status == 0 && check.output.contains("3 rows checked, no problems"),
            "\(check.output) \(check.errors)"
        )
        let first = try await ExorecProcess.run(["campaign", "--config", config, "--json", "--quiet", excel])
        #expect(first.status == 0, "\(first.output) \(first.errors)")
        let summary = try JSONSerialization.jsonObject(with: Data(first.output.utf8)) as? [String: Any]
        #expect(summary?["rows"] as? Int == 3 && summary?["placed"] as? Int == 3, "\(first.output)")
        #expect((summary?["campaign_id"] as? String)?.hasPrefix("c-") == true)

        // The extra column is each call's metadata: `catalog show --json` gives it, call.json holds it
        // and `catalog search --meta` finds it, exactly.
        let names = ["+919123400001": "Doe, Jane", "+919123400002": "two\r\nlines", "+919123400003": "Ravi"]
        let placedCalls = try await Self.query(
            directory,
            catalogURL,
            "SELECT call_sid, to_number FROM calls ORDER BY to_number",
            columns: ["call_sid", "to_number"]
        )
        #expect(placedCalls.count == 3, "\(placedCalls)")
        for row in placedCalls {
            let show = try await ExorecProcess.run(["catalog", "show", row[0], "--config", config, "--json"])
            #expect(show.status == 0, "\(show.errors)")
            let detail = try JSONSerialization.jsonObject(with: Data(show.output.utf8)) as? [String: Any]
            let metadata = (detail?["call"] as? [String: Any])?["metadata"] as? [String: String]
            #expect(metadata == ["name": names[row[1]] ?? "?"], "\(show.output)")
        }
        let sidecars =
            FileManager.default.enumerator(atPath: "\(directory)/storage/media")?.compactMap { $0 as? String }
            .filter { $0.hasSuffix("/call.json") } ?? []
        let sidecarNames = try sidecars.map { path -> String? in
            let object = try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/storage/media/\(path)"))
            )
            return ((object as? [String: Any])?["metadata"] as? [String: String])?["name"]
        }
        #expect(Set(sidecarNames.compactMap { $0 }) == Set(names.values), "\(sidecars)")
        let found = try await ExorecProcess.run([
            "catalog", "search", "--config", config, "--meta", "NAME=Doe, Jane", "--jsonl",
        ])
        #expect(
            found.status == 0 && found.output.split(separator: "\n").count == 1
                && found.output.contains("+919123400001"),
            "\(found.output) \(found.errors)"
        )
        let none = try await ExorecProcess.run(["catalog", "search", "--config", config, "--meta", "name=Doe"])
        #expect(none.status == 3, "\(none.output) \(none.errors)")
        // `exorec call --meta` gives one call the same; a malformed pair is a usage error, nothing placed.
        let single = try await ExorecProcess.run([
            "call", "--config", config, "--from", "+919876500077", "--to", "+919123400077", "--meta", "crm_id=A-77",
            "--meta", "Name=Solo",
        ])
        #expect(single.status == 0, "\(single.output) \(single.errors)")
        let singleSid = single.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let singleShow = try await ExorecProcess.run(["catalog", "show", singleSid, "--config", config, "--json"])
        let singleDetail = try JSONSerialization.jsonObject(with: Data(singleShow.output.utf8)) as? [String: Any]
        #expect(
            (singleDetail?["call"] as? [String: Any])?["metadata"] as? [String: String] == [
                "crm_id": "A-77", "name": "Solo",
            ],
            "\(singleShow.output)"
        )
        let malformed = try await ExorecProcess.run([
            "call", "--config", config, "--from", "+919876500078", "--to", "+919123400078", "--meta", "novalue",
        ])
        #expect(
            malformed.status == 64 && malformed.errors.contains("--meta: 'novalue' is not key=value"),
            "\(malformed.errors)"
        )

        // A renamed copy is the same campaign: nothing is placed again.
        let copy = directory + "/excel-copy-final.csv"
        try FileManager.default.copyItem(atPath: excel, toPath: copy)
        let again = try await ExorecProcess.run(["campaign", "--config", config, "--json", "--quiet", copy])
        #expect(again.status == 0, "\(again.output) \(again.errors)")
        let second = try JSONSerialization.jsonObject(with: Data(again.output.utf8)) as? [String: Any]
        #expect(second?["placed"] as? Int == 0 && second?["already_placed"] as? Int == 3, "\(again.output)")
        #expect(second?["campaign_id"] as? String == summary?["campaign_id"] as? String)

        // An edited copy (a row added) is another campaign: the user is told which rows the first one
        // claimed, and nothing is placed.
        let edited = directory + "/excel-edited.csv"
        try (String(contentsOfFile: excel, encoding: .utf8) + "+919876500009,+919123400009,New,d\r\n").write(
            toFile: edited,
            atomically: true,
            encoding: .utf8
        )
        let refused = try await ExorecProcess.run(["campaign", "--config", config, "--quiet", edited])
        let firstId = summary?["campaign_id"] as? String ?? "?"
        #expect(refused.status == 64, "\(refused.output) \(refused.errors)")
        #expect(
            refused.errors.contains("3 rows (lines 2, 3, 5) were already claimed by campaign \(firstId)"),
            "\(refused.errors)"
        )
        let continued = try await ExorecProcess.run([
            "campaign", "--config", config, "--json", "--quiet", "--id", firstId, edited,
        ])
        #expect(
            continued.output.contains("\"placed\":1") && continued.output.contains("\"already_placed\":3"),
            "\(continued.output) \(continued.errors)"
        )

        let semicolon = directory + "/crm.csv"
        try "from;to;account_id\n09876500004;09123400004;A-1\n".write(
            toFile: semicolon,
            atomically: true,
            encoding: .utf8
        )
        // Placed under the file's name (as exorec named campaigns before), then rerun without --id: the
        // catalog's rows for that name are found and the campaign goes on under it.
        let national = try await ExorecProcess.run([
            "campaign", "--config", config, "--json", "--quiet", "--id", "crm", "--country-code", "91", semicolon,
        ])
        #expect(national.status == 0, "\(national.output) \(national.errors)")
        #expect(national.output.contains("\"placed\":1"), "\(national.output)")
        let legacy = try await ExorecProcess.run([
            "campaign", "--config", config, "--json", "--country-code", "91", semicolon,
        ])
        #expect(
            legacy.status == 0 && legacy.output.contains("\"already_placed\":1")
                && legacy.output.contains("\"campaign_id\":\"crm\""),
            "\(legacy.output) \(legacy.errors)"
        )
        #expect(legacy.errors.contains("continuing campaign 'crm'"), "\(legacy.errors)")
        let calls = try await Self.query(
            directory,
            catalogURL,
            "SELECT to_number FROM calls ORDER BY to_number",
            columns: ["to_number"]
        )
        #expect(
            calls.map { $0[0] } == [
                "+919123400001", "+919123400002", "+919123400003", "+919123400004", "+919123400009", "+919123400077",
            ],
            "\(calls)"
        )
        // The extra columns are kept with the call, in its `call.placed` audit entry too.
        let details = try await Self.query(
            directory,
            catalogURL,
            "SELECT detail FROM audit_log WHERE action = 'call.placed' ORDER BY seq",
            columns: ["detail"]
        )
        let metadata = details.compactMap { row -> [String: String]? in
            guard let detail = try? JSONSerialization.jsonObject(with: Data(row[0].utf8)) as? [String: String],
                let text = detail["metadata"]
            else { return nil }
            return try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String]
        }
        #expect(
            Set(metadata) == [
                ["name": "Doe, Jane"], ["name": "two\r\nlines"], ["name": "Ravi"], ["name": "New"],
                ["account_id": "A-1"], ["crm_id": "A-77", "name": "Solo"],
            ],
            "\(details)"
        )
    }

    /// Issue 12: an empty file, a header-only file and bad numbers exit 64 listing every problem with its
    /// line, before any catalog is opened or any request sent.
    @Test func emptyFilesAndBadNumbersListEveryProblemAndPlaceNothing() async throws {
        let directory = makeTemporaryDirectory()
        let config = try Self.placementConfig(directory: directory, simulatorPort: 9)
        for (name, text) in [("empty.csv", ""), ("header.csv", "\u{FEFF}from,to\r\n")] {
            let file = directory + "/" + name
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let result = try await ExorecProcess.run(["campaign", "--config", config, "--check", file])
            #expect(result.status == 64, "\(name): \(result.output) \(result.errors)")
            #expect(result.errors.contains("no rows to place"), "\(name): \(result.errors)")
        }
        let bad = directory + "/bad.csv"
        try
            "from,to,name\r\n+919876500001,not-a-number,a\r\n+919876500002,+91XXXXXXXXXX,b\r\n+919876500003,12345,c\r\n+919876500004,+919123400004,d\r\n"
            .write(toFile: bad, atomically: true, encoding: .utf8)
        for arguments in [["--check"], []] {
            let result = try await ExorecProcess.run(["campaign", "--config", config] + arguments + [bad])
            #expect(result.status == 64, "\(result.output) \(result.errors)")
            for expected in [
                "line 2: to 'not-a-number'", "line 3: to '+91XXXXXXXXXX'", "line 4: to '12345'", "3 problems in 4 rows",
            ] {
                #expect(result.errors.contains(expected), "\(expected): \(result.errors)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: directory + "/storage/catalog.sqlite"))
    }

    @Test func placingCallsWithoutTheirSettingsNamesTheMissingKeys() async throws {
        let directory = makeTemporaryDirectory()
        let config = directory + "/exorec.yaml"
        try "exotel:\n  account_sid: acme\n  api_key: k\n  api_token: t\n".write(
            toFile: config,
            atomically: true,
            encoding: .utf8
        )
        let result = try await ExorecProcess.run([
            "call", "--config", config, "--storage", directory, "--from", "0987", "--to", "0912",
        ])
        #expect(result.status == 64, "\(result.errors)")
        #expect(
            result.errors.contains("exotel.caller_id") && result.errors.contains("calls.public_url")
                && result.errors.contains("callbacks.token")
        )
    }

    /// The StatusCallback URL is built from `calls.callback_url` (the platform door), checked like `public_url`.
    @Test func aCallbackURLThatIsNotHTTPIsRefusedByName() async throws {
        let directory = makeTemporaryDirectory()
        let config = directory + "/exorec.yaml"
        try """
        exotel:
          account_sid: acme
          api_key: k
          api_token: t
          caller_id: "08047112345"
        calls:
          public_url: https://rec.example.com
          callback_url: ftp://callbacks.example.com
        callbacks:
          token: 0123456789abcdef0123
        ingest:
          auth:
            credentials:
              - username: exotel
                password: s3cret
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let result = try await ExorecProcess.run([
            "call", "--config", config, "--storage", directory, "--from", "0987", "--to", "0912",
        ])
        #expect(result.status == 64, "\(result.errors)")
        #expect(result.errors.contains("calls.callback_url"), "\(result.errors)")
    }

    @Test func catalogRebuildAfterTheDemoReproducesItsCounts() async throws {
        let storage = makeTemporaryDirectory()
        let demo = try await ExorecProcess.run(["demo", "--storage", storage, "--speed", "40", "--quiet"])
        #expect(demo.status == 0, "\(demo.errors)")
        let rebuild = try await ExorecProcess.run(["catalog", "rebuild", "--storage", storage, "--json"])
        #expect(rebuild.status == 0, "\(rebuild.output) \(rebuild.errors)")
        let report = try JSONSerialization.jsonObject(with: Data(rebuild.output.utf8)) as? [String: Any]
        #expect(report?["calls"] as? Int == 5)
        #expect(report?["streams"] as? Int == 3)
        #expect(report?["recordings"] as? Int == 3)
        #expect(report?["media_files"] as? Int == 6)
        #expect((report?["problems"] as? [Any])?.isEmpty == true)
    }

    @Test func simulatorCallbackFaultFlagsAreChecked() async throws {
        let retries = try await ExorecProcess.run(["simulate", "--port", "0", "--callback-retries", "3"])
        #expect(retries.status == 64 && retries.errors.contains("--callback-retries must be 0-2"), "\(retries.errors)")
        let delay = try await ExorecProcess.run(["simulate", "--port", "0", "--callback-delay", "-1"])
        #expect(delay.status == 64, "\(delay.errors)")
    }
}
