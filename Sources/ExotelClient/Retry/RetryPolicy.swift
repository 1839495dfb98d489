import Foundation

/// How often and how long ``ExotelClient`` tries again after a 429, a 5xx or a connection failure.
///
/// Which failures are retried depends on the request (see ``ExotelClient``); this only bounds the effort.
/// Durations are measured on the client's ``ExotelKit/ScaledClock``, so a fast test clock shortens them too.
public struct RetryPolicy: Sendable {
    /// Attempts in total, the first included; 1 disables retries.
    public var maximumAttempts: Int
    /// The cap of the first backoff; each later one doubles, up to ``maximumBackoff``.
    public var initialBackoff: Duration
    public var maximumBackoff: Duration
    /// No retry is scheduled to start later than this after the first attempt was sent (time queued at the
    /// rate limiter comes on top); a `Retry-After` beyond it ends the call with
    /// ``ExotelClientError/rateLimited(message:attempts:)`` at once.
    public var maximumTotalTime: Duration
    /// A number in `0..<1`; the backoff is this fraction of its cap ("full jitter"), so clients that failed
    /// together do not retry together.
    public var random: @Sendable () -> Double
    /// The wall clock, for `Retry-After` given as an HTTP date.
    public var wallClock: @Sendable () -> Date

    public init(
        maximumAttempts: Int = 5,
        initialBackoff: Duration = .milliseconds(500),
        maximumBackoff: Duration = .seconds(30),
        maximumTotalTime: Duration = .seconds(120),
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        wallClock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.maximumAttempts = max(1, maximumAttempts)
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
        self.maximumTotalTime = maximumTotalTime
        self.random = random
        self.wallClock = wallClock
    }

    /// No retries at all.
    public static var none: RetryPolicy { RetryPolicy(maximumAttempts: 1) }

    /// The full-jitter delay after failed attempt number `attempt` (1-based).
    public func backoff(afterAttempt attempt: Int) -> Duration {
        var cap = self.initialBackoff
        for _ in 1..<max(1, attempt) {
            cap = cap * 2
            if cap >= self.maximumBackoff { break }
        }
        cap = min(cap, self.maximumBackoff)
        let fraction = min(max(self.random(), 0), 1)
        return cap * fraction
    }
}
