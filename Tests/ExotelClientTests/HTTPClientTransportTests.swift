import AsyncHTTPClient
import ExotelKit
import Testing

@testable import ExotelClient

/// The real transport must tell "nothing was sent" apart from "may have been sent": that decides whether a
/// `Calls/connect` is retried.
@Suite struct HTTPClientTransportTests {
    /// Nothing listens on port 1 of the loopback interface, so connecting is refused at once.
    private static let closedPort = "http://127.0.0.1:1/v1/Accounts/exorec1/Calls/connect.json"

    @Test func refusedConnectionIsNotSent() async throws {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        let httpClient = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let transport = HTTPClientTransport(httpClient: httpClient)

        let result = await Result(catching: { () async throws(TransportError) in
            try await transport.send(
                TransportRequest(method: .post, url: Self.closedPort, body: [0x41], timeout: .seconds(5))
            )
        })
        try await httpClient.shutdown()

        guard case .failure(let error) = result else {
            Issue.record("expected a refused connection, got \(result)")
            return
        }
        #expect(!error.requestMayHaveBeenSent, "\(error)")
    }

    /// The shared client retries connecting until the deadline, then reports the last connection failure.
    @Test func refusedConnectionOnTheSharedClientIsNotSent() async throws {
        let transport = HTTPClientTransport()
        let result = await Result(catching: { () async throws(TransportError) in
            try await transport.send(TransportRequest(method: .post, url: Self.closedPort, timeout: .milliseconds(300)))
        })
        guard case .failure(let error) = result else {
            Issue.record("expected a refused connection, got \(result)")
            return
        }
        #expect(!error.requestMayHaveBeenSent, "\(error)")
    }

    @Test func failuresAfterSendingMayHavePlacedACall() {
        for error in [HTTPClientError.readTimeout, .remoteConnectionClosed, .deadlineExceeded, .cancelled] {
            #expect(HTTPClientTransport.classify(error).requestMayHaveBeenSent, "\(error)")
        }
        for error in [HTTPClientError.connectTimeout, .getConnectionFromPoolTimeout] {
            #expect(!HTTPClientTransport.classify(error).requestMayHaveBeenSent, "\(error)")
        }
    }
}

extension Result where Failure == TransportError {
    init(catching body: () async throws(TransportError) -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
