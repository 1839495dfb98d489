import ExotelKit

/// Keeps one account's requests under the platform's limit (200 per minute for every Voice API), for every
/// caller in the process that shares the instance.
///
/// The window slides: of any `limit + 1` consecutive grants, the last comes at least `window + safetyMargin`
/// after the first, so a server that counts arrivals in any rolling window never sees more than `limit`.
/// Grants are recorded at the instant they are handed out (not when they were planned), so a waiter that
/// wakes late cannot make a later one look early. The margin absorbs the time between a grant and the
/// request's arrival at the server.
///
/// Grants are also paced, at least `window / limit` apart (0.3 s for the platform's limit), instead of
/// handing out a whole window's budget at once: a burst of 200 grants queues in the HTTP client's
/// connection pool, and requests that leave the pool late land in the next window on the server's
/// clock, where the margin cannot absorb them. Paced, each request is long gone before the next grant.
///
/// Waiters are served in arrival order: each books a planned slot when it asks, which also spreads the
/// wake-ups instead of waking every waiter whenever a slot frees.
public actor RequestRateLimiter {
    /// Requests allowed per ``window``.
    public nonisolated let limit: Int
    public nonisolated let window: Duration
    /// Added to ``window`` between a grant and the grant `limit` places later.
    public nonisolated let safetyMargin: Duration
    /// The clock the window is measured on; share it with anything that must agree (the simulator).
    public nonisolated let clock: ScaledClock

    /// The last `limit` grant instants as a ring; `oldestIndex` is the oldest once it is full.
    private var granted: [ScaledClock.Instant] = []
    private var oldestGranted = 0
    /// Planned slots, booked the same way, so each waiter knows when to wake.
    private var planned: [ScaledClock.Instant] = []
    private var oldestPlanned = 0
    private var lastPlanned: ScaledClock.Instant?

    /// - Parameters:
    ///   - limit: requests per window; the platform's is 200 per 60 s.
    ///   - safetyMargin: extra spacing for request latency; on a ``ScaledClock`` faster than real time the
    ///     margin shrinks in real terms, so fast tests may want a larger one.
    public init(
        limit: Int = 200,
        window: Duration = .seconds(60),
        safetyMargin: Duration = .seconds(1),
        clock: ScaledClock = ScaledClock()
    ) {
        precondition(limit > 0, "a rate limiter needs a positive limit")
        self.limit = limit
        self.window = window
        self.safetyMargin = max(.zero, safetyMargin)
        self.clock = clock
        self.granted.reserveCapacity(limit)
        self.planned.reserveCapacity(limit)
    }

    /// Waits until one more request fits and returns the instant it was granted; the caller sends right away.
    ///
    /// A cancelled waiter gives up its turn, but its booked slot stays booked: the limiter may then be a
    /// little slower than necessary, never faster.
    @discardableResult
    public func acquire() async throws(CancellationError) -> ScaledClock.Instant {
        let spacing = self.window + self.safetyMargin
        var wakeAt = self.clock.now
        if let lastPlanned = self.lastPlanned {
            wakeAt = max(wakeAt, lastPlanned.advanced(by: self.window / self.limit))
        }
        Self.book(&wakeAt, in: &self.planned, oldest: &self.oldestPlanned, limit: self.limit, spacing: spacing)
        self.lastPlanned = wakeAt
        while true {
            do {
                try await self.clock.sleep(until: wakeAt, tolerance: nil)
            } catch {
                throw CancellationError()
            }
            // The actor was free while this task slept: check the recorded grants again.
            let now = self.clock.now
            if self.granted.count < self.limit {
                self.granted.append(now)
                return now
            }
            let earliest = self.granted[self.oldestGranted].advanced(by: spacing)
            if now >= earliest {
                self.granted[self.oldestGranted] = now
                self.oldestGranted = (self.oldestGranted + 1) % self.limit
                return now
            }
            wakeAt = earliest
        }
    }

    /// Grants recorded in the current window, for diagnostics.
    public func grantsInWindow() -> Int {
        let start = self.clock.now.advanced(by: .zero - self.window)
        return self.granted.count { $0 > start }
    }

    /// Moves `instant` to the first slot `spacing` after the booking `limit` places back, and books it.
    private static func book(
        _ instant: inout ScaledClock.Instant,
        in ring: inout [ScaledClock.Instant],
        oldest: inout Int,
        limit: Int,
        spacing: Duration
    ) {
        if ring.count < limit {
            if let last = ring.last, last > instant { instant = last }
            ring.append(instant)
            return
        }
        instant = max(instant, ring[oldest].advanced(by: spacing))
        ring[oldest] = instant
        oldest = (oldest + 1) % limit
    }
}
