import ExorecTesting
import Foundation
import Glibc
import MediaStore
import Testing

/// Issue 4's acceptance with real processes: `exorec simulate` as the platform, `exorec serve` taking streams,
/// callbacks and recordings, `exorec campaign` placing calls. Killing the server (`kill -9`) in the middle of the
/// campaign and starting it again on the same storage loses no call, no stream and no recording, and a rerun of
/// the campaign places nothing.
@Suite(.timeLimit(.minutes(4))) struct PipelineProcessTests {
    static let account = "ACkill01"
    static let apiKey = "kill-key"
    static let apiToken = "kill-token"
    static let streamUser = "exotel"
    static let streamPassword = "stream-secret"
    static let callbackToken = "kill-test-callback-token-42"
    /// The campaign's rows: placing them takes at least 36 × 0.3 s (the client's pacing within the platform's 200
    /// requests a minute), while the moment to kill comes about three seconds in.
    static let rows = 36
    /// The first rows are short calls (2 s of talk); the others talk for 20 s. So the short calls have ended and
    /// wait for their recordings while the long ones stream, and no call ends for several seconds: a quiet stretch
    /// in which no download starts (at 2×: the short calls end within 3 s, the long ones from 12 s on). A slow clock
    /// keeps the simulator's mp3 encoding, and so the machine's load, small.
    static let shortCalls = 4
    static let speed = 2

    /// Everything one run needs on disk, and the simulator.
    struct Setup {
        var directory: String
        var storage: String
        var config: String
        var campaign: String
        var simulatorRecordings: String
        var simulator: ExorecProcess
        var simulatorPort: Int
        var servePort: Int
        var catalog: String { "\(self.storage)/catalog.sqlite" }
    }

    /// Starts `exorec simulate` (calls: 1 s of ringing per leg, 2 or 20 s of talk; recordings published 16 s after
    /// the end, so that the first download attempt finds nothing even on a loaded machine; all platform time, at
    /// 2×) and writes the configuration and a campaign of ``rows`` calls.
    static func setUp() async throws -> Setup {
        let directory = makeTemporaryDirectory("exorec-kill")
        let storage = "\(directory)/storage"
        let recordings = "\(directory)/simulator-recordings"
        let scenario = "\(directory)/scenario.json"
        try """
        {"rules": [{"number": "+9199200", "outcome": "answer", "talkSeconds": 2}],
         "defaultRingSeconds": 1, "defaultTalkSeconds": 20, "defaultTimeOutSeconds": 30}
        """.write(toFile: scenario, atomically: true, encoding: .utf8)
        let simulator = try ExorecProcess([
            "simulate", "--port", "0", "--speed", "\(Self.speed)", "--scenario", scenario, "--recordings", recordings,
            "--recording-delay", "16", "--account-sid", Self.account, "--api-key", Self.apiKey, "--api-token",
            Self.apiToken,
            "--log-level", "info",
        ])
        let simulatorPort = try await simulator.waitForListening()
        let servePort = try PipelineProcess.freeLoopbackPort()
        let callbacksPort = try PipelineProcess.freeLoopbackPort()
        let config = "\(directory)/exorec.yaml"
        try """
        storage: \(storage)
        ingest:
          host: 127.0.0.1
          port: \(servePort)
          shutdown_grace: 1s
          auth:
            credentials:
              - username: \(Self.streamUser)
                password: \(Self.streamPassword)
        callbacks:
          host: 127.0.0.1
          port: \(callbacksPort)
          token: \(Self.callbackToken)
        api:
          host: 127.0.0.1
          port: 0
        exotel:
          account_sid: \(Self.account)
          api_key: \(Self.apiKey)
          api_token: \(Self.apiToken)
          base_url: http://127.0.0.1:\(simulatorPort)
          caller_id: "08030752400"
        calls:
          public_url: http://127.0.0.1:\(servePort)
          callback_url: http://127.0.0.1:\(callbacksPort)
          stream_begin: leg1
          recording_channels: dual
          concurrency: 10
        reconciler:
          after: 15s
          interval: 1s
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let campaign = "\(directory)/spring.csv"
        var csv = "id,from,to\n"
        for row in 1...Self.rows {
            let to = row <= Self.shortCalls ? "+9199200" : "+9199100"
            let number = String(format: "%05d", row)
            csv += "row\(number),+9199000\(number),\(to)\(number)\n"
        }
        try csv.write(toFile: campaign, atomically: true, encoding: .utf8)
        return Setup(
            directory: directory,
            storage: storage,
            config: config,
            campaign: campaign,
            simulatorRecordings: recordings,
            simulator: simulator,
            simulatorPort: simulatorPort,
            servePort: servePort
        )
    }

    static func serve(_ setup: Setup) throws -> ExorecProcess {
        try ExorecProcess(["serve", "--config", setup.config, "--log-level", "info"])
    }

    /// `(call, state, attempts)` of every download job, from the live catalog.
    static func downloadJobs(_ setup: Setup) async throws -> [(callSid: String, state: String, attempts: Int)] {
        try await PipelineProcess.query(setup.catalog, "SELECT call_sid, state, attempts FROM download_queue")
            .map { ($0[0], $0[1], Int($0[2]) ?? 0) }
    }

    /// Open WebSocket connections and streams being recorded, from the server's `/metrics` (on its
    /// internal door, `apiPort`: a free one at each start, the only port the restart need not keep).
    static func connections(apiPort: Int) -> (open: Int, streaming: Int)? {
        guard
            let metrics = try? PipelineProcess.get(
                port: apiPort,
                path: "/metrics",
                user: Self.streamUser,
                password: Self.streamPassword
            ),
            metrics.status == 200
        else { return nil }
        func gauge(_ name: String) -> Int? {
            metrics.body.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap {
                Int($0.split(separator: " ").last ?? "")
            }
        }
        guard let open = gauge("exorec_ingest_open_connections"), let streaming = gauge("exorec_ingest_active_streams")
        else { return nil }
        return (open, streaming)
    }

    /// Calls whose `call.json` has a terminal status and whose folder has no recording yet: their download is
    /// queued (or running).
    static func callsAwaitingRecording(_ setup: Setup) -> [String] {
        FileSystem.files(under: "\(setup.storage)/media", withSuffix: "call.json").compactMap { path in
            guard let sidecar = try? CallSidecar.load(from: path),
                sidecar.statusHistory.contains(where: {
                    ["completed", "busy", "failed", "no-answer", "canceled"].contains($0.status)
                }),
                !FileManager.default.fileExists(
                    atPath: ((path as NSString).deletingLastPathComponent) + "/recording.json"
                )
            else { return nil }
            return sidecar.callSid
        }
    }

    /// Stream sidecars under the storage, loaded.
    static func streamSidecars(_ setup: Setup) -> [(path: String, sidecar: StreamSidecar)] {
        FileSystem.files(under: "\(setup.storage)/media", withSuffix: ".json")
            .filter { ($0 as NSString).lastPathComponent.hasPrefix("stream-") }
            .compactMap { path in (try? StreamSidecar.load(from: path)).map { (path, $0) } }
    }

    @Test func killingTheServerMidCampaignLosesNoCallStreamOrRecording() async throws {
        guard PipelineProcess.locate("sqlite3") != nil, PipelineProcess.locate("sha256sum") != nil else {
            Issue.record("this test reads the catalog with sqlite3 and hashes with sha256sum; install them")
            return
        }
        let setup = try await Self.setUp()
        defer {
            setup.simulator.signal(SIGCONT)
            setup.simulator.signal(SIGKILL)
        }
        // Processes still running at the end (a failure on the way) are killed; only those, never a pid that was
        // seen to exit (it may belong to someone else by then).
        var server = try Self.serve(setup)
        var serverRunning = true
        defer { if serverRunning { server.signal(SIGKILL) } }
        _ = try await server.waitForListening()

        let campaign = try ExorecProcess([
            "campaign", "--config", setup.config, "--json", "--id", "spring", setup.campaign,
        ])
        var campaignRunning = true
        defer { if campaignRunning { campaign.signal(SIGKILL) } }

        // The moment to kill: the campaign is still placing, a stream is being written (and no connection is between
        // its handshake and its `start`: the platform does not reconnect a stream whose handshake succeeded, so one
        // cut before `start` leaves nothing a server could keep), and the short calls have
        // ended and a recording is queued after a first attempt that found nothing (the platform publishes them 8 s
        // after the end; the next attempt is 7.5 to 15 s away), so the restarted fetcher has a job to resume; and no
        // download is running or about to start (a download cut by the kill is retaken only once its lease, 60 s,
        // has run out: correct, but a minute this test need not wait). The simulator is then frozen
        // (SIGSTOP), the queue read again, and it stays frozen until the restarted server listens, so that no
        // stream starts, and no callback is sent, while no server listens: the platform retries a stream handshake
        // once, at once, and a callback not at all.
        func quietQueue() async -> (ready: Bool, description: String) {
            do {
                let jobs = try await Self.downloadJobs(setup)
                let waiting = jobs.contains { $0.state == "queued" && $0.attempts >= 1 }
                let starting = jobs.contains { $0.state == "running" || ($0.state == "queued" && $0.attempts == 0) }
                let ready = waiting && !starting
                return (ready, "\(jobs.map { "\($0.state)/\($0.attempts)" })")
            } catch {
                return (false, "\(error)")
            }
        }
        var queuedAtKill: [String] = []
        var tries = 0
        var lastMiss = ""
        while queuedAtKill.isEmpty {
            tries += 1
            try await PipelineProcess.eventually(
                "a moment with a stream open and the short calls' recordings queued (streams "
                    + "\(Self.streamSidecars(setup).map(\.sidecar.state.rawValue)), placed "
                    + "\(PipelineProcess.placedSids(campaign.standardError).count), try \(tries), last: \(lastMiss))",
                timeout: .seconds(60)
            ) {
                guard Self.streamSidecars(setup).contains(where: { $0.sidecar.state == .recording }),
                    Self.callsAwaitingRecording(setup).count >= Self.shortCalls
                else { return false }
                let queue = await quietQueue()
                lastMiss = queue.description
                return queue.ready
            }
            setup.simulator.signal(SIGSTOP)
            // What the simulator sent before it froze reaches the server meanwhile.
            try await Task.sleep(for: .milliseconds(300))
            let queue = await quietQueue()
            let connections = Self.connections(apiPort: try await server.waitForDoor("internal"))
            lastMiss =
                "frozen: \(queue.description), connections \(connections.map { "\($0.open) open, \($0.streaming) streaming" } ?? "?")"
            guard queue.ready, let connections, connections.open == connections.streaming, connections.streaming > 0
            else {
                setup.simulator.signal(SIGCONT)
                try await Task.sleep(for: .milliseconds(500))
                continue
            }
            queuedAtKill = try await Self.downloadJobs(setup).filter { $0.state == "queued" }.map(\.callSid)
        }
        server.signal(SIGKILL)
        let killedAt = Timestamp.now()
        _ = try await server.waitForExit()
        serverRunning = false
        let killedServerLog = server.standardError
        let openAtKill = Self.streamSidecars(setup).filter { $0.sidecar.state == .recording }.map(\.path)
        #expect(!openAtKill.isEmpty)
        let placedAtKill = PipelineProcess.placedSids(campaign.standardError).count
        server = try Self.serve(setup)
        serverRunning = true
        _ = try await server.waitForListening()
        setup.simulator.signal(SIGCONT)
        #expect(placedAtKill < Self.rows, "the kill came after the campaign had placed every row")

        // The campaign finishes: every row placed once.
        let campaignStatus = try await campaign.waitForExit(timeout: .seconds(90))
        campaignRunning = false
        #expect(campaignStatus == 0, "campaign: \(campaign.standardError)")
        let summary = try JSONSerialization.jsonObject(with: Data(campaign.standardOutput.utf8)) as? [String: Any]
        #expect(summary?["placed"] as? Int == Self.rows, "\(campaign.standardOutput)")
        #expect(summary?["failed"] as? Int == 0 && summary?["uncertain"] as? Int == 0)
        let campaignSids = PipelineProcess.placedSids(campaign.standardError)
        #expect(campaignSids.count == Self.rows && Set(campaignSids).count == Self.rows, "\(campaign.standardError)")
        // The platform's view: each of them placed once, nothing else.
        let platformSids = PipelineProcess.loggedCallSids(setup.simulator.standardError, message: "call placed")
        #expect(platformSids.sorted() == campaignSids.sorted(), "the simulator placed \(platformSids.count) calls")

        // Everything settles: each call terminal, its stream finished, its recording stored.
        func missing() -> String {
            campaignSids.compactMap { sid -> String? in
                let directory = Self.callDirectory(setup, sid)
                let recording =
                    directory.map { FileManager.default.fileExists(atPath: "\($0)/recording.json") } ?? false
                let streams = Self.streamSidecars(setup).filter { $0.sidecar.callSid == sid }.map(
                    \.sidecar.state.rawValue
                )
                let status =
                    directory.flatMap { try? CallSidecar.load(from: "\($0)/call.json") }?.statusHistory.map(\.status)
                    ?? []
                guard !recording || streams.isEmpty || streams.contains("recording") else { return nil }
                let logs = [
                    ("simulator", setup.simulator.standardError), ("killed serve", killedServerLog),
                    ("serve", server.standardError),
                ]
                .map { name, log in
                    "\(name): " + log.split(separator: "\n").filter { $0.contains(sid) }.joined(separator: " | ")
                }
                return
                    "\(sid): recording \(recording), streams \(streams), statuses \(status); \(logs.joined(separator: "; "))"
            }.joined(separator: "\n")
        }
        try await PipelineProcess.eventually("every call's stream and recording (\(missing()))", timeout: .seconds(120))
        {
            for sid in campaignSids {
                guard let directory = Self.callDirectory(setup, sid),
                    FileManager.default.fileExists(atPath: "\(directory)/recording.json")
                else { return false }
                let streams = Self.streamSidecars(setup).filter { $0.sidecar.callSid == sid }
                if streams.isEmpty || streams.contains(where: { $0.sidecar.state == .recording }) { return false }
            }
            return true
        }

        for sid in campaignSids {
            let details = try PipelineProcess.get(
                port: setup.simulatorPort,
                path: "/v1/Accounts/\(Self.account)/Calls/\(sid).json",
                user: Self.apiKey,
                password: Self.apiToken
            )
            #expect(
                details.status == 200 && details.body.contains("\"completed\""),
                "Call Details of \(sid): \(details)"
            )
            let directory = try #require(Self.callDirectory(setup, sid))
            // The stream: complete, or cut by the kill and repaired at restart (interrupted), never lost.
            let streams = Self.streamSidecars(setup).filter { $0.sidecar.callSid == sid }
            #expect(streams.count == 1, "\(sid): \(streams.map(\.path))")
            for (path, sidecar) in streams {
                let wav = String(path.dropLast(".json".count)) + ".wav"
                let expectedState: StreamSidecar.State = openAtKill.contains(path) ? .interrupted : .complete
                #expect(sidecar.state == expectedState, "\(path)")
                #expect(sidecar.sha256 == (try await PipelineProcess.sha256(wav)), "\(wav)")
                #expect(PipelineProcess.isReadOnly(wav), "\(wav)")
                // A stream cut just after its `start` may keep no audio (the kill loses at most the last 200 ms).
                #expect(sidecar.frames > 0 || expectedState == .interrupted, "\(wav)")
                if expectedState == .complete {
                    // From leg 1's answer to the end: 1 s of leg 2 ringing and the talk, sample-exact at 8 kHz.
                    let fullLengths: [Int64] = [24_000, 168_000]
                    #expect(fullLengths.contains(sidecar.frames), "\(wav): \(sidecar.frames) frames")
                }
            }
            // The recording: the platform's bytes.
            let recording = try RecordingSidecar.load(from: "\(directory)/recording.json")
            let platformFile = "\(setup.simulatorRecordings)/\(Self.account)/\(sid).mp3"
            #expect(recording.sha256 == (try await PipelineProcess.sha256("\(directory)/recording.mp3")))
            #expect(
                recording.sha256 == (try await PipelineProcess.sha256(platformFile)),
                "\(sid): not the platform's recording"
            )
            let callSidecar = try CallSidecar.load(from: "\(directory)/call.json")
            #expect(
                callSidecar.statusHistory.last?.status == "completed"
                    || callSidecar.statusHistory.contains { $0.status == "completed" }
            )
            #expect(callSidecar.campaignId == "spring")
        }

        // The catalog agrees: every call completed, every download done, every media file hashed as on disk, and the
        // interrupted streams catalogued as such.
        let calls = try await PipelineProcess.query(
            setup.catalog,
            "SELECT call_sid, status FROM calls ORDER BY call_sid"
        )
        #expect(calls.map { $0[0] } == campaignSids.sorted())
        #expect(calls.allSatisfy { $0[1] == "completed" }, "\(calls)")
        let campaignRows = try await PipelineProcess.query(
            setup.catalog,
            "SELECT state, call_sid FROM campaign_rows WHERE campaign_id = 'spring'"
        )
        #expect(campaignRows.count == Self.rows && campaignRows.allSatisfy { $0[0] == "placed" })
        #expect(Set(campaignRows.map { $0[1] }) == Set(campaignSids))
        let jobs = try await PipelineProcess.query(
            setup.catalog,
            "SELECT call_sid, state, attempts FROM download_queue"
        )
        #expect(jobs.count == Self.rows && jobs.allSatisfy { $0[1] == "done" }, "\(jobs)")
        // The jobs the killed server had queued were finished by the restarted one.
        for sid in queuedAtKill {
            let job = jobs.first { $0[0] == sid }
            #expect(job?[1] == "done", "job of \(sid) queued at the kill: \(job ?? [])")
            let directory = try #require(Self.callDirectory(setup, sid))
            let fetched = try RecordingSidecar.load(from: "\(directory)/recording.json").fetchedAt
            #expect(fetched > killedAt, "the recording of \(sid) was fetched after the restart")
        }
        let media = try await PipelineProcess.query(
            setup.catalog,
            "SELECT path, kind, state, sha256 FROM media_files ORDER BY path"
        )
        #expect(media.count == 2 * Self.rows, "\(media.count) media files")
        for row in media {
            #expect(
                row[3] == (try await PipelineProcess.sha256("\(setup.storage)/\(row[0])")),
                "\(row[0]) in the catalog"
            )
            let path = "\(setup.storage)/\(row[0])"
            let repaired = openAtKill.contains(String(path.dropLast(".wav".count)) + ".json")
            #expect(row[2] == (repaired ? "interrupted" : "complete"), "\(row[0]) is \(row[2]) in the catalog")
        }

        // A rerun places nothing.
        let rerun = try await ExorecProcess.run([
            "campaign", "--config", setup.config, "--json", "--id", "spring", setup.campaign,
        ])
        #expect(rerun.status == 0, "\(rerun.errors)")
        let rerunSummary = try JSONSerialization.jsonObject(with: Data(rerun.output.utf8)) as? [String: Any]
        #expect(
            rerunSummary?["placed"] as? Int == 0 && rerunSummary?["already_placed"] as? Int == Self.rows,
            "\(rerun.output)"
        )
        try await Task.sleep(for: .milliseconds(300))
        #expect(
            PipelineProcess.loggedCallSids(setup.simulator.standardError, message: "call placed").count == Self.rows
        )

        // Stop the server (cleanly: exit 0) and rebuild the catalog from the files: the same calls, streams,
        // recordings, media files and callbacks.
        server.signal(SIGTERM)
        let status = try await server.waitForExit(timeout: .seconds(30))
        serverRunning = false
        #expect(
            status == 0,
            "serve after SIGTERM: \(server.standardError.split(separator: "\n").suffix(5).joined(separator: "\n"))"
        )
        let tables = [
            "SELECT call_sid, status, recording_url FROM calls ORDER BY 1",
            "SELECT path, state, frames FROM streams ORDER BY 1",
            "SELECT path, sha256, bytes FROM recordings ORDER BY 1",
            "SELECT path, kind, state, sha256, bytes FROM media_files ORDER BY 1",
            "SELECT dedup_key, deliveries FROM callbacks ORDER BY 1",
        ]
        var before: [[[String]]] = []
        for sql in tables { before.append(try await PipelineProcess.query(setup.catalog, sql)) }
        let rebuild = try await ExorecProcess.run(["catalog", "rebuild", "--config", setup.config, "--json"])
        #expect(rebuild.status == 0, "rebuild: \(rebuild.output) \(rebuild.errors)")
        var after: [[[String]]] = []
        for sql in tables { after.append(try await PipelineProcess.query(setup.catalog, sql)) }
        for (index, sql) in tables.enumerated() {
            #expect(after[index] == before[index], "\(sql): the rebuilt catalog differs")
        }
        try? FileManager.default.removeItem(atPath: setup.directory)
    }

    static func callDirectory(_ setup: Setup, _ sid: String) -> String? {
        FileSystem.files(under: "\(setup.storage)/media", withSuffix: "call.json")
            .first { $0.hasSuffix("/\(sid)/call.json") }
            .map { ($0 as NSString).deletingLastPathComponent }
    }
}

extension PipelineProcess {
    /// CallSids of the `[n/N] line L: placed <sid>` progress lines of `exorec campaign`.
    static func placedSids(_ progress: String) -> [String] {
        progress.split(separator: "\n").compactMap { line in
            guard let range = line.range(of: ": placed ") else { return nil }
            return String(line[range.upperBound...].prefix { $0.isLetter || $0.isNumber })
        }
    }
}
