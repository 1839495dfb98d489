import ExotelKit
import Testing

@testable import ExotelClient

/// A sink that keeps what it gets, or fails after a number of bytes.
struct CollectingSink: RecordingSink {
    struct DiskFull: Error, CustomStringConvertible {
        var description: String { "no space left on device" }
    }

    var bytes: [UInt8] = []
    var failAfter: Int?

    mutating func write(_ buffer: UnsafeRawBufferPointer) throws {
        if let failAfter, self.bytes.count + buffer.count > failAfter { throw DiskFull() }
        self.bytes.append(contentsOf: buffer)
    }
}

/// Streamed recording downloads: one attempt, the same host rules as `fetchRecording`, limits, pre-signed URLs.
@Suite struct RecordingDownloadTests {
    private static let url = "https://recordings.exotel.com/exotelrecordings/exorec1/c5797dcb.mp3"
    private static let body: [UInt8] = [0x49, 0x44, 0x33, 0x04, 0x00, 0x00, 0x01, 0x02]

    private static func mp3(_ body: [UInt8] = Self.body, length: String? = nil) -> TransportResponse {
        var headers: [(name: String, value: String)] = [("Content-Type", "audio/mpeg")]
        if let length { headers.append(("Content-Length", length)) }
        return TransportResponse(status: 200, headers: headers, body: body)
    }

    private static func download(
        _ client: ExotelClient,
        url: String = Self.url,
        sink: inout CollectingSink,
        maximumBytes: Int? = nil
    ) async -> Result<RecordingDownload, ExotelClientError> {
        do {
            return .success(try await client.downloadRecording(url: url, into: &sink, maximumBytes: maximumBytes))
        } catch {
            return .failure(error)
        }
    }

    @Test func streamsToTheSinkWithBasicCredentials() async throws {
        let transport = ScriptedTransport(clock: ScaledClock(rate: 100), script: [.success(Self.mp3(length: "8"))])
        let client = Fixture.client(transport: transport)
        var sink = CollectingSink()

        let download = try await Self.download(client, sink: &sink).get()

        #expect(sink.bytes == Self.body)
        #expect(download.bytes == 8)
        #expect(download.contentLength == 8)
        #expect(download.contentType == "audio/mpeg")
        #expect(download.httpStatus == 200)
        #expect(download.finalURL == Self.url)
        #expect(download.sentCredentials)
        let sent = try #require(transport.requests.first)
        #expect(sent.method == .get)
        #expect(sent.header("Authorization") == Fixture.credentials.basicAuthorization)
        #expect(sent.timeout == client.configuration.recordingDownloadTimeout)
    }

    @Test(arguments: [
        "https://s3-ap-southeast-1.amazonaws.com/exotelrecordings/exorec1/a.mp3?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc123",
        "https://recordings.exotel.com/a.mp3?Expires=1700000000&Signature=abc&Key-Pair-Id=K1",
        "https://recordings.exotel.com/a.mp3?sv=2021&sig=abc",
    ])
    func preSignedURLsGoWithoutCredentials(_ url: String) async throws {
        let transport = ScriptedTransport(clock: ScaledClock(rate: 100), script: [.success(Self.mp3())])
        let client = Fixture.client(transport: transport)
        var sink = CollectingSink()

        let download = try await Self.download(client, url: url, sink: &sink).get()

        #expect(!download.sentCredentials)
        #expect(ExotelClient.isPreSigned(url))
        let sent = try #require(transport.requests.first)
        #expect(sent.header("Authorization") == nil)
    }

    @Test(arguments: [
        Self.url, "https://recordings.exotel.com/a.mp3?signature=", "https://recordings.exotel.com/a.mp3?v=2",
    ])
    func unsignedURLsAreNotPreSigned(_ url: String) {
        #expect(!ExotelClient.isPreSigned(url))
    }

    @Test(arguments: [
        "https://evil.example.com/x.mp3", "https://recordings.exotel.com.evil.io/x.mp3",
        "https://user:pass@recordings.exotel.com/x.mp3", "http://recordings.exotel.com/x.mp3",
        "https://evil.example.com/x.mp3?X-Amz-Signature=abc",
    ])
    func refusedURLsAreNeverSent(_ url: String) async {
        let transport = ScriptedTransport(clock: ScaledClock(rate: 100), script: [.success(Self.mp3())])
        let client = Fixture.client(transport: transport)
        var sink = CollectingSink()

        let result = await Self.download(client, url: url, sink: &sink)

        guard case .failure(let error) = result else {
            Issue.record("expected a refusal, got \(result)")
            return
        }
        #expect(["recording-host-not-allowed", "invalid-url"].contains(error.code), "\(error)")
        #expect(transport.requests.isEmpty)
        #expect(sink.bytes.isEmpty)
    }

    /// The fetcher owns the retry policy: one request per call, whatever the answer.
    @Test(arguments: [404, 500, 503, 429])
    func failuresAreNotRetriedHere(_ status: Int) async {
        let transport = ScriptedTransport(
            clock: ScaledClock(rate: 100),
            script: [.success(Answers.status(status, body: "<html>nope</html>"))]
        )
        let client = Fixture.client(transport: transport)
        var sink = CollectingSink()

        let result = await Self.download(client, sink: &sink)

        switch (status, result) {
        case (404, .failure(.notFound)), (500, .failure(.server(500, _, 1))), (503, .failure(.server(503, _, 1))),
            (429, .failure(.rateLimited(_, 1))):
            break
        default:
            Issue.record("HTTP \(status) gave \(result)")
        }
        #expect(transport.requests.count == 1)
        #expect(sink.bytes.isEmpty, "an error body never reaches the sink")
    }

    @Test func connectionFailureIsOneAttempt() async {
        let transport = ScriptedTransport(clock: ScaledClock(rate: 100), script: [.failure(.exchangeFailed("reset"))])
        let client = Fixture.client(transport: transport)
        var sink = CollectingSink()

        let result = await Self.download(client, sink: &sink)

        guard case .failure(.transport(_, attempts: 1)) = result else {
            Issue.record("expected one transport failure, got \(result)")
            return
        }
        #expect(transport.requests.count == 1)
    }

    @Test func announcedSizeOverTheLimitStopsBeforeTheBody() async {
        let transport = ScriptedTransport(clock: ScaledClock(rate: 100), script: [.success(Self.mp3(length: "8"))])
        let client = Fixture.client(transport: transport)
        var sink = CollectingSink()

        let result = await Self.download(client, sink: &sink, maximumBytes: 7)

        guard case .failure(.recordingTooLarge(_, limit: 7, announced: 8)) = result else {
            Issue.record("expected recordingTooLarge, got \(result)")
            return
        }
        #expect(sink.bytes.isEmpty)
    }

    @Test func unannouncedSizeOverTheLimitStopsWhileReading() async {
        let transport = ScriptedTransport(clock: ScaledClock(rate: 100), script: [.success(Self.mp3())])
        let client = Fixture.client(transport: transport)
        var sink = CollectingSink()

        let result = await Self.download(client, sink: &sink, maximumBytes: 4)

        guard case .failure(.recordingTooLarge(_, limit: 4, announced: nil)) = result else {
            Issue.record("expected recordingTooLarge, got \(result)")
            return
        }
        #expect(sink.bytes.count <= 4)
    }

    @Test func bodyShorterThanAnnouncedIsATransportFailure() async {
        let transport = ScriptedTransport(clock: ScaledClock(rate: 100), script: [.success(Self.mp3(length: "100"))])
        let client = Fixture.client(transport: transport)
        var sink = CollectingSink()

        let result = await Self.download(client, sink: &sink)

        guard case .failure(.transport(let error, attempts: 1)) = result else {
            Issue.record("expected a transport failure, got \(result)")
            return
        }
        #expect(error.message.contains("8 of the 100"), "\(error)")
    }

    @Test func restExceptionInsideA200IsMappedByItsStatus() async {
        let transport = ScriptedTransport(
            clock: ScaledClock(rate: 100),
            script: [.success(Answers.restException(status: 404, message: "Recording not ready", httpStatus: 200))]
        )
        let client = Fixture.client(transport: transport)
        var sink = CollectingSink()

        let result = await Self.download(client, sink: &sink)

        guard case .failure(.notFound(let message)) = result else {
            Issue.record("expected notFound, got \(result)")
            return
        }
        #expect(message == "Recording not ready")
    }

    @Test func sinkFailureStopsTheDownload() async {
        let transport = ScriptedTransport(clock: ScaledClock(rate: 100), script: [.success(Self.mp3())])
        let client = Fixture.client(transport: transport)
        var sink = CollectingSink(failAfter: 2)

        let result = await Self.download(client, sink: &sink)

        guard case .failure(.sinkFailed(let reason)) = result else {
            Issue.record("expected sinkFailed, got \(result)")
            return
        }
        #expect(reason.contains("no space left"))
    }

    /// Redirects are followed hop by hop: each target is checked before it is requested, and credentials
    /// stay on the first URL's origin. (Before: the transport followed them and only the end was checked.)
    @Test(arguments: [
        ("https://evil.example.com/x.mp3", "redirect-refused", false),
        ("https://recordings.exotel.com:8443/x.mp3", "redirect-refused", false),
        ("http://s3-ap-southeast-1.amazonaws.com/x.mp3", "redirect-refused", false),
        ("https://s3-ap-southeast-1.amazonaws.com/x.mp3?X-Amz-Signature=abc", nil, false),
        ("/moved/x.mp3", nil, true),
        ("https://recordings.exotel.com:443/other.mp3", nil, true),
    ])
    func redirectTargetsAreCheckedBeforeTheyAreRequested(_ target: String, _ code: String?, _ credentialed: Bool) async
    {
        let clock = ScaledClock(rate: 100)
        let transport = ScriptedTransport(clock: clock) { request in
            request.url == Self.url
                ? .success(TransportResponse(status: 302, headers: [("Location", target)]))
                : .success(Self.mp3())
        }
        let client = Fixture.client(transport: transport)
        var sink = CollectingSink()

        let result = await Self.download(client, sink: &sink)

        let sent = transport.requests
        switch result {
        case .success(let download):
            #expect(code == nil, "followed a redirect to \(target)")
            #expect(sent.count == 2)
            #expect(download.redirects.count == 1)
            #expect(download.sentCredentials == credentialed)
            #expect((sent.last?.header("Authorization") != nil) == credentialed, "credentials only on the first origin")
            #expect(sink.bytes == Self.body)
        case .failure(let error):
            #expect(error.code == code, "\(error)")
            #expect(sent.map(\.url) == [Self.url], "the refused hop was requested")
            #expect(sink.bytes.isEmpty)
        }
    }

    /// A transport that follows redirects itself (as AsyncHTTPClient's default does) is caught: its answer
    /// from another origin is not used.
    @Test func anAnswerFromAnotherOriginThanAskedIsRefused() async {
        let transport = RedirectingTransport(
            to: "https://s3-ap-southeast-1.amazonaws.com/x.mp3?X-Amz-Signature=abc",
            answer: Self.mp3()
        )
        let client = ExotelClient(
            endpoint: .singapore,
            credentials: Fixture.credentials,
            clock: ScaledClock(rate: 100),
            rateLimiter: RequestRateLimiter(clock: ScaledClock(rate: 100)),
            transport: transport
        )
        var sink = CollectingSink()

        let result = await Self.download(client, sink: &sink)

        guard case .failure(.redirectRefused(_, _, let reason)) = result else {
            Issue.record("expected redirectRefused, got \(result)")
            return
        }
        #expect(reason.contains("followed a redirect by itself"))
        #expect(sink.bytes.isEmpty)
    }

    @Test func redirectsAreBounded() async {
        let transport = ScriptedTransport(clock: ScaledClock(rate: 100)) { request in
            .success(TransportResponse(status: 302, headers: [("Location", request.url + "x")]))
        }
        let client = Fixture.client(transport: transport)
        var sink = CollectingSink()

        let result = await Self.download(client, sink: &sink)

        guard case .failure(.redirectRefused(let hop, _, _)) = result else {
            Issue.record("expected redirectRefused, got \(result)")
            return
        }
        #expect(hop == ExotelClient.maximumRecordingRedirects + 1)
        #expect(transport.requests.count == ExotelClient.maximumRecordingRedirects + 1)
    }

    @Test func endpointHostWaitsForTheRateLimiterOtherHostsDoNot() async throws {
        let clock = ScaledClock(rate: 100)
        let transport = ScriptedTransport(clock: clock, fallback: { _ in .success(Self.mp3()) })
        let limiter = RequestRateLimiter(limit: 1, window: .seconds(60), clock: clock)
        let client = ExotelClient(
            endpoint: try ExotelEndpoint(baseURL: "http://127.0.0.1:9000"),
            credentials: Fixture.credentials,
            clock: clock,
            rateLimiter: limiter,
            transport: transport
        )
        var sink = CollectingSink()

        _ = try await Self.download(
            client,
            url: "http://127.0.0.1:9000/v1/Accounts/exorec1/Recordings/a.mp3",
            sink: &sink
        ).get()
        #expect(await limiter.grantsInWindow() == 1)
        _ = try await Self.download(client, url: Self.url, sink: &sink).get()
        #expect(await limiter.grantsInWindow() == 1, "recording stores are not the Voice API")
    }
}

/// A transport whose every answer comes after a redirect to `target` (as AsyncHTTPClient reports it).
struct RedirectingTransport: ExotelTransport {
    let target: String
    let answer: TransportResponse

    init(to target: String, answer: TransportResponse) {
        self.target = target
        self.answer = answer
    }

    func send(_ request: TransportRequest) async throws(TransportError) -> TransportResponse { self.answer }

    func download<Sink: TransportBodySink>(
        _ request: TransportRequest,
        into sink: inout Sink
    ) async throws(TransportError) -> TransportResponseHead {
        let head = TransportResponseHead(
            status: self.answer.status,
            headers: self.answer.headers,
            finalURL: self.target
        )
        guard sink.begin(head) else { return head }
        _ = self.answer.body.withUnsafeBytes { sink.write($0) }
        return head
    }
}
