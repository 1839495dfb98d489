import ExorecTesting
import Foundation
import Glibc
import MediaStore
import Testing

/// Calls placed by others are calls, with real processes: `exorec simulate` as the platform, `exorec serve`
/// recording, and a call placed by the test straight at the simulator's `Calls/connect` (as curl, or a CRM,
/// would), its StreamUrl and StatusCallback pointing at serve. The call is catalogued as placed elsewhere with
/// its stream and its downloaded recording in one folder, exported in a valid bag, and holdable; a CallSid the
/// catalog never saw cannot be held.
@Suite(.timeLimit(.minutes(4))) struct ElsewhereCallProcessTests {
    static let account = "ACelse01"
    static let apiKey = "else-key"
    static let apiToken = "else-token"
    static let streamUser = "exotel"
    static let streamPassword = "elsewhere-stream-secret"
    static let callbackToken = "elsewhere-test-callback-token-5"

    /// On SQLite and on PostgreSQL (`catalog.url`): serve takes the call into the catalog on the server, and
    /// catalog show / search, export and hold read it from there.
    @Test(arguments: CatalogTestBackend.all)
    func aCallPlacedWithCurlIsCataloguedExportedAndHoldable(backend: CatalogTestBackend) async throws {
        switch backend {
        case .sqlite: try await Self.run(catalogURL: nil)
        case .postgres: try await TestPostgres.withSchema { url in try await Self.run(catalogURL: url) }
        }
    }

    static func run(catalogURL: String?) async throws {
        let directory = makeTemporaryDirectory("exorec-elsewhere")
        let storage = "\(directory)/storage"
        let recordings = "\(directory)/simulator-recordings"
        let scenario = "\(directory)/scenario.json"
        try #"{"rules": [], "defaultRingSeconds": 1, "defaultTalkSeconds": 3, "defaultTimeOutSeconds": 30}"#
            .write(toFile: scenario, atomically: true, encoding: .utf8)
        let simulator = try ExorecProcess([
            "simulate", "--port", "0", "--speed", "2", "--scenario", scenario, "--recordings", recordings,
            "--recording-delay", "1", "--account-sid", Self.account, "--api-key", Self.apiKey, "--api-token",
            Self.apiToken,
        ])
        defer { simulator.signal(SIGTERM) }
        let simulatorPort = try await simulator.waitForListening()
        let config = "\(directory)/exorec.yaml"
        // serve knows the platform (to fetch recordings and reconcile), but places nothing here.
        try """
        storage: \(storage)
        ingest:
          port: 0
          auth:
            credentials:
              - username: \(Self.streamUser)
                password: \(Self.streamPassword)
        callbacks:
          port: 0
          token: \(Self.callbackToken)
        api:
          port: 0
        exotel:
          account_sid: \(Self.account)
          api_key: \(Self.apiKey)
          api_token: \(Self.apiToken)
          base_url: http://127.0.0.1:\(simulatorPort)
          caller_id: "08030752400"
        calls:
          public_url: http://127.0.0.1:9
        reconciler:
          after: 30m
        """.appending(catalogURL.map { "\ncatalog:\n  url: \"\($0)\"\n" } ?? "")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let server = try ExorecProcess([
            "serve", "--config", config, "--callbacks-port", "0", "--api-port", "0", "--log-level", "info",
        ])
        defer { server.signal(SIGKILL) }
        let streamPort = try await server.waitForListening()
        let platformPort = try await server.waitForDoor("platform")

        // The call, placed by someone else: form fields as CallPlacer/ConnectCallRequest send them, posted by curl
        // with the account's Basic credentials.
        let placed = try await PipelineProcess.run(
            "curl",
            [
                "-sS", "-u", "\(Self.apiKey):\(Self.apiToken)",
                "--data-urlencode", "From=+919900000021", "--data-urlencode", "To=+919900000022",
                "--data-urlencode", "CallerId=08030752400", "--data-urlencode", "Record=true",
                "--data-urlencode", "RecordingChannels=dual",
                "--data-urlencode",
                "StreamUrl=ws://\(Self.streamUser):\(Self.streamPassword)@127.0.0.1:\(streamPort)/v1/streams",
                "--data-urlencode",
                "StatusCallback=http://127.0.0.1:\(platformPort)/v1/callbacks/status?token=\(Self.callbackToken)",
                "--data-urlencode", "StatusCallbackEvents[]=terminal", "--data-urlencode",
                "StatusCallbackEvents[]=answered",
                "--data-urlencode", "StatusCallbackContentType=application/json",
                "http://127.0.0.1:\(simulatorPort)/v1/Accounts/\(Self.account)/Calls/connect.json",
            ]
        )
        let callSid = try #require(
            placed.firstMatch(of: /"Sid"\s*:\s*"([A-Za-z0-9_-]+)"/)?.1,
            "connect answered: \(placed)"
        ).description

        // The call ends; its recording is downloaded; its stream is finished.
        let catalog = catalogURL ?? "\(storage)/catalog.sqlite"
        /// One column of each row, from the file (sqlite3) or the server.
        func query(_ sql: String) async throws -> [[String]] {
            guard catalogURL != nil else { return try await PipelineProcess.query(catalog, sql) }
            return try await TestPostgres.run(url: catalog, [sql]).map { Array($0.values) }
        }
        try await PipelineProcess.eventually(
            "the recording of \(callSid) is downloaded and its stream finished",
            timeout: .seconds(150)
        ) {
            guard catalogURL != nil || FileManager.default.fileExists(atPath: catalog) else { return false }
            let recordings = try await query("SELECT state FROM recordings WHERE call_sid = '\(callSid)'")
            let streams = try await query("SELECT state FROM streams WHERE call_sid = '\(callSid)'")
            return recordings == [["complete"]] && streams == [["complete"]]
        }

        // catalog show finds it, placed elsewhere, with its stream and recording.
        let shown = try await ExorecProcess.run(["catalog", "show", callSid, "--config", config, "--json"])
        #expect(shown.status == 0, "catalog show: \(shown.errors)")
        let detail = try #require(try JSONSerialization.jsonObject(with: Data(shown.output.utf8)) as? [String: Any])
        let call = try #require(detail["call"] as? [String: Any], "\(shown.output)")
        #expect(call["origin"] as? String == "elsewhere")
        #expect(call["account_sid"] as? String == Self.account)
        #expect(call["status"] as? String == "completed")
        let media = try #require(detail["media_files"] as? [[String: Any]], "\(shown.output)")
        #expect(Set(media.compactMap { $0["kind"] as? String }) == ["stream", "recording"])
        // The events feed announced its completion, saying who placed it.
        let completed = try await query(
            "SELECT detail_json FROM events WHERE type = 'call.completed' AND call_sid = '\(callSid)'"
        )
        #expect(
            completed.count == 1 && completed.first?.first?.contains(#""origin":"elsewhere""#) == true,
            "\(completed)"
        )
        let listed = try await ExorecProcess.run([
            "catalog", "search", "--origin", "elsewhere", "--config", config, "--jsonl",
        ])
        #expect(
            listed.status == 0 && listed.output.contains(callSid),
            "search --origin elsewhere: \(listed.output) \(listed.errors)"
        )

        // One folder: call.json, the stream and the recording side by side; the recording is the simulator's bytes.
        let sidecars = FileSystem.files(under: "\(storage)/media", withSuffix: "call.json").filter {
            $0.contains("/\(callSid)/")
        }
        #expect(sidecars.count == 1, "\(sidecars)")
        let folder = try #require(sidecars.first).dropLast("/call.json".count)
        #expect(folder.contains("/media/\(Self.account)/"), "\(folder)")
        let files = try FileManager.default.contentsOfDirectory(atPath: String(folder))
        #expect(
            files.contains("recording.mp3") && files.contains { $0.hasPrefix("stream-") && $0.hasSuffix(".wav") },
            "\(files)"
        )
        let original = "\(recordings)/\(Self.account)/\(callSid).mp3"
        #expect(try await PipelineProcess.sha256("\(folder)/recording.mp3") == PipelineProcess.sha256(original))
        let sidecar = try CallSidecar.load(from: String(folder) + "/call.json")
        #expect(sidecar.origin == "elsewhere" && sidecar.placedAt == nil && !sidecar.callbacks.isEmpty)

        // Exported in a bag a BagIt tool accepts, holding its stream, recording and call detail.
        let bag = "\(directory)/bag"
        let exported = try await ExorecProcess.run([
            "export", bag, "--call-sid", callSid, "--bag", "--config", config, "--quiet",
        ])
        #expect(exported.status == 0, "export: \(exported.output) \(exported.errors)")
        let validation = try await ExorecProcess.runTool("/usr/bin/env", ["python3", "-m", "bagit", "--validate", bag])
        #expect(validation.status == 0, "bagit: \(validation.errors)")
        let payload = try FileManager.default.contentsOfDirectory(atPath: "\(bag)/data/\(callSid)")
        #expect(
            payload.contains("recording.mp3") && payload.contains("call-detail.json")
                && payload.contains { $0.hasPrefix("stream-") },
            "\(payload)"
        )
        let exportedDetail = try String(contentsOfFile: "\(bag)/data/\(callSid)/call-detail.json", encoding: .utf8)
        #expect(
            exportedDetail.contains(#""origin":"elsewhere""#) || exportedDetail.contains(#""origin" : "elsewhere""#)
        )

        // Holdable; a CallSid never seen is refused.
        let held = try await ExorecProcess.run(["hold", "add", callSid, "--reason", "complaint 7", "--config", config])
        #expect(held.status == 0, "hold add: \(held.errors)")
        let stranger = try await ExorecProcess.run([
            "hold", "add", "CAnobodyeversawthis0001", "--reason", "x", "--config", config,
        ])
        #expect(stranger.status == 4, "hold add of an unseen CallSid: \(stranger.status) \(stranger.errors)")
        #expect(stranger.errors.contains("no call CAnobodyeversawthis0001 in the catalog"))

        if catalogURL != nil {
            #expect(!FileManager.default.fileExists(atPath: "\(storage)/catalog.sqlite"), "no file beside the server")
            let password = URLComponents(string: catalog)?.password ?? "?"
            #expect(!server.standardError.contains(password) && !server.standardOutput.contains(password))
        }
        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)
    }
}
