import ExotelKit
import Logging

extension ExotelClient {
    /// Sends `request` through the rate limiter with the retry rules of ``ExotelClient``. Returns the final
    /// response (which may still be an error status for the caller to map) and the number of attempts made.
    func send(
        _ request: TransportRequest,
        idempotent: Bool,
        logger: Logger,
        rateLimited: Bool = true
    ) async throws(ExotelClientError) -> (TransportResponse, attempts: Int) {
        let policy = self.configuration.retry
        // Measured from the first send, not from the first wait: a long queue at the rate limiter is not a
        // reason to give up on a retry.
        var start: ScaledClock.Instant?
        var attempt = 0
        while true {
            attempt += 1
            var logger = logger
            logger[metadataKey: "exotel.attempt"] = "\(attempt)"
            if rateLimited {
                do {
                    try await self.rateLimiter.acquire()
                } catch {
                    throw .cancelled
                }
            }
            if start == nil { start = self.clock.now }
            logger.debug("sending", metadata: ["http.method": "\(request.method.rawValue)"])

            let delay: Duration
            let giveUp: ExotelClientError
            do throws(TransportError) {
                let response = try await self.transport.send(request)
                logger.debug("answered", metadata: ["http.status": "\(response.status)"])
                if Self.isRateLimited(response) {
                    let exception = RestException.decode(response.body)
                    giveUp = .rateLimited(message: exception?.message, attempts: attempt)
                    delay =
                        RetryAfter.delay(response.header("Retry-After"), now: policy.wallClock())
                        ?? policy.backoff(afterAttempt: attempt)
                } else if response.status >= 500 && idempotent {
                    let exception = RestException.decode(response.body)
                    giveUp = .server(status: response.status, message: exception?.message, attempts: attempt)
                    delay = policy.backoff(afterAttempt: attempt)
                } else {
                    return (response, attempt)
                }
            } catch {
                guard idempotent || !error.requestMayHaveBeenSent else {
                    logger.warning(
                        "no response to a request that may have placed a call; not retrying",
                        metadata: ["exotel.error": "\(LogText.escaped("\(error)", limit: 1024))"]
                    )
                    throw .transport(error, attempts: attempt)
                }
                giveUp = .transport(error, attempts: attempt)
                delay = policy.backoff(afterAttempt: attempt)
            }

            let elapsed = (start ?? self.clock.now).duration(to: self.clock.now)
            guard attempt < policy.maximumAttempts, elapsed + delay <= policy.maximumTotalTime else {
                logger.debug("giving up", metadata: ["exotel.error": "\(LogText.escaped("\(giveUp)", limit: 1024))"])
                throw giveUp
            }
            // One line per retry, at info: the server, why, and when the next attempt goes.
            logger.info(
                "retrying",
                metadata: [
                    "exotel.server": "\(HTTPClientTransport.origin(of: request.url) ?? "?")",
                    "exotel.error": "\(giveUp.code)",
                    "exotel.retry-in": "\(delay)",
                ]
            )
            do {
                try await self.clock.sleep(for: delay)
            } catch {
                throw .cancelled
            }
        }
    }

    /// 429 by status, or a `RestException` whose `Status` is 429 inside a 2xx.
    static func isRateLimited(_ response: TransportResponse) -> Bool {
        if response.status == 429 { return true }
        guard (200..<300).contains(response.status) else { return false }
        return RestException.decode(response.body)?.status == 429
    }
}
