import ExorecTesting
import Foundation
import Glibc
import MediaStore
import Testing

/// Issue 14's acceptance on processes: `exorec simulate` as the platform, two `exorec serve` nodes sharing one
/// storage root and one catalog behind a real HAProxy, `exorec campaign` placing 100 calls through them. One node
/// is killed with `kill -9` in the middle. Afterwards every call has its status, every stream file is complete or
/// was interrupted and repaired (by the surviving node), every recording is stored once, the events feed read
/// through the surviving node has every event once, and a rerun of the campaign places nothing.
@Suite(.serialized, .timeLimit(.minutes(6))) struct NodeFailoverProcessTests {
    static let account = "ACfailover1"
    static let apiKey = "failover-key"
    static let apiToken = "failover-token"
    static let streamUser = "exotel"
    static let streamPassword = "stream-secret"
    static let callbackToken = "failover-callback-token-42"
    static let consumerToken = "failover-consumer-token-0123456"
    static let rows = 100

    @Test(arguments: CatalogTestBackend.all) func aNodeKilledMidCampaignLosesNothing(
        _ backend: CatalogTestBackend
    ) async throws {
        let directory = makeTemporaryDirectory("exorec-failover")
        let storage = "\(directory)/storage"
        try await ClusterCatalog.with(backend, storage: storage) { catalog in
            let recordings = "\(directory)/simulator-recordings"
            let scenario = "\(directory)/scenario.json"
            try """
            {"rules": [], "defaultRingSeconds": 1, "defaultTalkSeconds": 4, "defaultTimeOutSeconds": 30}
            """.write(toFile: scenario, atomically: true, encoding: .utf8)
            let simulator = try ExorecProcess([
                "simulate", "--port", "0", "--speed", "2", "--scenario", scenario, "--recordings", recordings,
                "--recording-delay", "2", "--account-sid", Self.account, "--api-key", Self.apiKey, "--api-token",
                Self.apiToken, "--log-level", "info",
            ])
            defer { simulator.signal(SIGKILL) }
            let simulatorPort = try await simulator.waitForListening()
            let publicPort = try PipelineProcess.freeLoopbackPort()

            var nodes: [String: (process: ExorecProcess, stream: Int, platform: Int, api: Int)] = [:]
            for (index, id) in ["alpha", "beta"].enumerated() {
                let streamPort = try PipelineProcess.freeLoopbackPort()
                let platformPort = try PipelineProcess.freeLoopbackPort()
                let apiPort = try PipelineProcess.freeLoopbackPort()
                let config = "\(directory)/\(id).yaml"
                try """
                storage: \(storage)
                node:
                  id: \(id)
                  heartbeat_interval: 1s
                ingest:
                  host: 127.0.0.1
                  port: \(streamPort)
                  shutdown_grace: 1s
                  auth:
                    credentials:
                      - username: \(Self.streamUser)
                        password: \(Self.streamPassword)
                callbacks:
                  host: 127.0.0.1
                  port: \(platformPort)
                  token: \(Self.callbackToken)
                api:
                  host: 127.0.0.1
                  port: \(apiPort)
                  token: \(Self.consumerToken)
                exotel:
                  account_sid: \(Self.account)
                  api_key: \(Self.apiKey)
                  api_token: \(Self.apiToken)
                  base_url: http://127.0.0.1:\(simulatorPort)
                  caller_id: "08030752400"
                calls:
                  public_url: http://127.0.0.1:\(publicPort)
                  stream_begin: leg1
                  concurrency: 10
                reconciler:
                  after: 10s
                  interval: 1s
                \(catalog.yaml)
                """.write(toFile: config, atomically: true, encoding: .utf8)
                let process = try ExorecProcess(["serve", "--config", config, "--log-level", "info"])
                _ = try await process.waitForListening()
                nodes[id] = (process, streamPort, platformPort, apiPort)
                _ = index
            }
            defer { for node in nodes.values { node.process.signal(SIGKILL) } }
            let alpha = try #require(nodes["alpha"])
            let beta = try #require(nodes["beta"])

            // The balancer: a connection refused by the dead node is retried on the other, which takes over.
            let haproxy = try await TestBalancer.start(
                publicPort: publicPort,
                nodes: [
                    .init(name: "alpha", streamPort: alpha.stream, platformPort: alpha.platform),
                    .init(name: "beta", streamPort: beta.stream, platformPort: beta.platform),
                ],
                directory: directory
            )
            defer { haproxy.signal(SIGKILL) }

            let campaignFile = "\(directory)/autumn.csv"
            var csv = "id,from,to\n"
            for row in 1...Self.rows {
                let number = String(format: "%05d", row)
                csv += "row\(number),+9199000\(number),+9199100\(number)\n"
            }
            try csv.write(toFile: campaignFile, atomically: true, encoding: .utf8)
            let betaConfig = "\(directory)/beta.yaml"
            let campaign = try ExorecProcess([
                "campaign", "--config", betaConfig, "--json", "--id", "autumn", campaignFile,
            ])
            defer { campaign.signal(SIGKILL) }

            // Kill alpha while it records streams, with calls still to place.
            try await PipelineProcess.eventually("alpha recording streams mid-campaign", timeout: .seconds(120)) {
                let placed = PipelineProcess.placedSids(campaign.standardError).count
                return placed >= 20 && placed < Self.rows - 30
                    && NodeRegistryProcessTests.sidecars(in: storage, node: "alpha", state: "recording").count >= 2
            }
            alpha.process.signal(SIGKILL)
            _ = try await alpha.process.waitForExit()
            let openAtKill = Set(NodeRegistryProcessTests.sidecars(in: storage, node: "alpha", state: "recording"))
            #expect(!openAtKill.isEmpty)

            let campaignStatus = try await campaign.waitForExit(timeout: .seconds(180))
            #expect(campaignStatus == 0, "campaign: \(campaign.standardError.suffix(2000))")
            let sids = PipelineProcess.placedSids(campaign.standardError)
            #expect(sids.count == Self.rows && Set(sids).count == Self.rows)

            // Everything settles on beta: statuses (callbacks, or the reconciler for any lost with alpha), alpha's
            // open streams repaired, every recording fetched (a download alpha held is retaken when its lease ends).
            func unsettled() async throws -> String {
                let calls = try await catalog.rows(
                    "SELECT count(*) AS n FROM calls WHERE status = 'completed'",
                    columns: ["n"]
                )
                let jobs = try await catalog.rows(
                    "SELECT count(*) AS n FROM download_queue WHERE state = 'done'",
                    columns: ["n"]
                )
                let open = try await catalog.rows(
                    "SELECT count(*) AS n FROM streams WHERE state = 'recording'",
                    columns: ["n"]
                )
                let completed = Int(calls.first?.first ?? "") ?? 0
                let done = Int(jobs.first?.first ?? "") ?? 0
                let recording = Int(open.first?.first ?? "") ?? -1
                return completed == Self.rows && done == Self.rows && recording == 0
                    ? "" : "completed \(completed), downloads done \(done), streams recording \(recording)"
            }
            var last = ""
            try await PipelineProcess.eventually("everything settled (\(last))", timeout: .seconds(240)) {
                last = try await unsettled()
                return last.isEmpty
            }

            // Streams: each complete, or open at the kill and repaired by beta; none lost to a node.
            let streams = try await catalog.rows(
                "SELECT path, state, call_sid FROM streams ORDER BY path",
                columns: ["path", "state", "call_sid"]
            )
            #expect(
                streams.count >= Self.rows - openAtKill.count && streams.count <= Self.rows,
                "\(streams.count) streams"
            )
            for row in streams {
                let sidecar = (row[0] as NSString).deletingPathExtension + ".json"
                let relative = String(sidecar.dropFirst("media/".count))
                let expected = openAtKill.contains(relative) ? "interrupted" : "complete"
                #expect(row[1] == expected, "\(row[0]) is \(row[1])")
            }
            // The take-over is recorded once alpha's streams are repaired and catalogued.
            try await PipelineProcess.eventually("beta's take-over of alpha in the registry", timeout: .seconds(30)) {
                let listed = try await ExorecProcess.run(
                    ["nodes", "--storage", storage, "--json"],
                    environment: catalog.environment
                )
                return listed.output.contains("\"taken_over_by\":\"beta\"")
            }

            // Recordings: one file and one catalogued recording per call; every job done.
            let stored = try await catalog.rows(
                "SELECT call_sid, count(*) AS n FROM recordings GROUP BY call_sid",
                columns: ["call_sid", "n"]
            )
            #expect(
                stored.count == Self.rows && stored.allSatisfy { $0[1] == "1" },
                "\(stored.filter { $0[1] != "1" })"
            )

            // The feed through the surviving node: every event once.
            let feed = try await onThread {
                try TestHTTPClient(port: beta.api).request(
                    "GET",
                    "/v1/events?after=0&limit=1000",
                    headers: ["Authorization: Bearer \(Self.consumerToken)"]
                )
            }
            #expect(feed.status == 200)
            let page = try JSONSerialization.jsonObject(with: Data(feed.body.utf8)) as? [String: Any]
            let events = page?["events"] as? [[String: Any]] ?? []
            // Progress reports repeat by design (a growing file's size, about once a second); every other event
            // announces one change.
            let keys = events.map { "\($0["type"] ?? "?") \($0["path"] ?? $0["call_sid"] ?? "?")" }
                .filter { !$0.hasPrefix("stream.progress") }
            let repeated = Dictionary(grouping: keys, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
            #expect(repeated.isEmpty, "repeated events: \(repeated.prefix(5))")
            #expect(keys.filter { $0.hasPrefix("stream.finished") }.count == streams.count)
            #expect(keys.filter { $0.hasPrefix("call.completed") }.count == Self.rows)
            #expect(keys.filter { $0.hasPrefix("recording.stored") }.count == Self.rows)

            // A rerun places nothing.
            let rerun = try await ExorecProcess.run([
                "campaign", "--config", betaConfig, "--json", "--id", "autumn", campaignFile,
            ])
            let summary = try JSONSerialization.jsonObject(with: Data(rerun.output.utf8)) as? [String: Any]
            #expect(
                summary?["placed"] as? Int == 0 && summary?["already_placed"] as? Int == Self.rows,
                "\(rerun.output)"
            )
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}
