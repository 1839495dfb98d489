import ExotelKit
import Synchronization

/// The platform's limit of 200 API requests a minute per account, as a sliding window on the simulator's clock.
///
/// A sliding window rather than fixed minute buckets: a bucketed limiter lets 400 requests through around a
/// bucket edge, which would hide a client that bursts; with a window the client's limiter must really keep
/// any 60 s of platform time under the limit. The clock is the one the calls run on, so a test at 100× speed
/// meets the limit in 0.6 real seconds.
final class AccountRateLimiter: Sendable {
    enum Verdict: Sendable, Equatable {
        case admitted
        /// Over the limit; the oldest request in the window leaves it after `retryAfter` (platform time).
        case limited(retryAfter: Duration)
    }

    let limit: Int
    let window: Duration
    private let clock: ScaledClock
    /// Admitted request instants per account, oldest first.
    private let admitted = Mutex<[String: [ScaledClock.Instant]]>([:])

    init(limit: Int, window: Duration = .seconds(60), clock: ScaledClock) {
        precondition(limit > 0, "a rate limit admits at least one request")
        self.limit = limit
        self.window = window
        self.clock = clock
    }

    /// Counts the request against `account` when it fits in the window; a refused request does not count,
    /// as the platform does not charge a rejected call against the quota.
    func admit(account: String) -> Verdict {
        let now = self.clock.now
        let horizon = now.advanced(by: .zero - self.window)
        return self.admitted.withLock { table in
            var instants = table[account, default: []]
            let expired = instants.prefix { $0 <= horizon }.count
            instants.removeFirst(expired)
            defer { table[account] = instants }
            guard instants.count < self.limit else {
                return .limited(
                    retryAfter: now.duration(to: instants[instants.count - self.limit].advanced(by: self.window))
                )
            }
            instants.append(now)
            return .admitted
        }
    }
}

extension Duration {
    /// Whole seconds rounded up, at least 1: what a `Retry-After` header can say.
    var retryAfterSeconds: Int {
        let (seconds, attoseconds) = self.components
        return max(1, Int(seconds) + (attoseconds > 0 ? 1 : 0))
    }
}
