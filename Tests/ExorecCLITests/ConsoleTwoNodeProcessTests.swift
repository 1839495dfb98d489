import ExorecTesting
import Foundation
import Testing

/// Issue 16 on two `exorec serve` nodes sharing a storage root and a catalog (PostgreSQL under `make test`):
/// the console on either node lists the same calls, and a stream the other node is recording plays live from
/// the shared root (a growing file, read twice, grows).
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ConsoleTwoNodeProcessTests {
    /// A signed-in curl: its cookie jar in `directory`.
    struct Curl {
        let base: String
        let jar: String

        func get(_ path: String) async throws -> (headers: String, body: String) {
            let headers = jar + ".headers"
            let result = try await ExorecProcess.runTool(
                "/usr/bin/curl",
                ["-sS", "--max-time", "30", "-b", jar, "-c", jar, "-D", headers, base + path]
            )
            #expect(result.status == 0, "curl \(path): \(result.errors)")
            return ((try? String(contentsOfFile: headers, encoding: .utf8)) ?? "", result.output)
        }

        func signIn(_ name: String, _ password: String) async throws {
            let form = try await self.get("/console/sign-in").body
            let csrf = try #require(form.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1).description
            let result = try await ExorecProcess.runTool(
                "/usr/bin/curl",
                [
                    "-sS", "--max-time", "30", "-b", jar, "-c", jar, "-o", "/dev/null", "-w", "%{http_code}",
                    "-H", "Origin: \(base)", "--data-urlencode", "csrf=\(csrf)", "--data-urlencode", "name=\(name)",
                    "--data-urlencode", "password=\(password)", base + "/console/sign-in",
                ]
            )
            #expect(result.output == "303", "sign-in on \(base): \(result.output) \(result.errors)")
        }
    }

    @Test(arguments: CatalogTestBackend.all)
    func eitherNodeListsTheCallsAndPlaysTheOthersLiveStream(_ backend: CatalogTestBackend) async throws {
        let storage = makeTemporaryDirectory("exorec-console-nodes")
        let directory = makeTemporaryDirectory("exorec-console-nodes-config")
        let hash = try await ConsolePasswordHash.of("two-node-password")
        try await ClusterCatalog.with(backend, storage: storage) { catalog in
            func serve(_ node: String) throws -> ExorecProcess {
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
                api:
                  token: console-two-node-token-0123456789
                console:
                  users:
                    - name: vera
                      role: viewer
                      password_hash: "\(hash)"
                \(catalog.yaml)
                """.write(toFile: config, atomically: true, encoding: .utf8)
                return try ExorecProcess([
                    "serve", "--config", config, "--storage", storage, "--port", "0", "--callbacks-port", "0",
                    "--api-port", "0",
                ])
            }
            let alpha = try serve("alpha")
            defer { alpha.signal(SIGKILL) }
            let alphaStream = try await alpha.waitForListening()
            let alphaAPI = try await alpha.waitForDoor("internal")
            let beta = try serve("beta")
            defer { beta.signal(SIGKILL) }
            let betaAPI = try await beta.waitForDoor("internal")

            // One real-time stream into alpha: 25 s, time enough to read it twice while it grows.
            let loadgen = try ExorecProcess([
                "loadgen", "ws://test:test-secret@127.0.0.1:\(alphaStream)/v1/streams", "--streams", "1", "--frames",
                "250",
            ])
            defer { loadgen.signal(SIGKILL) }

            let onBeta = Curl(base: "http://127.0.0.1:\(betaAPI)", jar: directory + "/beta.jar")
            let onAlpha = Curl(base: "http://127.0.0.1:\(alphaAPI)", jar: directory + "/alpha.jar")
            try await onBeta.signIn("vera", "two-node-password")
            try await onAlpha.signIn("vera", "two-node-password")

            var mediaID = ""
            var callSid = ""
            try await PipelineProcess.eventually("beta's console lists alpha's growing stream", timeout: .seconds(60)) {
                let listing = try await onBeta.get("/console/api/calls").body
                guard let object = try? JSONSerialization.jsonObject(with: Data(listing.utf8)) as? [String: Any],
                    let calls = object["calls"] as? [[String: Any]]
                else { return false }
                for call in calls {
                    for media in call["media"] as? [[String: Any]] ?? [] {
                        if (media["file"] as? [String: Any])?["state"] as? String == "recording",
                            let id = media["media_id"] as? String
                        {
                            mediaID = id
                            callSid = call["call_sid"] as? String ?? ""
                        }
                    }
                }
                return !mediaID.isEmpty
            }
            // The same calls on alpha.
            let alphaListing = try await onAlpha.get("/console/api/calls").body
            #expect(alphaListing.contains(callSid), "alpha lists the call beta lists")

            // Beta serves alpha's growing file from the shared root, and it grows between two reads.
            let first = try await onBeta.get("/console/media/\(mediaID)")
            #expect(first.headers.lowercased().contains("x-exorec-media-state: recording"), "\(first.headers)")
            var grew = false
            try await PipelineProcess.eventually("the live file grows", timeout: .seconds(20)) {
                let again = try await onBeta.get("/console/media/\(mediaID)")
                grew = again.body.utf8.count > first.body.utf8.count
                return grew
            }
            #expect(grew)
            let page = try await onBeta.get("/console/calls/\(callSid)").body
            #expect(page.contains("recording now"), "the call page says the stream is live")
            #expect(!page.contains("being recorded by another node"), "the file is on beta's storage too")

            loadgen.signal(SIGKILL)
            alpha.signal(SIGTERM)
            beta.signal(SIGTERM)
            _ = try await alpha.waitForExit()
            _ = try await beta.waitForExit()
        }
    }
}
