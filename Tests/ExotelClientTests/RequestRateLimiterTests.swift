import ExotelKit
import Synchronization
import Testing

@testable import ExotelClient

/// The limiter against a strict sliding window: no 60 s window may hold more than 200 requests.
///
/// Serialized: these tests measure spacing on fast clocks, and running them side by side would let one
/// test's CPU use show up as another's delay.
@Suite(.serialized) struct RequestRateLimiterTests {
    /// The largest number of instants inside any half-open window `[t, t + window)`, instants sorted.
    static func busiestWindow(_ instants: [ScaledClock.Instant], window: Duration) -> Int {
        var busiest = 0
        var start = 0
        for end in instants.indices {
            while instants[start].duration(to: instants[end]) >= window { start += 1 }
            busiest = max(busiest, end - start + 1)
        }
        return busiest
    }

    @Test func fiveHundredAcquisitionsNeverExceedTheLimit() async throws {
        let clock = ScaledClock(rate: 100)
        let limiter = RequestRateLimiter(clock: clock)
        let granted = await withTaskGroup(of: ScaledClock.Instant.self) { group in
            for _ in 0..<500 {
                group.addTask { (try? await limiter.acquire()) ?? clock.now }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }.sorted()

        #expect(granted.count == 500)
        // At most the limit in any 60 s (how close to it a loaded machine gets is not this test's business).
        #expect(Self.busiestWindow(granted, window: .seconds(60)) <= 200)
        // Two full windows (plus margins) must pass before the last 100 grants. No upper bound: on a fast
        // clock every real millisecond of scheduling delay on a busy machine is 0.1 s of scaled time.
        let span = granted[0].duration(to: granted[499])
        #expect(span >= .seconds(122))
    }

    @Test func clientCallsMeetAStrictServerWindowWithout429() async throws {
        // A server that counts arrivals in any rolling 60 s and answers 429 above 200, like the platform.
        // The server counts arrivals, the limiter spaces grants: the margin (20 s, one real second at this
        // rate) is what absorbs a request that leaves late after its grant, as the real 1 s margin does
        // for real network delays. A smaller real margin would test the machine's load, not the limiter.
        let clock = ScaledClock(rate: 20)
        let arrivals = Mutex<[ScaledClock.Instant]>([])
        let transport = ScriptedTransport(clock: clock) { _ in
            let now = clock.now
            let inWindow = arrivals.withLock { arrivals -> Int in
                arrivals.append(now)
                return arrivals.count { now.duration(to: $0) > .seconds(-60) }
            }
            return .success(inWindow > 200 ? Answers.status(429) : Answers.call())
        }
        let limiter = RequestRateLimiter(safetyMargin: .seconds(20), clock: clock)
        let client = ExotelClient(
            endpoint: .singapore,
            credentials: Fixture.credentials,
            configuration: ExotelClientConfiguration(retry: .none),
            clock: clock,
            rateLimiter: limiter,
            transport: transport
        )

        let failures = await withTaskGroup(of: ExotelClientError?.self) { group in
            for _ in 0..<500 {
                group.addTask {
                    await Fixture.error { () async throws(ExotelClientError) in
                        try await client.connect(Fixture.request())
                    }
                }
            }
            return await group.reduce(into: [ExotelClientError]()) { if let error = $1 { $0.append(error) } }
        }

        #expect(failures.isEmpty, "\(failures.prefix(3))")
        #expect(transport.requests.count == 500)
        let sent = transport.sent.map(\.at).sorted()
        #expect(Self.busiestWindow(sent, window: .seconds(60)) <= 200)
        #expect(sent[0].duration(to: sent[499]) >= .seconds(120))
    }

    @Test func clientsOfOneAccountShareTheLimiter() async throws {
        let clock = ScaledClock(rate: 100)
        let account = "shared\(UInt32.random(in: 0...UInt32.max))"
        let credentials = ExotelCredentials(accountSid: account, apiKey: "k", apiToken: "t")
        let transport = ScriptedTransport(clock: clock) { _ in .success(Answers.call()) }
        let first = ExotelClient(endpoint: .singapore, credentials: credentials, clock: clock, transport: transport)
        let second = ExotelClient(endpoint: .singapore, credentials: credentials, clock: clock, transport: transport)
        let otherRegion = ExotelClient(endpoint: .mumbai, credentials: credentials, clock: clock, transport: transport)

        #expect(first.rateLimiter === second.rateLimiter)
        #expect(first.rateLimiter !== otherRegion.rateLimiter)

        await withTaskGroup(of: Void.self) { group in
            for client in [first, second] {
                for _ in 0..<150 {
                    group.addTask { _ = try? await client.connect(Fixture.request()) }
                }
            }
        }
        // Sharing is shown by the span: 300 requests through one limiter need a second window. (The limit
        // itself is the two tests above: arrivals here, on a 100× clock, would measure the machine's load.)
        let sent = transport.sent.map(\.at).sorted()
        #expect(sent.count == 300)
        #expect(sent[0].duration(to: sent[299]) >= .seconds(60), "300 requests of one account need two windows")
    }

    @Test func waitersAreServedInArrivalOrder() async throws {
        let clock = ScaledClock(rate: 100)
        let limiter = RequestRateLimiter(limit: 2, window: .seconds(5), safetyMargin: .zero, clock: clock)
        var grants: [ScaledClock.Instant] = []
        for _ in 0..<6 { grants.append(try await limiter.acquire()) }
        #expect(grants == grants.sorted())
        #expect(grants[0].duration(to: grants[2]) >= .seconds(5))
        #expect(grants[2].duration(to: grants[4]) >= .seconds(5))
        #expect(await limiter.grantsInWindow() <= 2)
    }

    @Test func cancelledWaiterThrows() async {
        let clock = ScaledClock(rate: 1)
        let limiter = RequestRateLimiter(limit: 1, window: .seconds(3600), clock: clock)
        _ = try? await limiter.acquire()
        let waiter = Task { () async throws(CancellationError) in try await limiter.acquire() }
        waiter.cancel()
        let result = await waiter.result
        #expect(throws: CancellationError.self) { try result.get() }
    }
}
