import ExorecTesting
import Foundation
import Glibc
import Testing

/// The node registry as an operator sees it: `exorec nodes` shows a running server live, a killed one lost
/// once its lease ran out, and the restarted process as the node's next incarnation; `/metrics` names the node.
@Suite(.timeLimit(.minutes(3))) struct NodeRegistryProcessTests {
    struct Listed: Decodable {
        let node_id: String
        let state: String
        let incarnation: Int
        let pid: Int
        let taken_over_by: String?
    }

    static func nodes(storage: String) async throws -> [Listed] {
        let result = try await ExorecProcess.run(["nodes", "--storage", storage, "--json"])
        guard result.status == 0 else { throw TestFailure("exorec nodes failed: \(result.errors)") }
        return try JSONDecoder().decode([Listed].self, from: Data(result.output.utf8))
    }

    @Test func aKilledNodeIsLostAndItsNextProcessIsTheNextIncarnation() async throws {
        let storage = makeTemporaryDirectory()
        let config = makeTemporaryDirectory() + "/exorec.yaml"
        try """
        ingest:
          auth:
            credentials:
              - username: test
                password: test-secret
        node:
          id: alpha.rack-1
          heartbeat_interval: 1s
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let arguments = [
            "serve", "--config", config, "--storage", storage, "--port", "0", "--callbacks-port", "0", "--api-port",
            "0",
        ]

        let first = try ExorecProcess(arguments)
        defer { first.signal(SIGKILL) }
        _ = try await first.waitForListening()
        let live = try await Self.nodes(storage: storage)
        #expect(live.count == 1 && live.first?.node_id == "alpha.rack-1" && live.first?.state == "live")
        #expect(live.first?.incarnation == 1 && live.first?.pid == Int(first.pid))

        first.signal(SIGKILL)
        _ = try await first.waitForExit()
        // The lease is three heartbeats (3 s): then the node is lost, not live and not stopped.
        try await PipelineProcess.eventually("the killed node to be lost", timeout: .seconds(30)) {
            try await Self.nodes(storage: storage).first?.state == "lost"
        }

        let second = try ExorecProcess(arguments)
        defer { second.signal(SIGKILL) }
        _ = try await second.waitForListening()
        let apiPort = try await second.waitForDoor("internal")
        let again = try #require(try await Self.nodes(storage: storage).first)
        #expect(again.state == "live" && again.incarnation == 2 && again.pid == Int(second.pid))
        try await PipelineProcess.eventually("the node in /metrics", timeout: .seconds(30)) {
            guard
                let metrics = try? PipelineProcess.get(
                    port: apiPort,
                    path: "/metrics",
                    user: "test",
                    password: "test-secret"
                )
            else { return false }
            return metrics.body.contains("exorec_node_info{node=\"alpha.rack-1\",incarnation=\"2\"} 1")
                && metrics.body.contains("exorec_node_up{node=\"alpha.rack-1\"} 1")
        }

        second.signal(SIGTERM)
        #expect(try await second.waitForExit() == 0)
        #expect(try await Self.nodes(storage: storage).first?.state == "stopped")
    }

    @Test func aBadNodeIdIsAUsageError() async throws {
        let result = try await ExorecProcess.run(
            ["serve", "--storage", makeTemporaryDirectory(), "--port", "0"],
            environment: ["EXOREC_NODE_ID": "a/../etc", "EXOREC_INGEST_USERNAME": "u", "EXOREC_INGEST_PASSWORD": "p"]
        )
        #expect(result.status == 64, "stderr: \(result.errors)")
        #expect(result.errors.contains("EXOREC_NODE_ID"), "stderr: \(result.errors)")
        #expect(result.errors.contains("may hold only letters, digits"), "stderr: \(result.errors)")
    }

    /// `exorec serve` as `node` on a shared `storage` root (heartbeat every second), its configuration in
    /// `directory`.
    static func serve(node: String, storage: String, directory: String) throws -> ExorecProcess {
        let config = directory + "/\(node).yaml"
        try """
        ingest:
          auth:
            credentials:
              - username: test
                password: test-secret
        node:
          id: \(node)
          heartbeat_interval: 1s
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return try ExorecProcess([
            "serve", "--config", config, "--storage", storage, "--port", "0", "--callbacks-port", "0", "--api-port",
            "0",
        ])
    }

    /// Sidecars under the storage root naming `node` in state `state`.
    static func sidecars(in storage: String, node: String, state: String) -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: storage + "/media")
        var found: [String] = []
        while let path = enumerator?.nextObject() as? String {
            guard path.hasSuffix(".json"), !path.hasSuffix("call.json"),
                let data = FileManager.default.contents(atPath: storage + "/media/" + path),
                let sidecar = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            else { continue }
            if sidecar["node"] as? String == node && sidecar["state"] as? String == state { found.append(path) }
        }
        return found
    }

    /// Two nodes on one storage root and one catalog: both run; when one is killed mid-stream, its next
    /// process repairs its own stream (interrupted) and leaves the other node's live stream alone.
    @Test func twoNodesShareARootAndEachRepairsOnlyItsOwnStreams() async throws {
        let storage = makeTemporaryDirectory()
        let directory = makeTemporaryDirectory()
        func serve(_ node: String) throws -> ExorecProcess {
            try Self.serve(node: node, storage: storage, directory: directory)
        }
        func stream(to port: Int) throws -> ExorecProcess {
            try ExorecProcess([
                "loadgen", "ws://test:test-secret@127.0.0.1:\(port)/v1/streams", "--streams", "1", "--frames", "600",
            ])
        }
        let alpha = try serve("alpha")
        defer { alpha.signal(SIGKILL) }
        let beta = try serve("beta")
        defer { beta.signal(SIGKILL) }
        let alphaPort = try await alpha.waitForListening()
        let betaPort = try await beta.waitForListening()
        #expect(
            try await Self.nodes(storage: storage).map { "\($0.node_id) \($0.state)" } == ["alpha live", "beta live"]
        )

        let toAlpha = try stream(to: alphaPort)
        defer { toAlpha.signal(SIGKILL) }
        let toBeta = try stream(to: betaPort)
        defer { toBeta.signal(SIGKILL) }
        try await PipelineProcess.eventually("a recording stream on each node", timeout: .seconds(60)) {
            !Self.sidecars(in: storage, node: "alpha", state: "recording").isEmpty
                && !Self.sidecars(in: storage, node: "beta", state: "recording").isEmpty
        }
        alpha.signal(SIGKILL)
        _ = try await alpha.waitForExit()

        let restarted = try serve("alpha")
        defer { restarted.signal(SIGKILL) }
        _ = try await restarted.waitForListening()
        #expect(Self.sidecars(in: storage, node: "alpha", state: "interrupted").count == 1)
        #expect(Self.sidecars(in: storage, node: "alpha", state: "recording").isEmpty)
        // Beta's stream is still being recorded: the restarted alpha did not touch it.
        #expect(Self.sidecars(in: storage, node: "beta", state: "recording").count == 1)
        #expect(Self.sidecars(in: storage, node: "beta", state: "interrupted").isEmpty)
        let listed = try await Self.nodes(storage: storage)
        #expect(listed.first { $0.node_id == "alpha" }?.incarnation == 2)
    }

    /// A node killed with a stream open, and not restarted: a surviving node on the same root repairs the
    /// stream (interrupted, catalogued) once the lost node's lease and a grace period have passed, and the
    /// registry says who took it over.
    @Test func aSurvivorRepairsALostNodesStreams() async throws {
        let storage = makeTemporaryDirectory()
        let directory = makeTemporaryDirectory()
        func serve(_ node: String) throws -> ExorecProcess {
            try Self.serve(node: node, storage: storage, directory: directory)
        }
        let alpha = try serve("alpha")
        defer { alpha.signal(SIGKILL) }
        let beta = try serve("beta")
        defer { beta.signal(SIGKILL) }
        let alphaPort = try await alpha.waitForListening()
        _ = try await beta.waitForListening()
        let load = try ExorecProcess([
            "loadgen", "ws://test:test-secret@127.0.0.1:\(alphaPort)/v1/streams", "--streams", "2", "--frames", "600",
        ])
        defer { load.signal(SIGKILL) }
        try await PipelineProcess.eventually("two recording streams on alpha", timeout: .seconds(60)) {
            Self.sidecars(in: storage, node: "alpha", state: "recording").count == 2
        }
        alpha.signal(SIGKILL)
        _ = try await alpha.waitForExit()
        load.signal(SIGKILL)

        // Lease 3 s, then a grace of one lease: beta repairs within seconds after that.
        try await PipelineProcess.eventually("beta to repair alpha's streams", timeout: .seconds(60)) {
            Self.sidecars(in: storage, node: "alpha", state: "interrupted").count == 2
        }
        #expect(Self.sidecars(in: storage, node: "alpha", state: "recording").isEmpty)
        // The take-over is recorded once the streams are repaired and catalogued.
        var alphaRow: Listed?
        try await PipelineProcess.eventually("beta's take-over of alpha in the registry", timeout: .seconds(30)) {
            alphaRow = try await Self.nodes(storage: storage).first { $0.node_id == "alpha" }
            return alphaRow?.taken_over_by != nil
        }
        #expect(alphaRow?.state == "stopped" && alphaRow?.taken_over_by == "beta" && alphaRow?.incarnation == 2)
        try await PipelineProcess.eventually("the catalog to show the streams interrupted", timeout: .seconds(30)) {
            let states = try await PipelineProcess.query(storage + "/catalog.sqlite", "SELECT state FROM streams")
            return states.map { $0[0] } == ["interrupted", "interrupted"]
        }
        #expect(beta.standardError.contains("repaired the open streams of a lost node"))
    }
}
