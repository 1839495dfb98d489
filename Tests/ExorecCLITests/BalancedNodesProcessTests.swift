import ExorecTesting
import Foundation
import Glibc
import Testing

/// Two `exorec serve` nodes behind a real HAProxy (Debian's `haproxy`, `make deps`), sharing one storage root
/// and one catalog: streams through the balancer land on both nodes and are sample-exact; the same callback
/// posted to both nodes at once is stored once; the events feed reads the same from either node.
@Suite(.timeLimit(.minutes(5))) struct BalancedNodesProcessTests {
    static let callbackToken = "balanced-callback-token-0123"
    static let apiToken = "balanced-api-token-0123456789"

    struct Node {
        let process: ExorecProcess
        let streamPort: Int
        let platformPort: Int
        let internalPort: Int
    }

    static func startNode(
        _ id: String,
        storage: String,
        directory: String,
        catalog: ClusterCatalog
    ) async throws -> Node {
        let config = directory + "/\(id).yaml"
        try """
        node:
          id: \(id)
          heartbeat_interval: 1s
        ingest:
          auth:
            credentials:
              - username: test
                password: test-secret
        callbacks:
          token: \(Self.callbackToken)
        api:
          token: \(Self.apiToken)
        \(catalog.yaml)
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let process = try ExorecProcess([
            "serve", "--config", config, "--storage", storage, "--port", "0", "--callbacks-port", "0", "--api-port",
            "0",
        ])
        let stream = try await process.waitForListening()
        let platform = try await process.waitForDoor("platform")
        let internalDoor = try await process.waitForDoor("internal")
        return Node(process: process, streamPort: stream, platformPort: platform, internalPort: internalDoor)
    }

    static func sidecarNodes(in storage: String) -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: storage + "/media")
        var nodes: [String] = []
        while let path = enumerator?.nextObject() as? String {
            guard path.hasSuffix(".json"), !path.hasSuffix("call.json"),
                let data = FileManager.default.contents(atPath: storage + "/media/" + path),
                let sidecar = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let node = sidecar["node"] as? String
            else { continue }
            nodes.append(node)
        }
        return nodes
    }

    @Test(arguments: CatalogTestBackend.all) func twoNodesBehindHAProxy(_ backend: CatalogTestBackend) async throws {
        let storage = makeTemporaryDirectory()
        try await ClusterCatalog.with(backend, storage: storage) { catalog in
            let directory = makeTemporaryDirectory()
            let alpha = try await Self.startNode("alpha", storage: storage, directory: directory, catalog: catalog)
            defer { alpha.process.signal(SIGKILL) }
            let beta = try await Self.startNode("beta", storage: storage, directory: directory, catalog: catalog)
            defer { beta.process.signal(SIGKILL) }
            let publicPort = try PipelineProcess.freeLoopbackPort()
            let balancer = try await TestBalancer.start(
                publicPort: publicPort,
                nodes: [
                    .init(name: "alpha", streamPort: alpha.streamPort, platformPort: alpha.platformPort),
                    .init(name: "beta", streamPort: beta.streamPort, platformPort: beta.platformPort),
                ],
                directory: directory
            )
            defer { balancer.signal(SIGKILL) }

            // Streams through the balancer: spread over both nodes, every sample where it belongs.
            let load = try await ExorecProcess.run([
                "loadgen", "ws://test:test-secret@127.0.0.1:\(publicPort)/v1/streams", "--streams", "20", "--frames",
                "20",
                "--pace", "flood", "--verify", storage, "--json",
            ])
            #expect(load.status == 0, "loadgen: \(load.errors)")
            let report = try JSONSerialization.jsonObject(with: Data(load.output.utf8)) as? [String: Any]
            let verification = report?["verification"] as? [String: Any]
            #expect(verification?["streamsExact"] as? Int == 20, "\(load.output)")
            let nodes = Self.sidecarNodes(in: storage)
            #expect(nodes.count == 20)
            #expect(nodes.contains("alpha") && nodes.contains("beta"), "streams per node: \(nodes)")

            // The same callback to both nodes at once: one stored callback, two deliveries.
            let body = Array(#"{"CallSid":"CAbalanced01","Status":"completed","EventType":"terminal"}"#.utf8)
            let path = "/v1/callbacks/status?token=\(Self.callbackToken)"
            async let toAlpha = onThread {
                try TestHTTPClient(port: alpha.platformPort).request(
                    "POST",
                    path,
                    contentType: "application/json",
                    body: body
                )
            }
            async let toBeta = onThread {
                try TestHTTPClient(port: beta.platformPort).request(
                    "POST",
                    path,
                    contentType: "application/json",
                    body: body
                )
            }
            let (first, second) = try await (toAlpha, toBeta)
            #expect(first.status == 200 && second.status == 200, "\(first.body) \(second.body)")
            // And once more through the balancer.
            let third = try await onThread {
                try TestHTTPClient(port: publicPort).request("POST", path, contentType: "application/json", body: body)
            }
            #expect(third.status == 200, "\(third.body)")
            let stored = try await catalog.rows(
                "SELECT deliveries FROM callbacks WHERE call_sid = 'CAbalanced01'",
                columns: ["deliveries"]
            )
            #expect(stored == [["3"]], "callback rows: \(stored)")

            // The events feed is the catalog's: both nodes serve the same events, in the same order.
            func events(_ node: Node) async throws -> [String] {
                let response = try await onThread {
                    try TestHTTPClient(port: node.internalPort).request(
                        "GET",
                        "/v1/events?after=0&limit=1000",
                        headers: ["Authorization: Bearer \(Self.apiToken)"]
                    )
                }
                #expect(response.status == 200, "\(response.body)")
                let page = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]
                return (page?["events"] as? [[String: Any]] ?? []).map { "\($0["id"] ?? "?") \($0["type"] ?? "?")" }
            }
            // Finalizing (checksum, catalog) follows each stream's close: wait until all twenty are finished.
            var fromAlpha: [String] = []
            try await PipelineProcess.eventually("every stream finished in the feed", timeout: .seconds(60)) {
                fromAlpha = try await events(alpha)
                return fromAlpha.filter { $0.hasSuffix(" stream.finished") }.count == 20
            }
            #expect(fromAlpha.filter { $0.hasSuffix(" stream.started") }.count == 20)
            #expect(try await events(beta) == fromAlpha)
        }
    }
}
