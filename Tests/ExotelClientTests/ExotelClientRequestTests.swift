import ExotelKit
import Foundation
import Testing

@testable import ExotelClient

/// What goes on the wire: paths, methods, the Basic header and the form body.
@Suite struct ExotelClientRequestTests {
    @Test func connectPostsTheFormToTheJSONPath() async throws {
        let transport = ScriptedTransport(clock: ScaledClock(rate: 100), script: [.success(Answers.call())])
        let client = Fixture.client(transport: transport)

        let call = try await client.connect(Fixture.request())

        #expect(call.sid == "c5797dcbaaeed7678c4062a4a3ed2f8a")
        #expect(call.status == "in-progress")
        let sent = try #require(transport.requests.first)
        #expect(transport.requests.count == 1)
        #expect(sent.method == .post)
        #expect(sent.url == "https://api.exotel.com/v1/Accounts/exorec1/Calls/connect.json")
        let basic = "Basic " + Data("key123:token456".utf8).base64EncodedString()
        #expect(sent.header("authorization") == basic)
        #expect(sent.header("Content-Type") == "application/x-www-form-urlencoded")
        #expect(sent.header("Accept") == "application/json")

        let form = try URLEncodedForm.decode(try #require(sent.body))
        #expect(form.first("From") == "09876543210")
        #expect(form.first("To") == "09123456789")
        #expect(form.first("CallerId") == "08047112233")
        #expect(form.first("TimeLimit") == "600")
        #expect(form.first("Record") == "true")
        #expect(form.first("CustomField") == "order-42")
        #expect(form.first("StatusCallback") == "https://hooks.example.com/exotel")
        #expect(form.all("StatusCallbackEvents[]") == ["terminal", "answered"])
        // The body is exactly what ExotelKit encodes for the request.
        #expect(form == Fixture.request().formFields())
    }

    @Test func callDetailsGetsTheDetailsPath() async throws {
        let transport = ScriptedTransport(
            clock: ScaledClock(rate: 100),
            script: [.success(Answers.call(sid: "b6cfaf5f5cef3ca0", status: "completed"))]
        )
        let client = Fixture.client(transport: transport, endpoint: .mumbai)

        let call = try await client.callDetails(sid: "b6cfaf5f5cef3ca0")

        #expect(call.status == "completed")
        let sent = try #require(transport.requests.first)
        #expect(sent.method == .get)
        #expect(sent.body == nil)
        #expect(sent.url == "https://api.in.exotel.com/v1/Accounts/exorec1/Calls/b6cfaf5f5cef3ca0.json?details=true")
        #expect(sent.header("Authorization") == Fixture.credentials.basicAuthorization)
    }

    @Test func customEndpointKeepsItsPortAndDropsTrailingSlashes() async throws {
        let endpoint = try ExotelEndpoint(baseURL: "http://127.0.0.1:8089//")
        #expect(endpoint.baseURL == "http://127.0.0.1:8089")
        #expect(endpoint.host == "127.0.0.1")
        let transport = ScriptedTransport(clock: ScaledClock(rate: 100), script: [.success(Answers.call())])
        let client = Fixture.client(transport: transport, endpoint: endpoint)
        _ = try await client.connect(Fixture.request())
        #expect(transport.requests.first?.url == "http://127.0.0.1:8089/v1/Accounts/exorec1/Calls/connect.json")
    }

    @Test(arguments: [
        "ftp://example.com", "api.exotel.com", "https://", "https://k:t@api.exotel.com", "https://a.b/?x=1",
    ])
    func unusableEndpointsAreRefused(_ url: String) {
        #expect(throws: ExotelClientError.self) { try ExotelEndpoint(baseURL: url) }
    }

    @Test func invalidRequestIsNeverSent() async throws {
        let transport = ScriptedTransport(clock: ScaledClock(rate: 100), script: [.success(Answers.call())])
        let client = Fixture.client(transport: transport)
        var request = Fixture.request()
        request.from = ""

        let error = await Fixture.error { () async throws(ExotelClientError) in try await client.connect(request) }

        guard case .invalidRequest(let validation) = error else {
            Issue.record("expected .invalidRequest, got \(String(describing: error))")
            return
        }
        #expect(validation.message == "The 'From' parameter is required.")
        #expect(error?.platformMessage == "The 'From' parameter is required.")
        #expect(error?.httpStatus == 400)
        #expect(transport.requests.isEmpty)
    }

    @Test func tooLongTimeLimitIsNeverSent() async {
        let transport = ScriptedTransport(clock: ScaledClock(rate: 100))
        let client = Fixture.client(transport: transport)
        var request = Fixture.request()
        request.timeLimit = 14401
        let error = await Fixture.error { () async throws(ExotelClientError) in try await client.connect(request) }
        #expect(error?.code == "invalid-request")
        #expect(transport.requests.isEmpty)
    }

    @Test(arguments: ["", "../../Calls", "abc/def", "abc?x=1", "abc#f", "a%2Fb", "sid with space", "é"])
    func unsafeCallSidsAreNeverSent(_ sid: String) async {
        let transport = ScriptedTransport(clock: ScaledClock(rate: 100))
        let client = Fixture.client(transport: transport)
        let error = await Fixture.error { () async throws(ExotelClientError) in try await client.callDetails(sid: sid) }
        guard case .invalidIdentifier(let name, _, _) = error else {
            Issue.record("expected .invalidIdentifier, got \(String(describing: error))")
            return
        }
        #expect(name == "call sid")
        #expect(transport.requests.isEmpty)
    }

    @Test func unsafeAccountSidIsNeverSent() async {
        let transport = ScriptedTransport(clock: ScaledClock(rate: 100))
        let client = ExotelClient(
            endpoint: .singapore,
            credentials: ExotelCredentials(accountSid: "acc/../x", apiKey: "k", apiToken: "t"),
            clock: transport.clock,
            rateLimiter: RequestRateLimiter(clock: transport.clock),
            transport: transport
        )
        let error = await Fixture.error { () async throws(ExotelClientError) in
            try await client.connect(Fixture.request())
        }
        #expect(error?.code == "invalid-identifier")
        #expect(transport.requests.isEmpty)
    }

    /// The lowercase variant of one doc page and the XML of paths without `.json` are read as well.
    @Test(arguments: [
        #"{"call":{"sid":"lower1","status":"queued"}}"#,
        "<TwilioResponse><Call><Sid>lower1</Sid><Status>queued</Status></Call></TwilioResponse>",
    ])
    func tolerantCallShapes(_ body: String) async throws {
        let transport = ScriptedTransport(
            clock: ScaledClock(rate: 100),
            script: [.success(TransportResponse(status: 200, body: Array(body.utf8)))]
        )
        let client = Fixture.client(transport: transport)
        let call = try await client.connect(Fixture.request())
        #expect(call.sid == "lower1")
        #expect(call.status == "queued")
    }

    @Test func credentialsNeverPrintTheToken() {
        #expect(!"\(Fixture.credentials)".contains("token456"))
        #expect(Fixture.credentials.basicAuthorization == "Basic a2V5MTIzOnRva2VuNDU2")
    }
}
