import ExotelClient
import ExotelKit
import Synchronization

/// An ``ExotelTransport`` that answers from a script and records every request with the scaled instant it
/// arrived, so tests can check encoding, retries and spacing without a server.
final class ScriptedTransport: ExotelTransport {
    typealias Outcome = Result<TransportResponse, TransportError>

    struct Sent: Sendable {
        var request: TransportRequest
        var at: ScaledClock.Instant
    }

    private struct State {
        var script: [Outcome]
        var fallback: (@Sendable (TransportRequest) -> Outcome)?
        var sent: [Sent] = []
    }

    let clock: ScaledClock
    // Mutex, not an actor: `send` is called from many tasks and must record arrival order exactly.
    private let state: Mutex<State>

    /// Answers with `script` in order, then with `fallback` (or 500 when there is none).
    init(
        clock: ScaledClock,
        script: [Outcome] = [],
        fallback: (@Sendable (TransportRequest) -> Outcome)? = nil
    ) {
        self.clock = clock
        self.state = Mutex(State(script: script, fallback: fallback))
    }

    func send(_ request: TransportRequest) async throws(TransportError) -> TransportResponse {
        let now = self.clock.now
        let outcome = self.state.withLock { state -> Outcome in
            state.sent.append(Sent(request: request, at: now))
            if !state.script.isEmpty { return state.script.removeFirst() }
            return state.fallback?(request) ?? .success(TransportResponse(status: 500, body: Array("no script".utf8)))
        }
        return try outcome.get()
    }

    var sent: [Sent] { self.state.withLock { $0.sent } }
    var requests: [TransportRequest] { self.sent.map(\.request) }
}

/// Platform answers in the documented shapes, written out literally so the client is tested against the
/// wire format rather than against ExotelKit's own encoder.
enum Answers {
    static func call(
        sid: String = "c5797dcbaaeed7678c4062a4a3ed2f8a",
        status: String = "in-progress"
    ) -> TransportResponse {
        let json = """
            {"Call": {"Sid": "\(sid)", "ParentCallSid": null, "DateCreated": "2017-03-03 10:48:33",
              "DateUpdated": "2017-03-03 10:48:33", "AccountSid": "exorec1", "To": "0XXXXX38847",
              "From": "0XXXXX30240", "PhoneNumberSid": "0XXXXXX4890", "Status": "\(status)",
              "StartTime": "2017-03-03 10:48:33", "EndTime": null, "Duration": null, "Price": null,
              "Direction": "outbound-api", "AnsweredBy": null, "RecordingUrl": null}}
            """
        return TransportResponse(
            status: 200,
            headers: [("Content-Type", "application/json")],
            body: Array(json.utf8)
        )
    }

    static func restException(
        status: Int,
        message: String,
        httpStatus: Int? = nil,
        headers: [(name: String, value: String)] = []
    )
        -> TransportResponse
    {
        let json = #"{"RestException": {"Status": \#(status), "Message": "\#(message)"}}"#
        return TransportResponse(status: httpStatus ?? status, headers: headers, body: Array(json.utf8))
    }

    static func xmlRestException(status: Int, message: String) -> TransportResponse {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <TwilioResponse><RestException><Status>\(status)</Status><Message>\(message)</Message></RestException></TwilioResponse>
            """
        return TransportResponse(status: status, headers: [("Content-Type", "application/xml")], body: Array(xml.utf8))
    }

    static func status(_ code: Int, body: String = "") -> TransportResponse {
        TransportResponse(status: code, body: Array(body.utf8))
    }
}

/// Shared fixtures.
enum Fixture {
    static let credentials = ExotelCredentials(accountSid: "exorec1", apiKey: "key123", apiToken: "token456")

    static func request() -> ConnectCallRequest {
        var request = ConnectCallRequest(
            from: "09876543210",
            callerId: "08047112233",
            destination: .number("09123456789")
        )
        request.timeLimit = 600
        request.record = true
        request.customField = "order-42"
        request.statusCallback = "https://hooks.example.com/exotel"
        request.statusCallbackEvents = [.terminal, .answered]
        return request
    }

    /// A retry time limit no test meets by accident: on a fast clock, a busy machine's scheduling delays
    /// become minutes of scaled time. Only the test of the limit itself sets a real one.
    static let unboundedTime = Duration.seconds(86_400)

    /// A client with its own limiter and a fast clock; retries with no jitter unless given a policy.
    static func client(
        transport: ScriptedTransport,
        retry: RetryPolicy = RetryPolicy(maximumTotalTime: Fixture.unboundedTime, random: { 0 }),
        endpoint: ExotelEndpoint = .singapore,
        allowedRecordingHosts: [String]? = nil
    ) -> ExotelClient {
        ExotelClient(
            endpoint: endpoint,
            credentials: credentials,
            configuration: ExotelClientConfiguration(retry: retry, allowedRecordingHosts: allowedRecordingHosts),
            clock: transport.clock,
            rateLimiter: RequestRateLimiter(clock: transport.clock),
            transport: transport
        )
    }

    /// Runs `body` and returns the typed error it threw, or nil.
    static func error<T>(
        _ body: () async throws(ExotelClientError) -> T
    ) async -> ExotelClientError? {
        do {
            _ = try await body()
            return nil
        } catch {
            return error
        }
    }
}
