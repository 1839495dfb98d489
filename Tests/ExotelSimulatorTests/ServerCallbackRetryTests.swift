import ExotelKit
import Foundation
import HTTPTypes
import Testing

@testable import ExotelSimulator

/// `--callback-retries N` over the wire (the simulator's real HTTP client against a receiver that answers 500):
/// exactly 1 + N deliveries of each callback, so 0 means no redelivery at all (issue 12).
struct ServerCallbackRetryTests {
    @Test(arguments: [(0, false), (0, true), (2, false), (2, true)])
    func aFailedCallbackIsDeliveredOncePlusTheRetries(retries: Int, closeConnection: Bool) async throws {
        try await withCallbackReceiver(status: .internalServerError, closeConnection: closeConnection) { url, inbox in
            try await withTestSimulator(configure: {
                $0.callbackFaults = CallbackFaults(retriesAfterFailure: retries, retryInterval: .seconds(1))
            }) { running, _ in
                let form = twoNumberForm([
                    "StatusCallback": url, "StatusCallbackEvents[0]": "terminal", "StatusCallbackEvents[1]": "answered",
                ])
                let response = try await WireClient(running).connect(form)
                #expect(response.status == 200, "\(response.text)")
                let sid = try PlatformCall.decode(response.body).sid
                await running.platform.waitUntilIdle()
                let attempts = await running.platform.callbackAttempts().filter { $0.callSid == sid }
                // One terminal event and one answered event per leg (both legs answer): each sent 1 + retries times.
                let terminal = attempts.filter { $0.eventType == "terminal" }
                #expect(terminal.map(\.attempt) == Array(1...(1 + retries)), "\(attempts)")
                #expect(attempts.filter { $0.eventType == "answered" }.count == 2 * (1 + retries), "\(attempts)")
                let received = inbox.callbacks(for: sid)
                #expect(
                    received.filter { $0.eventType == "terminal" }.count == 1 + retries,
                    "the receiver got \(received.count) deliveries"
                )
                #expect(
                    received.filter { $0.eventType == "answered" }.count == 2 * (1 + retries),
                    "the receiver got \(received.count) deliveries"
                )
                #expect(received.count == 3 * (1 + retries))
            }
        }
    }
}
