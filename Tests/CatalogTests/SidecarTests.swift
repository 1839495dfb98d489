import Catalog
import ExotelKit
import Foundation
import MediaStore
import Testing

/// The two sidecars the catalog is rebuilt from (`call.json`, `recording.json`), read back by a JSON parser
/// exorec did not write (Foundation's `JSONSerialization`).
struct SidecarTests {
    @Test(arguments: [
        ("wss://user:secret@host:443/v1/streams?sample-rate=8000", "wss://host:443/v1/streams?sample-rate=8000"),
        (
            "https://hooks.example/cb?Secret=x&keep=1&TOKEN=y#frag",
            "https://hooks.example/cb?Secret=REDACTED&keep=1&TOKEN=REDACTED#frag"
        ),
        ("https://hooks.example/cb?api%5Fkey=z", "https://hooks.example/cb?api%5Fkey=REDACTED"),
        ("ws://a@b@host/path", "ws://host/path"),
        ("http://my.exotel.com/acme/exoml/start_voice/123", "http://my.exotel.com/acme/exoml/start_voice/123"),
        ("09876543210", "09876543210"),
        ("not a url: user:pw@host", "not a url: user:pw@host"),
    ])
    func credentialsAreRedacted(input: String, expected: String) {
        #expect(URLRedaction.redacting(input) == expected)
        #expect(URLRedaction.redacting(expected) == expected)
    }

    @Test func requestParametersJoinRepeatedNames() {
        let fields = FormFields([
            FormField(name: "From", value: "1"), FormField(name: "StatusCallbackEvents[]", value: "terminal"),
            FormField(name: "StatusCallbackEvents[]", value: "answered"),
            FormField(name: "StreamUrl", value: "wss://u:p@h/s"),
        ])
        #expect(
            CallSidecar.requestParameters(from: fields)
                == ["From": "1", "StatusCallbackEvents[]": "terminal,answered", "StreamUrl": "wss://h/s"]
        )
    }

    @Test func callSidecarRoundTripsWithSnakeCaseAndBase64Body() throws {
        let body = Array(#"{"CallSid":"CA1","Status":"completed"}"#.utf8)
        let sidecar = CallSidecar(
            accountSid: "acme",
            callSid: "CA1",
            placedAt: t0,
            request: ["From": "1"],
            campaignId: "c",
            campaignRowKey: "r",
            platformCall: CallSidecar.platformCallJSON(Fixture.response(sid: "CA1")),
            statusHistory: [
                StatusChange(
                    status: "completed",
                    source: .callback,
                    at: at(5),
                    legs: [CallLeg(status: "completed", onCallDuration: 3)],
                    conversationDuration: 3,
                    recordingURL: "https://r/1.mp3"
                )
            ],
            callbacks: [
                CallSidecar.Callback(
                    receivedAt: at(5),
                    deliveries: 2,
                    contentType: "application/json",
                    sourceAddress: "203.0.113.7",
                    body: body
                )
            ],
            exorecVersion: "test"
        )
        let bytes = sidecar.encoded()
        #expect(try CallSidecar.decode(bytes, path: "call.json") == sidecar)
        #expect(sidecar.decodedPlatformCall == Fixture.response(sid: "CA1"))

        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(object["account_sid"] as? String == "acme")
        #expect(object["placed_at"] as? String == "2025-11-23T12:13:20.000Z")
        #expect(object["campaign_row_key"] as? String == "r")
        let platform = try #require((object["platform_call"] as? [String: Any])?["Call"] as? [String: Any])
        #expect(platform["Sid"] as? String == "CA1")
        let history = try #require(object["status_history"] as? [[String: Any]])
        #expect(history.first?["recording_url"] as? String == "https://r/1.mp3")
        #expect((history.first?["legs"] as? [[String: Any]])?.first?["on_call_duration"] as? Int == 3)
        let callback = try #require((object["callbacks"] as? [[String: Any]])?.first)
        #expect(callback["raw_body_base64"] as? String == Data(body).base64EncodedString())
        #expect(callback["deliveries"] as? Int == 2)
        #expect(callback["unknown_call"] as? Bool == false)

        var broken = object
        broken["callbacks"] = [
            ["received_at": "2025-11-23T12:13:20.000Z", "content_type": "x", "raw_body_base64": "%%%"]
        ]
        let brokenBytes = try JSONSerialization.data(withJSONObject: broken)
        #expect(throws: MediaError.self) { try CallSidecar.decode(Array(brokenBytes), path: "call.json") }
    }

    @Test func recordingSidecarRoundTrips() throws {
        try withTemporaryDirectorySync { directory throws in
            let sidecar = Fixture.recordingSidecar(callSid: "CA1", url: "https://r/1.mp3", bytes: 77, sha256: "ab")
            let path = RecordingSidecar.path(inCallDirectory: directory)
            try sidecar.write(to: path, durable: true)
            #expect(try RecordingSidecar.load(from: path) == sidecar)
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
            )
            #expect(object["fetched_at"] as? String == at(400).description)
            #expect(object["sample_rate"] as? Int == 8000)
            #expect(object["file"] as? String == "recording.mp3")
            #expect(object["state"] as? String == "complete")
        }
    }
}

func withTemporaryDirectorySync<R>(_ body: (String) throws -> R) throws -> R {
    let path = NSTemporaryDirectory() + "exorec-sidecar-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}
