import Testing

@testable import ExotelKit

@Suite struct ScaledClockTests {
    /// At rate 100, a 20 s scaled sleep takes about 200 ms of real time, and the clock has moved ≥ 20 s.
    /// The upper bound is loose on purpose (an unscaled sleep would take 20 s): tests share a busy machine.
    @Test func sleepTakesScaledDurationOverRate() async throws {
        let clock = ScaledClock(rate: 100)
        let realStart = ContinuousClock.now
        let scaledStart = clock.now
        try await clock.sleep(for: .seconds(20))
        let real = ContinuousClock.now - realStart
        let scaled = scaledStart.duration(to: clock.now)
        #expect(scaled >= .seconds(20))
        #expect(real >= .milliseconds(199))
        #expect(real < .seconds(10))
    }

    /// Scaled time advances `rate` times as fast as real time: bracketed by real readings taken just outside
    /// and just inside the scaled ones, so scheduling delays on a loaded machine cannot make it flaky.
    @Test func nowAdvancesAtRate() async throws {
        let clock = ScaledClock(rate: 50)
        let outerStart = ContinuousClock.now
        let start = clock.now
        let innerStart = ContinuousClock.now
        try await ContinuousClock().sleep(for: .milliseconds(40))
        let innerEnd = ContinuousClock.now
        let end = clock.now
        let outerEnd = ContinuousClock.now
        let scaled = start.duration(to: end)
        #expect(scaled >= (innerEnd - innerStart) * 50)
        #expect(scaled <= (outerEnd - outerStart) * 50)
        #expect(scaled >= .seconds(2))
    }

    /// Rate 1 is real time; nonsense rates fall back to 1 rather than stopping the clock.
    @Test func invalidRatesFallBackToRealTime() {
        #expect(ScaledClock().rate == 1)
        #expect(ScaledClock(rate: 0).rate == 1)
        #expect(ScaledClock(rate: -3).rate == 1)
        #expect(ScaledClock(rate: .infinity).rate == 1)
        #expect(ScaledClock(rate: 8).realDuration(of: .seconds(8)) == .seconds(1))
    }

    /// A deadline already in the past returns at once. The bound is well under the 5 s a sleep of the
    /// deadline's distance would take, and well over what a busy shared machine adds.
    @Test func pastDeadlineReturnsImmediately() async throws {
        let clock = ScaledClock(rate: 1)
        let realStart = ContinuousClock.now
        try await clock.sleep(until: clock.now.advanced(by: .seconds(-5)), tolerance: nil)
        #expect(ContinuousClock.now - realStart < .seconds(3))
    }

    /// Cancelling a sleeper ends its sleep with CancellationError instead of waiting out the scaled hour.
    @Test func sleepIsCancellable() async {
        let clock = ScaledClock(rate: 2)
        let task = Task { try await clock.sleep(for: .seconds(3600)) }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
    }

    /// Instants order and subtract by their offsets.
    @Test func instantArithmetic() {
        let a = ScaledClock.Instant(offset: .seconds(3))
        let b = a.advanced(by: .milliseconds(1500))
        #expect(a < b)
        #expect(a.duration(to: b) == .milliseconds(1500))
        #expect(b.duration(to: a) == .milliseconds(-1500))
    }
}
