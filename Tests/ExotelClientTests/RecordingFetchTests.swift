import ExotelKit
import Testing

@testable import ExotelClient

/// Recordings are private: the account's credentials go only to allowed hosts.
@Suite struct RecordingFetchTests {
    private static let mp3 = TransportResponse(
        status: 200,
        headers: [("Content-Type", "audio/mpeg")],
        body: [0x49, 0x44, 0x33, 0x04]
    )

    @Test func documentedHostGetsBasicCredentials() async throws {
        let transport = ScriptedTransport(clock: ScaledClock(rate: 100), script: [.success(Self.mp3)])
        let client = Fixture.client(transport: transport)
        let url = "https://recordings.exotel.com/exotelrecordings/exorec1/c5797dcb.mp3"

        let recording = try await client.fetchRecording(url: url)

        #expect(recording.bytes == [0x49, 0x44, 0x33, 0x04])
        #expect(recording.contentType == "audio/mpeg")
        let sent = try #require(transport.requests.first)
        #expect(sent.url == url)
        #expect(sent.method == .get)
        #expect(sent.header("Authorization") == Fixture.credentials.basicAuthorization)
    }

    @Test(arguments: ["https://evil.example.com/x.mp3", "https://recordings.exotel.com.evil.io/x.mp3"])
    func otherHostsAreRefusedWithoutSending(_ url: String) async {
        let transport = ScriptedTransport(clock: ScaledClock(rate: 100), script: [.success(Self.mp3)])
        let client = Fixture.client(transport: transport)
        let error = await Fixture.error { () async throws(ExotelClientError) in
            try await client.fetchRecording(url: url)
        }
        guard case .recordingHostNotAllowed = error else {
            Issue.record("expected .recordingHostNotAllowed, got \(String(describing: error))")
            return
        }
        #expect(transport.requests.isEmpty)
    }

    @Test func configuredListReplacesTheDefaults() async throws {
        let transport = ScriptedTransport(clock: ScaledClock(rate: 100), fallback: { _ in .success(Self.mp3) })
        let client = Fixture.client(transport: transport, allowedRecordingHosts: ["*.cdn.example.com"])

        _ = try await client.fetchRecording(url: "https://eu.cdn.example.com/rec/1.mp3")
        let refused = await Fixture.error { () async throws(ExotelClientError) in
            try await client.fetchRecording(url: "https://recordings.exotel.com/rec/1.mp3")
        }
        let bare = await Fixture.error { () async throws(ExotelClientError) in
            try await client.fetchRecording(url: "https://cdn.example.com/rec/1.mp3")
        }

        #expect(refused == .recordingHostNotAllowed(host: "https://recordings.exotel.com:443"))
        #expect(bare == .recordingHostNotAllowed(host: "https://cdn.example.com:443"))
        #expect(transport.requests.count == 1)
    }

    @Test func plainHTTPOnlyForAnHTTPEndpoint() async throws {
        let transport = ScriptedTransport(clock: ScaledClock(rate: 100), fallback: { _ in .success(Self.mp3) })
        let https = Fixture.client(transport: transport)
        let refused = await Fixture.error { () async throws(ExotelClientError) in
            try await https.fetchRecording(url: "http://recordings.exotel.com/x.mp3")
        }
        #expect(refused?.code == "invalid-url")
        #expect(transport.requests.isEmpty)

        let simulator = Fixture.client(
            transport: transport,
            endpoint: try ExotelEndpoint(baseURL: "http://127.0.0.1:9000")
        )
        _ = try await simulator.fetchRecording(url: "http://127.0.0.1:9000/recordings/exorec1/abc.mp3")
        #expect(transport.requests.count == 1)
    }

    @Test func recordingNotReadyIsNotFound() async {
        let transport = ScriptedTransport(clock: ScaledClock(rate: 100), script: [.success(Answers.status(404))])
        let client = Fixture.client(transport: transport)
        let error = await Fixture.error { () async throws(ExotelClientError) in
            try await client.fetchRecording(url: "https://recordings.exotel.com/x.mp3")
        }
        #expect(error == .notFound(message: nil))
        #expect(transport.requests.count == 1)
    }

    @Test func serverErrorOnRecordingIsRetried() async throws {
        let transport = ScriptedTransport(
            clock: ScaledClock(rate: 100),
            script: [.success(Answers.status(503)), .failure(.exchangeFailed("reset")), .success(Self.mp3)]
        )
        let client = Fixture.client(transport: transport)
        let recording = try await client.fetchRecording(url: "https://recordings.exotel.com/x.mp3")
        #expect(recording.bytes.count == 4)
        #expect(transport.requests.count == 3)
    }
}
