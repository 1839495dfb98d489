public import AsyncHTTPClient
import ExotelKit
import NIOCore
import NIOHTTP1

/// Posts a status callback body. A seam, so tests can capture deliveries without a network.
public protocol CallbackPosting: Sendable {
    /// Returns the receiver's HTTP status code; throws on transport failure.
    func post(url: String, contentType: String, body: [UInt8]) async throws -> Int
}

/// `CallbackPosting` over AsyncHTTPClient, with the new portal's 15 s answer deadline.
public struct HTTPCallbackPoster: CallbackPosting {
    let httpClient: HTTPClient

    public init(httpClient: HTTPClient) {
        self.httpClient = httpClient
    }

    public func post(url: String, contentType: String, body: [UInt8]) async throws -> Int {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        request.headers.add(name: "User-Agent", value: "exorec-simulator")
        request.body = .bytes(body)
        let response = try await self.httpClient.execute(request, timeout: .seconds(15))
        // Drain so the connection can be reused.
        _ = try? await response.body.collect(upTo: 64 * 1024)
        return Int(response.status.code)
    }
}

/// One attempt to deliver a status callback, as the simulator logged it.
public struct CallbackDeliveryAttempt: Sendable, Hashable {
    public let callSid: String
    public let url: String
    /// terminal, answered, ringing; nil for the legacy minimal callback.
    public let eventType: String?
    public let contentType: String
    /// 1 for the first attempt, 2–3 for retries.
    public let attempt: Int
    /// The receiver's status code; nil when the request failed in transport or the callback was dropped.
    public let statusCode: Int?
    /// True when a `drop` fault swallowed the callback (nothing was sent).
    public let dropped: Bool
}

/// Delivers one status callback with the configured faults: waits `delay`, then sends (twice with
/// `duplicate`), retrying a non-2xx or a transport failure up to `retriesAfterFailure` times; with
/// `drop` nothing is sent.
struct CallbackDispatcher: Sendable {
    let poster: any CallbackPosting
    let clock: ScaledClock
    let faults: CallbackFaults
    let contentType: CallbackContentType

    func deliver(
        _ callback: StatusCallback,
        to url: String,
        log: @Sendable (CallbackDeliveryAttempt) async -> Void
    ) async {
        let encoded = callback.encoded(as: self.contentType)
        if self.faults.delay > .zero {
            try? await self.clock.sleep(for: self.faults.delay)
        }
        if self.faults.drop {
            await log(
                CallbackDeliveryAttempt(
                    callSid: callback.callSid,
                    url: url,
                    eventType: callback.eventType,
                    contentType: encoded.contentType,
                    attempt: 0,
                    statusCode: nil,
                    dropped: true
                )
            )
            return
        }
        for _ in 0..<(self.faults.duplicate ? 2 : 1) {
            var attempt = 1
            while !Task.isCancelled {
                let status = try? await self.poster.post(url: url, contentType: encoded.contentType, body: encoded.body)
                await log(
                    CallbackDeliveryAttempt(
                        callSid: callback.callSid,
                        url: url,
                        eventType: callback.eventType,
                        contentType: encoded.contentType,
                        attempt: attempt,
                        statusCode: status,
                        dropped: false
                    )
                )
                if let status, (200..<300).contains(status) { break }
                if attempt > self.faults.retriesAfterFailure { break }
                attempt += 1
                try? await self.clock.sleep(for: self.faults.retryInterval)
            }
        }
    }
}
