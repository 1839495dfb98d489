import ExotelKit
@testable import ExotelSimulator
import Foundation
import HTTPTypes
import Testing

/// `--callback-retries N` over the wire (the simulator's real HTTP client against a receiver that answers 500):
/// exactly 1 + N deliveries of each callback, so 0 means no redelivery at all (issue 12).
struct ServerCallbackRetryTests {
    @Test(arguments: [(0, false), (0, true), (2, false), (2, true)])
    func aFailedCallbackIsDeliveredOncePlusTheRetries(retries: Int, closeConnection: Bool) async throws {
        try await withCallbackReceiver(status: .internalServerError, closeConnection: closeConnection) { url, inbox in
            try await withTestSimulator(configure: {
                $0.callbackFaults = CallbackFaults(retriesAfterFailure: retries, retryInterval: .seconds(1))
            }) { running, _ in
                let form = twoNumberForm(["StatusCallback": url, "StatusCallbackEvents[0]": "terminal"])
                let response = try await WireClient(running).connect(form)
                #expect(response.status == 200, "\(response.text)")
                let sid = try PlatformCall.decode(response.body).sid
                await running.platform.waitUntilIdle()
                let attempts = await running.platform.callbackAttempts().filter { $0.callSid == sid }
                #expect(attempts.map(\.attempt) == Array(1...(1 + retries)), "\(attempts)")
                #expect(inbox.callbacks(for: sid).count == 1 + retries, "the receiver got \(inbox.callbacks(for: sid).count) deliveries")
            }
        }
    }
}
