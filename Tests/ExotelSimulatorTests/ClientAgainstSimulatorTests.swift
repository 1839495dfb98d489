import ExotelClient
import ExotelKit
import ExotelSimulator
import Foundation
import Testing

/// The client and the simulator together: the client's limiter and the simulator's 200/minute
/// window share one fast clock, so minutes of platform time pass in seconds.
@Suite struct ClientAgainstSimulatorTests {
    private func client(
        for running: RunningSimulator,
        clock: ScaledClock,
        margin: Duration = .seconds(20),
        account: SimulatedAccount = TestAccounts.primary
    ) throws -> ExotelClient {
        ExotelClient(
            endpoint: try ExotelEndpoint(baseURL: running.baseURL),
            credentials: ExotelCredentials(accountSid: account.sid, apiKey: account.apiKey, apiToken: account.apiToken),
            // No retries: a 429 must surface as an error instead of being absorbed.
            configuration: ExotelClientConfiguration(retry: .none),
            clock: clock,
            rateLimiter: RequestRateLimiter(limit: 200, window: .seconds(60), safetyMargin: margin, clock: clock)
        )
    }

    private func request(_ index: Int) -> ConnectCallRequest {
        var request = ConnectCallRequest(
            from: "+9198765\(String(format: "%05d", index))",
            callerId: "08047112345",
            destination: .number("+919123456789")
        )
        request.customField = "call-\(index)"
        return request
    }

    @Test func fiveHundredCallsThroughOneClientNeverMeetTheRateLimit() async throws {
        // 20x: the limiter's margin (20 s of platform time) is then a whole real second between a grant
        // and the request reaching the server: enough while the rest of the test suite loads both cores.
        // The run takes about 8 s of real time for 160 s of platform time.
        try await withTestSimulator(rate: 20) { running, clock in
            let client = try self.client(for: running, clock: clock)
            let started = clock.now
            let sids = try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<500 {
                    group.addTask { try await client.connect(self.request(index)).sid }
                }
                var sids: [String] = []
                for try await sid in group { sids.append(sid) }
                return sids
            }
            #expect(Set(sids).count == 500, "every call placed once")
            // 500 requests at 200 per minute need at least two full windows of platform time.
            #expect(started.duration(to: clock.now) >= .seconds(120))
        }
    }

    @Test func withoutTheLimiterTheSimulatorAnswers429() async throws {
        // Real time, so that 210 quick requests certainly fall into one platform minute.
        try await withTestSimulator(rate: 1) { running, clock in
            let unlimited = ExotelClient(
                endpoint: try ExotelEndpoint(baseURL: running.baseURL),
                credentials: ExotelCredentials(
                    accountSid: TestAccounts.primary.sid,
                    apiKey: TestAccounts.primary.apiKey,
                    apiToken: TestAccounts.primary.apiToken
                ),
                configuration: ExotelClientConfiguration(retry: .none),
                clock: clock,
                rateLimiter: RequestRateLimiter(limit: 1000, window: .seconds(60), safetyMargin: .zero, clock: clock)
            )
            let limited = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<210 {
                    group.addTask {
                        do throws(ExotelClientError) {
                            _ = try await unlimited.connect(self.request(index))
                            return false
                        } catch {
                            if case .rateLimited = error { return true }
                            throw error
                        }
                    }
                }
                var limited = 0
                for try await wasLimited in group where wasLimited { limited += 1 }
                return limited
            }
            #expect(limited == 10, "the simulator lets 200 requests a minute through per account, no more")
        }
    }

    @Test func placedCallIsReadBackThroughCallDetails() async throws {
        try await withTestSimulator(rate: 120) { running, clock in
            let client = try self.client(for: running, clock: clock)
            let placed = try await client.connect(self.request(1))
            #expect(placed.status == "in-progress" || placed.status == "queued")
            await running.platform.waitUntilIdle()
            let details = try await client.callDetails(sid: placed.sid)
            #expect(details.sid == placed.sid)
            #expect(details.status == "completed")
            #expect(details.details?.leg1Status == "completed")
            #expect(details.details?.leg2Status == "completed")
        }
    }
}
