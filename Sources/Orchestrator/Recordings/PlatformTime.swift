import ExotelKit
import MediaStore

/// Time as the recording fetcher and the reconciler see it: instants are the catalog's wall-clock
/// ``MediaStore/Timestamp``s, durations of the platform's world (a retry backoff, the give-up time, how long a
/// call may go without a terminal status) are measured on the platform's clock.
///
/// Against the real platform the clock runs at real time and the two agree. The embedded simulator may run
/// its clock up to 100× faster (a ten-minute call in six seconds); sharing its ``ExotelKit/ScaledClock`` here
/// makes "retry for 30 minutes" mean 30 minutes of *simulated* time, i.e. 18 real seconds at 100×. A platform
/// duration `d` is `d / rate` of wall-clock time, so catalog timestamps stay comparable across processes.
public struct PlatformTime: Sendable {
    /// The platform's clock (share the simulator's, or the client's).
    public let clock: ScaledClock
    private let wallNow: @Sendable () -> Timestamp

    /// - Parameters:
    ///   - clock: the platform's clock; its ``ExotelKit/ScaledClock/rate`` converts durations.
    ///   - wallNow: the wall clock for catalog timestamps; injectable for tests.
    public init(clock: ScaledClock = ScaledClock(), wallNow: @escaping @Sendable () -> Timestamp = { .now() }) {
        self.clock = clock
        self.wallNow = wallNow
    }

    /// Now, as a catalog timestamp.
    public func now() -> Timestamp { self.wallNow() }

    /// The wall-clock time a platform duration takes.
    public func wallDuration(of platformDuration: Duration) -> Duration {
        self.clock.realDuration(of: platformDuration)
    }

    /// The catalog timestamp `platformDuration` of platform time after (or, negative, before) `time`.
    public func advance(_ time: Timestamp, by platformDuration: Duration) -> Timestamp {
        Timestamp(
            millisecondsSinceEpoch: time.millisecondsSinceEpoch
                + Self.milliseconds(self.wallDuration(of: platformDuration))
        )
    }

    /// The platform time between two catalog timestamps.
    public func platformDuration(from start: Timestamp, to end: Timestamp) -> Duration {
        .milliseconds(end.millisecondsSinceEpoch - start.millisecondsSinceEpoch) * self.clock.rate
    }

    /// Sleeps for a platform duration (on the platform's clock).
    public func sleep(for platformDuration: Duration) async throws {
        try await self.clock.sleep(for: platformDuration)
    }

    /// Sleeps until a catalog timestamp has passed.
    public func sleep(until time: Timestamp) async throws {
        let milliseconds = time.millisecondsSinceEpoch - self.now().millisecondsSinceEpoch
        if milliseconds > 0 {
            try await ContinuousClock().sleep(for: .milliseconds(milliseconds))
        } else {
            try Task.checkCancellation()
        }
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
