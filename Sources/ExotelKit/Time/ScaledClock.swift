/// A clock that runs `rate` times faster than `ContinuousClock`, so a ten-minute call is tested in seconds.
///
/// Everything that must agree on time (the client's rate limiter, the simulator's call state machines and its
/// per-account request window) shares one instance: instants of different instances are not comparable, since
/// each is measured from its own origin.
public struct ScaledClock: Clock, Sendable {
    public typealias Duration = Swift.Duration

    /// A point in scaled time, kept as the scaled offset from the clock's origin.
    public struct Instant: InstantProtocol, Sendable {
        public typealias Duration = Swift.Duration

        /// Scaled time elapsed since the clock was created.
        public var offset: Swift.Duration

        public init(offset: Swift.Duration) {
            self.offset = offset
        }

        public func advanced(by duration: Swift.Duration) -> Instant {
            Instant(offset: offset + duration)
        }

        public func duration(to other: Instant) -> Swift.Duration {
            other.offset - offset
        }

        public static func < (lhs: Instant, rhs: Instant) -> Bool {
            lhs.offset < rhs.offset
        }
    }

    /// How many scaled seconds pass per real second; 1 is real time.
    public let rate: Double
    private let origin: ContinuousClock.Instant

    /// - Parameter rate: speed-up factor; values that are not finite and positive fall back to 1, since a
    ///   stopped or backwards clock would make every sleep last forever.
    public init(rate: Double = 1) {
        self.rate = rate.isFinite && rate > 0 ? rate : 1
        self.origin = ContinuousClock.now
    }

    public var now: Instant {
        Instant(offset: (ContinuousClock.now - origin) * rate)
    }

    public var minimumResolution: Swift.Duration {
        ContinuousClock().minimumResolution * rate
    }

    /// Sleeps until `deadline` in scaled time, i.e. for the remaining scaled duration divided by `rate` in real time.
    public func sleep(until deadline: Instant, tolerance: Swift.Duration? = nil) async throws {
        let remaining = now.duration(to: deadline)
        guard remaining > .zero else {
            try Task.checkCancellation()
            return
        }
        try await ContinuousClock().sleep(
            for: remaining / rate,
            tolerance: tolerance.map { $0 / rate }
        )
    }

    /// Converts a scaled duration into the real time it takes on this clock.
    public func realDuration(of scaled: Swift.Duration) -> Swift.Duration {
        scaled / rate
    }
}
