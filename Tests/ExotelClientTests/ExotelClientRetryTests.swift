import ExotelKit
import Foundation
import Testing

@testable import ExotelClient

/// Which failures are retried, and how long the client waits, on a clock running 1000× real time.
@Suite struct ExotelClientRetryTests {
    private static let refused = TransportError.connectionFailed("connection refused")
    private static let timedOut = TransportError.exchangeFailed("read timeout")

    private static func gaps(_ transport: ScriptedTransport) -> [Duration] {
        let sent = transport.sent
        return zip(sent, sent.dropFirst()).map { $0.at.duration(to: $1.at) }
    }

    @Test func rateLimitedWithRetryAfterSecondsThenSuccess() async throws {
        let transport = ScriptedTransport(
            clock: ScaledClock(rate: 100),
            script: [
                .success(
                    Answers.restException(status: 429, message: "Too many requests", headers: [("Retry-After", "7")])
                ),
                .success(Answers.call()),
            ]
        )
        let client = Fixture.client(transport: transport)

        let call = try await client.connect(Fixture.request())

        #expect(call.sid == "c5797dcbaaeed7678c4062a4a3ed2f8a")
        #expect(transport.requests.count == 2, "a 429 placed no call, so even POST connect is retried")
        #expect(Self.gaps(transport)[0] >= .seconds(7))
    }

    @Test func rateLimitedWithRetryAfterDate() async throws {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let header = RetryAfterFormat.imfFixdate(now.addingTimeInterval(12))
        let transport = ScriptedTransport(
            clock: ScaledClock(rate: 100),
            script: [.success(Answers.status(429).with(header: ("Retry-After", header))), .success(Answers.call())]
        )
        let client = Fixture.client(
            transport: transport,
            retry: RetryPolicy(maximumTotalTime: Fixture.unboundedTime, random: { 0 }, wallClock: { now })
        )

        _ = try await client.connect(Fixture.request())

        #expect(transport.requests.count == 2)
        #expect(Self.gaps(transport)[0] >= .seconds(12))
    }

    @Test func rateLimitedWithoutRetryAfterBacksOffWithJitter() async throws {
        let transport = ScriptedTransport(
            clock: ScaledClock(rate: 100),
            script: [.success(Answers.status(429)), .success(Answers.status(429)), .success(Answers.call())]
        )
        // Cap 4 s then 8 s; the jitter source picks half of each.
        let policy = RetryPolicy(initialBackoff: .seconds(4), maximumTotalTime: Fixture.unboundedTime, random: { 0.5 })
        let client = Fixture.client(transport: transport, retry: policy)

        _ = try await client.connect(Fixture.request())

        let gaps = Self.gaps(transport)
        #expect(gaps.count == 2)
        #expect(gaps[0] >= .seconds(2))
        #expect(gaps[1] >= .seconds(4))
    }

    @Test func rateLimitedRestExceptionInsideA200IsRetried() async throws {
        let transport = ScriptedTransport(
            clock: ScaledClock(rate: 100),
            script: [
                .success(Answers.restException(status: 429, message: "Too many", httpStatus: 200)),
                .success(Answers.call()),
            ]
        )
        let client = Fixture.client(transport: transport)

        _ = try await client.connect(Fixture.request())

        #expect(transport.requests.count == 2)
    }

    @Test func rateLimitedGivesUpAfterMaximumAttempts() async {
        let transport = ScriptedTransport(
            clock: ScaledClock(rate: 100),
            fallback: { _ in .success(Answers.restException(status: 429, message: "Slow down")) }
        )
        let client = Fixture.client(
            transport: transport,
            retry: RetryPolicy(maximumAttempts: 3, maximumTotalTime: Fixture.unboundedTime, random: { 0 })
        )

        let error = await Fixture.error { () async throws(ExotelClientError) in
            try await client.connect(Fixture.request())
        }

        #expect(error == .rateLimited(message: "Slow down", attempts: 3))
        #expect(transport.requests.count == 3)
    }

    @Test func retryAfterBeyondTheTotalTimeEndsAtOnce() async {
        let transport = ScriptedTransport(
            clock: ScaledClock(rate: 100),
            fallback: { _ in .success(Answers.status(429).with(header: ("Retry-After", "3600"))) }
        )
        let client = Fixture.client(transport: transport, retry: RetryPolicy(maximumTotalTime: .seconds(60)))

        let error = await Fixture.error { () async throws(ExotelClientError) in
            try await client.connect(Fixture.request())
        }

        #expect(error?.code == "rate-limited")
        #expect(transport.requests.count == 1)
    }

    @Test func serverErrorIsRetriedForCallDetails() async throws {
        let transport = ScriptedTransport(
            clock: ScaledClock(rate: 100),
            script: [
                .success(Answers.status(502)), .failure(Self.timedOut), .success(Answers.call(status: "completed")),
            ]
        )
        let client = Fixture.client(transport: transport)

        let call = try await client.callDetails(sid: "c5797dcbaaeed7678c4062a4a3ed2f8a")

        #expect(call.status == "completed")
        #expect(transport.requests.count == 3)
        #expect(Set(transport.requests.map(\.url)).count == 1)
    }

    @Test func serverErrorIsNotRetriedForConnect() async {
        let transport = ScriptedTransport(
            clock: ScaledClock(rate: 100),
            script: [
                .success(Answers.restException(status: 503, message: "Service unavailable")), .success(Answers.call()),
            ]
        )
        let client = Fixture.client(transport: transport)

        let error = await Fixture.error { () async throws(ExotelClientError) in
            try await client.connect(Fixture.request())
        }

        #expect(error == .server(status: 503, message: "Service unavailable", attempts: 1))
        #expect(transport.requests.count == 1, "the call may exist: a retry could ring both parties twice")
    }

    @Test func timeoutIsNotRetriedForConnect() async {
        let transport = ScriptedTransport(
            clock: ScaledClock(rate: 100),
            script: [.failure(Self.timedOut), .success(Answers.call())]
        )
        let client = Fixture.client(transport: transport)

        let error = await Fixture.error { () async throws(ExotelClientError) in
            try await client.connect(Fixture.request())
        }

        #expect(error == .transport(Self.timedOut, attempts: 1))
        #expect(transport.requests.count == 1)
    }

    @Test func connectionRefusedIsRetriedForConnect() async throws {
        let transport = ScriptedTransport(
            clock: ScaledClock(rate: 100),
            script: [.failure(Self.refused), .failure(Self.refused), .success(Answers.call())]
        )
        let client = Fixture.client(transport: transport)

        let call = try await client.connect(Fixture.request())

        #expect(call.status == "in-progress")
        #expect(transport.requests.count == 3)
        #expect(Set(transport.requests.compactMap(\.body)).count == 1, "every attempt sends the same form")
    }

    @Test func connectionRefusedGivesUpAfterMaximumAttempts() async {
        let transport = ScriptedTransport(clock: ScaledClock(rate: 100), fallback: { _ in .failure(Self.refused) })
        let client = Fixture.client(
            transport: transport,
            retry: RetryPolicy(maximumAttempts: 4, maximumTotalTime: Fixture.unboundedTime, random: { 0 })
        )

        let error = await Fixture.error { () async throws(ExotelClientError) in
            try await client.connect(Fixture.request())
        }

        #expect(error == .transport(Self.refused, attempts: 4))
        #expect(transport.requests.count == 4)
    }

    /// Grants are 15 s apart (window plus margin) and the test asks for 10 s between arrivals: the margin
    /// (100 ms of real time) absorbs a send that leaves later after its grant than the next one does.
    @Test func everyAttemptWaitsForTheRateLimiter() async throws {
        let clock = ScaledClock(rate: 50)
        let transport = ScriptedTransport(
            clock: clock,
            script: [.failure(Self.refused), .failure(Self.refused), .success(Answers.call())]
        )
        let limiter = RequestRateLimiter(limit: 1, window: .seconds(10), safetyMargin: .seconds(5), clock: clock)
        let client = ExotelClient(
            endpoint: .singapore,
            credentials: Fixture.credentials,
            configuration: ExotelClientConfiguration(
                retry: RetryPolicy(maximumTotalTime: Fixture.unboundedTime, random: { 0 })
            ),
            clock: clock,
            rateLimiter: limiter,
            transport: transport
        )

        _ = try await client.connect(Fixture.request())

        #expect(Self.gaps(transport).allSatisfy { $0 >= .seconds(10) })
    }

    @Test func backoffDoublesUpToItsCap() {
        let policy = RetryPolicy(initialBackoff: .seconds(1), maximumBackoff: .seconds(5), random: { 0.999_999 })
        let caps = (1...5).map { policy.backoff(afterAttempt: $0) }
        #expect(caps[0] < .seconds(1) && caps[0] > .milliseconds(999))
        #expect(caps[1] > .milliseconds(1999) && caps[1] < .seconds(2))
        #expect(caps[3] < .seconds(5) && caps[4] < .seconds(5) && caps[4] > .milliseconds(4999))
        #expect(RetryPolicy(random: { 0 }).backoff(afterAttempt: 3) == .zero)
    }
}

extension TransportResponse {
    func with(header: (String, String)) -> TransportResponse {
        var copy = self
        copy.headers.append((name: header.0, value: header.1))
        return copy
    }
}

enum RetryAfterFormat {
    static func imfFixdate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }
}
