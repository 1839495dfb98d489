/// Tuning for ``Reconciler``. All durations are platform time (``PlatformTime/clock``).
public struct ReconcilerConfiguration: Sendable {
    /// A call placed longer ago than this without a terminal status is asked about. The terminal callback
    /// normally arrives seconds after a call ends; most calls end within minutes.
    public var terminalGrace: Duration
    /// Between two sweeps.
    public var interval: Duration
    /// Call Details requests per sweep at most. They share the account's 200-per-minute budget with placing
    /// calls, so the reconciler stays a small consumer of it.
    public var maximumRequestsPerSweep: Int
    /// A call the platform reports as still going is asked again after this, then after twice as long each
    /// time, up to ``maximumRecheckDelay`` (a call may last up to four hours).
    public var recheckDelay: Duration
    public var maximumRecheckDelay: Duration
    /// After this many 404 answers to Call Details (each at least ``recheckDelay`` apart, doubling), the call
    /// is taken as unknown to the platform and no longer asked about. Each 404 is an audit entry
    /// (`reconcile.not-found`), so the count survives restarts.
    public var notFoundLimit: Int
    /// Also queue the recordings of calls whose recording URL is known but was never queued (a crash between
    /// a callback and its queuing, a callback that came before its call was recorded, a rebuild).
    public var sweepUnqueuedRecordings: Bool
    /// The audit log's `actor` for this reconciler's entries.
    public var actor: String
    /// The node this reconciler runs on: the name on its claims (``Catalog/claimReconcile(callSid:by:at:until:)``),
    /// which keep the reconcilers of several nodes from asking about the same call.
    public var node: String = "local"

    public init(
        terminalGrace: Duration = .seconds(10 * 60),
        interval: Duration = .seconds(60),
        maximumRequestsPerSweep: Int = 50,
        recheckDelay: Duration = .seconds(120),
        maximumRecheckDelay: Duration = .seconds(30 * 60),
        notFoundLimit: Int = 3,
        sweepUnqueuedRecordings: Bool = true,
        actor: String = "reconciler"
    ) {
        self.terminalGrace = terminalGrace
        self.interval = interval
        self.maximumRequestsPerSweep = max(1, maximumRequestsPerSweep)
        self.recheckDelay = recheckDelay
        self.maximumRecheckDelay = maximumRecheckDelay
        self.notFoundLimit = max(1, notFoundLimit)
        self.sweepUnqueuedRecordings = sweepUnqueuedRecordings
        self.actor = actor
    }

    /// The delay before asking again after the `step`-th (1-based) inconclusive answer.
    func recheck(afterStep step: Int) -> Duration {
        var delay = self.recheckDelay
        for _ in 1..<max(1, step) {
            delay = delay * 2
            if delay >= self.maximumRecheckDelay { break }
        }
        return min(delay, self.maximumRecheckDelay)
    }
}

/// What one sweep of the ``Reconciler`` did.
public struct ReconcileReport: Sendable, Hashable, Codable {
    /// Call Details requests sent.
    public var asked = 0
    /// Calls whose status or recording URL the platform's answer changed in the catalog.
    public var updated = 0
    /// Calls that got their terminal status from the platform's answer.
    public var becameTerminal = 0
    /// Recording downloads newly queued (from Call Details and from the sweep of unqueued recordings).
    public var recordingsQueued = 0
    /// 404 answers.
    public var notFound = 0
    /// Calls taken as unknown to the platform in this sweep (no longer asked about).
    public var givenUp = 0
    /// Calls awaiting a terminal status that were not asked: another account's, waiting to be asked again, or
    /// unknown to the platform.
    public var skipped = 0
    /// Requests that failed for another reason (the call is asked again next sweep).
    public var errors = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case asked, updated, errors, skipped
        case becameTerminal = "became_terminal", recordingsQueued = "recordings_queued", notFound = "not_found"
        case givenUp = "given_up"
    }
}
