import ExotelKit
import Testing

@testable import ExotelClient

/// Platform answers become typed errors that keep the platform's message.
@Suite struct ExotelClientErrorTests {
    private func connectError(answer: TransportResponse) async -> (ExotelClientError?, ScriptedTransport) {
        let transport = ScriptedTransport(clock: ScaledClock(rate: 100), script: [.success(answer)])
        let client = Fixture.client(transport: transport)
        let error = await Fixture.error { () async throws(ExotelClientError) in
            try await client.connect(Fixture.request())
        }
        return (error, transport)
    }

    @Test func jsonRestExceptionCarriesTheMessage() async {
        let (error, transport) = await connectError(
            answer: Answers.restException(status: 400, message: "The 'From' parameter is required.")
        )
        guard case .rejected(let status, let message, _) = error else {
            Issue.record("expected .rejected, got \(String(describing: error))")
            return
        }
        #expect(status == 400)
        #expect(message == "The 'From' parameter is required.")
        #expect(error?.httpStatus == 400)
        #expect(error?.description.contains("The 'From' parameter is required.") == true)
        #expect(transport.requests.count == 1, "a 400 is final")
    }

    @Test func xmlRestExceptionCarriesTheMessage() async {
        let (error, _) = await connectError(
            answer: Answers.xmlRestException(status: 400, message: "The 'To' parameter is required.")
        )
        #expect(error?.code == "rejected")
        #expect(error?.platformMessage == "The 'To' parameter is required.")
    }

    @Test func restExceptionInsideA200IsAnError() async {
        let (error, _) = await connectError(
            answer: Answers.restException(status: 403, message: "Feature not enabled", httpStatus: 200)
        )
        guard case .unauthorized(let status, let message) = error else {
            Issue.record("expected .unauthorized, got \(String(describing: error))")
            return
        }
        #expect(status == 403)
        #expect(message == "Feature not enabled")
    }

    @Test func unauthorizedWithoutBody() async {
        let (error, transport) = await connectError(answer: Answers.status(401))
        #expect(error == .unauthorized(status: 401, message: nil))
        #expect(transport.requests.count == 1)
    }

    @Test func unknownCallIsNotFound() async {
        let transport = ScriptedTransport(
            clock: ScaledClock(rate: 100),
            script: [.success(Answers.restException(status: 404, message: "Call not found"))]
        )
        let client = Fixture.client(transport: transport)
        let error = await Fixture.error { () async throws(ExotelClientError) in
            try await client.callDetails(sid: "abc123")
        }
        #expect(error == .notFound(message: "Call not found"))
        #expect(transport.requests.count == 1, "a 404 is final")
    }

    @Test func garbageIsMalformed() async {
        let (error, _) = await connectError(answer: Answers.status(200, body: "<html>gateway</html>"))
        #expect(error?.code == "malformed-response")
        #expect(error?.httpStatus == 200)
    }

    @Test func errorCodesAreStable() {
        let errors: [ExotelClientError] = [
            .invalidRequest(ConnectRequestError(parameter: "From", message: "m")),
            .invalidIdentifier(name: "n", value: "v", reason: "r"), .invalidURL("u", reason: "r"),
            .recordingHostNotAllowed(host: "h"), .unauthorized(status: 401, message: nil), .notFound(message: nil),
            .rejected(status: 400, message: nil, code: nil), .rateLimited(message: nil, attempts: 1),
            .server(status: 500, message: nil, attempts: 1),
            .transport(.connectionFailed("refused"), attempts: 1), .malformedResponse(status: 200, reason: "r"),
            .cancelled,
        ]
        #expect(Set(errors.map(\.code)).count == errors.count)
    }
}
