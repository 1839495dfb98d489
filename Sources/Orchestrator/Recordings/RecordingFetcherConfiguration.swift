/// Tuning for ``RecordingFetcher``. Durations named "platform time" run on ``PlatformTime/clock`` (faster than
/// real time against a fast simulator); the lease is wall-clock time, since it guards real downloads.
public struct RecordingFetcherConfiguration: Sendable {
    /// The storage root; recordings go to `media/<account>/<yyyy>/<mm>/<dd>/<CallSid>/` below it.
    public var storageRoot: String
    /// Downloads running at once (each holds one claimed job).
    public var workers: Int
    /// Platform time after a job was queued at which it is given up (`failed`) if every attempt found no
    /// recording (404), a server error or no connection. The platform publishes recordings "typically 1–5 min
    /// after call end, up to 15 min at peak"; the default is twice that.
    public var giveUpAfter: Duration
    /// Platform time before the first retry; each later one doubles, up to ``maximumBackoff``. Half of each
    /// delay is fixed, half random ("equal jitter"), so jobs that failed together spread out.
    public var initialBackoff: Duration
    public var maximumBackoff: Duration
    /// Wall-clock time a claim holds its job without being renewed. The worker renews it every third of
    /// it while the download runs, so a long download is never taken over; a worker that dies (a killed
    /// process) stops renewing, and any worker claims the job again once the lease has run out. `nil`: 60 s.
    public var lease: Duration?
    /// Largest recording accepted (bytes); `nil` uses the client's ``ExotelClient/ExotelClientConfiguration/maximumRecordingBytes``.
    public var maximumBytes: Int?
    /// Wall-clock time between looks at the queue when nothing is due and nobody rang (jobs queued by
    /// another process are found this way; ``RecordingQueue/enqueue(callSid:url:notBefore:)`` in this process
    /// wakes the workers at once).
    public var pollInterval: Duration
    /// The audit log's `actor` for this fetcher's entries.
    public var actor: String
    /// Written into each `recording.json`.
    public var exorecVersion: String
    /// A number in `0..<1` for the jitter.
    public var random: @Sendable () -> Double

    public init(
        storageRoot: String,
        workers: Int = 2,
        giveUpAfter: Duration = .seconds(30 * 60),
        initialBackoff: Duration = .seconds(15),
        maximumBackoff: Duration = .seconds(5 * 60),
        lease: Duration? = nil,
        maximumBytes: Int? = nil,
        pollInterval: Duration = .seconds(2),
        actor: String = "fetcher",
        exorecVersion: String,
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.storageRoot = storageRoot
        self.workers = max(1, workers)
        self.giveUpAfter = giveUpAfter
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
        self.lease = lease
        self.maximumBytes = maximumBytes
        self.pollInterval = pollInterval
        self.actor = actor
        self.exorecVersion = exorecVersion
        self.random = random
    }

    /// The platform-time delay after failed attempt number `attempt` (1-based): `initial × 2^(attempt-1)`
    /// capped at ``maximumBackoff``, half fixed and half random.
    public func backoff(afterAttempt attempt: Int) -> Duration {
        var cap = self.initialBackoff
        for _ in 1..<max(1, attempt) {
            cap = cap * 2
            if cap >= self.maximumBackoff { break }
        }
        cap = min(cap, self.maximumBackoff)
        let fraction = min(max(self.random(), 0), 1)
        return cap / 2 + (cap / 2) * fraction
    }
}
