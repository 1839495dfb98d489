import AsyncHTTPClient
import Catalog
import ExorecTesting
import ExotelKit
import Foundation
import Ingest
import MediaStore
import NIOCore
import NIOHTTP1
import Testing

@testable import Orchestrator

/// `POST /v1/calls/CALLSID/pause|resume` on the internal door of a running pipeline, with a stream over a
/// real WebSocket: the paused stretch is silence in the WAV, its `dtmf` is stored nowhere (sidecar,
/// catalog, events feed), and the interval is in the sidecar, the catalog (also after a rebuild) and the
/// hash-chained audit log.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct CallPauseAPITests {
    func post(
        _ harness: ConsumerHarness,
        _ path: String,
        body: String? = nil,
        token: String?? = .none
    ) async throws -> (status: Int, json: [String: Any]) {
        var request = HTTPClientRequest(url: harness.baseURL + path)
        request.method = .POST
        if let token = token ?? harness.token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
        return (Int(response.status.code), object)
    }

    func waitForFrames(_ harness: ConsumerHarness, _ frames: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while harness.pipeline.ingest.metrics.current.mediaFrames != frames {
            guard ContinuousClock.now < deadline else {
                throw HarnessFailure("the server did not read \(frames) frames")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    static func dtmf(_ script: StreamScript, _ digit: String, _ sequence: Int64) -> [UInt8] {
        script.encoder.dtmf(streamSid: script.streamSid, sequenceNumber: sequence, digit: digit, durationMs: 100)
    }

    @Test func refusalsNameTheProblem() async throws {
        try await ConsumerHarness.run { harness async throws in
            #expect(try await self.post(harness, "/v1/calls/CAnever/pause").status == 404, "a CallSid never seen")
            #expect(try await self.post(harness, "/v1/calls/CAnever/resume").status == 404)
            #expect(try await self.post(harness, "/v1/calls/CA..x/pause").status == 400, "not a PathSafeIdentifier")
            #expect(try await self.post(harness, "/v1/calls/-CA1/pause").status == 400)
            #expect(try await self.post(harness, "/v1/calls/CA1/pause", token: .some(nil)).status == 401)
            #expect(try await self.post(harness, "/v1/calls/CA1/pause", token: "wrong-token-0123456789").status == 403)
            #expect(try await self.post(harness, "/v1/calls/CA1/stop").status == 404)
            #expect(try await harness.get("/v1/calls/CA1/pause").status == 405)
            #expect(try await self.post(harness, "/v1/calls/CA1/pause", body: "[1]").status == 400)
            #expect(try await self.post(harness, "/v1/calls/CA1/pause", body: "{\"by\":\"a\\u0000b\"}").status == 400)
            let big = "{\"reason\":\"" + String(repeating: "x", count: 5000) + "\"}"
            #expect(try await self.post(harness, "/v1/calls/CA1/pause", body: big).status == 413)
            #expect(harness.pipeline.ingest.pauses.pause(of: "CA1") == nil, "no refusal paused anything")
        }
    }

    @Test func aPausedStretchIsSilentItsDTMFIsNowhereAndTheIntervalIsRecorded() async throws {
        try await ConsumerHarness.run { harness async throws in
            let script = StreamScript(streamSid: "STapi1", callSid: "CAapi1", accountSid: "acct1", seed: 31)
            let client = try TestWebSocketClient(port: harness.streamPort)
            try client.sendText(script.start())
            for i in 0..<10 { try client.sendText(script.media(frame: i)) }
            try client.sendText(Self.dtmf(script, "1", 100))
            try await self.waitForFrames(harness, 10)

            let paused = try await self.post(
                harness,
                "/v1/calls/CAapi1/pause",
                body: "{\"by\":\"agent-7\",\"reason\":\"card number\"}"
            )
            #expect(paused.status == 200)
            #expect(paused.json["paused"] as? Bool == true)
            #expect(paused.json["outcome"] as? String == "paused")
            #expect(paused.json["live_streams"] as? Int == 1)
            #expect(paused.json["by"] as? String == "agent-7")
            let again = try await self.post(harness, "/v1/calls/CAapi1/pause")
            #expect(again.status == 200)
            #expect(again.json["outcome"] as? String == "already_paused")
            #expect(again.json["paused_at"] as? String == paused.json["paused_at"] as? String)

            for i in 10..<20 {
                try client.sendText(script.media(frame: i))
                if i == 14 { try client.sendText(Self.dtmf(script, "4", 101)) }
                if i == 16 { try client.sendText(Self.dtmf(script, "2", 102)) }
            }
            try await self.waitForFrames(harness, 20)
            let resumed = try await self.post(harness, "/v1/calls/CAapi1/resume", body: "{\"by\":\"agent-7\"}")
            #expect(resumed.status == 200)
            #expect(resumed.json["paused"] as? Bool == false)
            #expect(resumed.json["outcome"] as? String == "resumed")
            #expect(resumed.json["resumed_at"] is String)
            #expect(try await self.post(harness, "/v1/calls/CAapi1/resume").json["outcome"] as? String == "not_paused")

            for i in 20..<30 { try client.sendText(script.media(frame: i)) }
            try client.sendText(Self.dtmf(script, "9", 103))
            try client.sendText(script.stop())
            _ = try await client.closed()

            // Catalogued once finished.
            var stream: StreamRecord?
            let deadline = ContinuousClock.now + .seconds(30)
            while stream?.state != .complete, ContinuousClock.now < deadline {
                stream = try await harness.catalog.streams(callSid: "CAapi1").first
                try await Task.sleep(for: .milliseconds(50))
            }
            let record = try #require(stream)
            #expect(record.state == .complete)
            let frame = Int64(script.frameSamples)
            let pauses = try #require(record.pauses)
            #expect(pauses.map(\.startFrame) == [10 * frame])
            #expect(pauses.map(\.endFrame) == [20 * frame])
            #expect(pauses.first?.by == "agent-7" && pauses.first?.reason == "card number")

            let wav = harness.storageRoot + "/" + record.path
            let file = try SoundFile.open(readingFrom: wav)
            let samples = file.readAll()
            try? file.close()
            let expected = script.expected(frames: 30)
            let n = script.frameSamples
            #expect(samples.count == expected.count)
            #expect(Array(samples[0..<(10 * n)]) == Array(expected[0..<(10 * n)]))
            #expect(samples[(10 * n)..<(20 * n)].allSatisfy { $0 == 0 })
            #expect(Array(samples[(20 * n)...]) == Array(expected[(20 * n)...]))

            let sidecarPath = String(wav.dropLast(4)) + ".json"
            let sidecar = try StreamSidecar.load(from: sidecarPath)
            #expect(sidecar.dtmf.map(\.digit) == ["1", "9"])
            #expect(sidecar.pauses == record.pauses)

            // The events feed and the catalog file: no dtmf at all.
            let page = try await harness.get("/v1/events?after=0&limit=1000&wait=0")
            let feed = String(decoding: page.body, as: UTF8.self)
            #expect(!feed.lowercased().contains("dtmf") && !feed.contains("\"digit\""), "\(feed)")
            let database = try Data(contentsOf: URL(fileURLWithPath: harness.storageRoot + "/catalog.sqlite"))
            #expect(database.range(of: Data("\"digit\"".utf8)) == nil)

            // The audit log: call.paused, then call.resumed, in an intact chain.
            let audit = try await harness.catalog.auditEntries(callSid: "CAapi1").filter {
                $0.action.hasPrefix("call.")
            }
            #expect(audit.map(\.action) == ["call.paused", "call.resumed"])
            #expect(audit.first?.detailMap["by"] == "agent-7")
            #expect(audit.first?.detailMap["reason"] == "card number")
            #expect(audit.first?.actor.hasPrefix("api:") == true)
            #expect(try await harness.catalog.verifyAuditChain().isIntact)

            // A rebuild from the files gives the same intervals.
            let rebuiltPath = harness.storageRoot + "/rebuilt.sqlite"
            _ = try await CatalogRebuilder(
                layout: StorageLayout(root: harness.storageRoot),
                catalogPath: rebuiltPath,
                logger: harness.logger
            )
            .rebuild(options: .init(takeStorageLock: false, keepBackup: false))
            let rebuilt = try await Catalog.open(path: rebuiltPath, logger: harness.logger)
            let rebuiltStream = try await rebuilt.streams(callSid: "CAapi1").first
            try await rebuilt.close()
            #expect(rebuiltStream?.pauses == record.pauses)
        }
    }

    @Test func aCatalogedCallWithoutAStreamIsAcceptedAndItsLaterStreamStartsPaused() async throws {
        try await ConsumerHarness.run { harness async throws in
            // A stream of the call came and went: the call is known to the catalog.
            let first = StreamScript(streamSid: "STapi2a", callSid: "CAapi2", seed: 41)
            try await harness.send(first, frames: 3, every: .zero).value
            let deadline = ContinuousClock.now + .seconds(30)
            while try await harness.catalog.streams(callSid: "CAapi2").first?.state != .complete,
                ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(50))
            }
            let paused = try await self.post(harness, "/v1/calls/CAapi2/pause")
            #expect(paused.status == 200)
            #expect(paused.json["live_streams"] as? Int == 0)
            #expect(paused.json["by"] as? String == "api:127.0.0.1", "without a by, the client's address")

            let second = StreamScript(streamSid: "STapi2b", callSid: "CAapi2", seed: 42)
            try await harness.send(second, frames: 4, every: .zero).value
            var stream: StreamRecord?
            while stream?.state != .complete, ContinuousClock.now < deadline + .seconds(30) {
                stream = try await harness.catalog.streams(callSid: "CAapi2").first { $0.streamSid == "STapi2b" }
                try await Task.sleep(for: .milliseconds(50))
            }
            let record = try #require(stream)
            #expect(record.pauses?.count == 1)
            #expect(record.pauses?.first?.startFrame == 0)
            #expect(record.pauses?.first?.endedWithStream == true)
            let file = try SoundFile.open(readingFrom: harness.storageRoot + "/" + record.path)
            let samples = file.readAll()
            try? file.close()
            #expect(samples.count == 4 * second.frameSamples && samples.allSatisfy { $0 == 0 })
        }
    }
}
