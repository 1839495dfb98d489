import Catalog
import ExotelClient
import ExotelKit
import Logging
import MediaStore
import ServiceLifecycle
import Synchronization

/// Asks the platform's Call Details API about calls whose terminal status callback never came, and feeds
/// what it learns into the same path as callbacks: the status into the catalog (source `reconciler`), the
/// recording URL into the download queue.
///
/// The platform promises no callback retries ("delivery may be delayed or fail… implement fallback to Call
/// Details API"), so without this a lost callback would mean a lost recording. Every sweep:
/// 1. reads the calls placed more than ``ReconcilerConfiguration/terminalGrace`` ago that have no terminal
///    status (``Catalog/Catalog/callsAwaitingTerminal(placedBefore:limit:)``), and for each one of this
///    client's account that is due asks Call Details (through the client's rate limiter);
/// 2. records the answer (``Catalog/Catalog/recordCallDetails(_:at:)``); when terminal with a `RecordingUrl`,
///    queues the download (``RecordingQueue/enqueue(callSid:url:notBefore:)``, idempotent);
/// 3. queues recordings whose URL is known but was never queued
///    (``Catalog/Catalog/callsWithUnqueuedRecordings(limit:)``).
///
/// A call the platform answers 404 for is asked again after a delay, and after
/// ``ReconcilerConfiguration/notFoundLimit`` such answers no more (see `docs/RECORDINGS.md`).
public final class Reconciler: Service, Sendable {
    public let configuration: ReconcilerConfiguration
    public let catalog: Catalog
    public let client: ExotelClient
    public let queue: RecordingQueue
    public let time: PlatformTime
    private let callChanged: (@Sendable (String) async -> Void)?
    private let logger: Logger
    private let state = Mutex(State())

    /// The audit action of a 404 from Call Details; its entries count the 404s of a call across restarts.
    public static let notFoundAction = "reconcile.not-found"

    /// What this process knows about calls it did not ask about in the last sweep.
    private struct State {
        var parked: [String: Parked] = [:]
        /// Calls whose 404 count was read back from the audit log.
        var notFoundCounts: [String: Int] = [:]
    }

    private struct Parked {
        /// nil: never again (unknown to the platform, or another account's).
        var until: Timestamp?
        /// Inconclusive answers so far, for the doubling delay.
        var steps: Int
    }

    /// - Parameters:
    ///   - queue: where learnt recordings are queued (``RecordingFetcher/queue`` in the process that downloads).
    ///   - time: `nil` uses the client's clock.
    ///   - callChanged: called with a CallSid after the catalog took something new about it (wire it to the
    ///     writer of `call.json`, so the sidecar keeps up with the catalog).
    public init(
        catalog: Catalog,
        client: ExotelClient,
        queue: RecordingQueue,
        configuration: ReconcilerConfiguration = ReconcilerConfiguration(),
        time: PlatformTime? = nil,
        callChanged: (@Sendable (String) async -> Void)? = nil,
        logger: Logger
    ) {
        self.configuration = configuration
        self.catalog = catalog
        self.client = client
        self.queue = queue
        self.time = time ?? PlatformTime(clock: client.clock)
        self.callChanged = callChanged
        var logger = logger
        logger[metadataKey: "component"] = "reconciler"
        self.logger = logger
    }

    /// Sweeps every ``ReconcilerConfiguration/interval`` until graceful shutdown or cancellation (a sweep in
    /// progress is cancelled; everything it did is already in the catalog). A failed sweep is logged and the
    /// next one runs on time.
    public func run() async throws {
        self.logger.info(
            "reconciler started",
            metadata: [
                "reconcile.grace": "\(self.configuration.terminalGrace)",
                "reconcile.interval": "\(self.configuration.interval)",
            ]
        )
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let report = try await self.reconcileOnce()
                    if report.asked > 0 || report.recordingsQueued > 0 {
                        self.logger.info("reconcile sweep", metadata: Self.metadata(report))
                    }
                } catch is CancellationError {
                    break
                } catch {
                    self.logger.warning(
                        "reconcile sweep failed; trying again next interval",
                        metadata: ["error": "\(LogText.escaped("\(error)", limit: 1024))"]
                    )
                }
                do {
                    try await self.time.sleep(for: self.configuration.interval)
                } catch {
                    break
                }
            }
        }
        self.logger.info("reconciler stopped")
    }

    /// One sweep.
    /// - Throws: a ``Catalog/CatalogError`` when the catalog fails; `CancellationError` when cancelled.
    public func reconcileOnce() async throws -> ReconcileReport {
        var report = ReconcileReport()
        let now = self.time.now()
        let cutoff = self.time.advance(now, by: .zero - self.configuration.terminalGrace)
        let limit = self.configuration.maximumRequestsPerSweep
        // Parked calls come back from the query too; ask for that many more, so they never crowd out the
        // calls that are due (the query returns the oldest first).
        let parkedCount = self.state.withLock { $0.parked.count }
        let candidates = try await self.catalog.callsAwaitingTerminal(placedBefore: cutoff, limit: limit + parkedCount)
        if candidates.count < limit + parkedCount {
            // The list is complete: forget calls that are no longer awaiting a terminal status.
            let awaiting = Set(candidates.map(\.callSid))
            self.state.withLock { state in
                state.parked = state.parked.filter { awaiting.contains($0.key) }
                state.notFoundCounts = state.notFoundCounts.filter { awaiting.contains($0.key) }
            }
        }

        sweep: for call in candidates {
            if report.asked >= limit { break }
            // A call of another account cannot be asked about with these credentials. A call placed
            // elsewhere whose account is not known yet is asked: if it is this account's, the answer names it.
            guard
                call.accountSid == self.client.credentials.accountSid
                    || (call.origin == .elsewhere && call.accountSid.isEmpty)
            else {
                self.park(call.callSid, until: nil)
                report.skipped += 1
                continue
            }
            if let parked = self.state.withLock({ $0.parked[call.callSid] }) {
                guard let until = parked.until, until <= now else {
                    report.skipped += 1
                    continue
                }
            }
            let notFoundSoFar = try await self.notFoundCount(call.callSid)
            if notFoundSoFar >= self.configuration.notFoundLimit {
                self.park(call.callSid, until: nil)
                report.skipped += 1
                continue
            }

            // Another node's reconciler may sweep the same call: whoever claims it asks, the other skips it
            // until the claim (one recheck delay) runs out.
            let claimed = try await self.catalog.claimReconcile(
                callSid: call.callSid,
                by: self.configuration.node,
                at: now,
                until: self.time.advance(now, by: self.configuration.recheckDelay)
            )
            guard claimed else {
                report.skipped += 1
                continue
            }
            report.asked += 1
            var logger = self.logger
            logger[metadataKey: "call.sid"] = "\(LogText.escaped("\(call.callSid)", limit: 1024))"
            let details: PlatformCall
            do throws(ExotelClientError) {
                details = try await self.client.callDetails(sid: call.callSid)
            } catch {
                switch error {
                case .notFound, .invalidIdentifier:
                    try await self.notFound(
                        call,
                        error: error,
                        count: notFoundSoFar + 1,
                        report: &report,
                        logger: logger
                    )
                    continue sweep
                case .cancelled:
                    throw CancellationError()
                case .unauthorized:
                    report.errors += 1
                    logger.warning(
                        "Call Details refused the credentials; ending this sweep",
                        metadata: ["error": "\(LogText.escaped("\(error)", limit: 1024))"]
                    )
                    break sweep
                case .rateLimited:
                    report.errors += 1
                    logger.info(
                        "Call Details is rate limited; ending this sweep",
                        metadata: ["error": "\(LogText.escaped("\(error)", limit: 1024))"]
                    )
                    break sweep
                default:
                    report.errors += 1
                    logger.info(
                        "Call Details failed; asking again next sweep",
                        metadata: ["error": "\(LogText.escaped("\(error)", limit: 1024))"]
                    )
                    continue sweep
                }
            }
            try await self.learn(details, about: call, at: self.time.now(), report: &report, logger: logger)
        }

        if self.configuration.sweepUnqueuedRecordings {
            for call in try await self.catalog.callsWithUnqueuedRecordings(limit: 1000) {
                guard let url = call.recordingURL, !url.isEmpty else { continue }
                if try await self.queue.enqueue(callSid: call.callSid, url: url).isNew {
                    report.recordingsQueued += 1
                    self.logger.info(
                        "queued a recording that was never queued",
                        metadata: ["call.sid": "\(LogText.escaped("\(call.callSid)", limit: 1024))"]
                    )
                }
            }
        }
        return report
    }

    /// Records an answer of Call Details and queues its recording.
    private func learn(
        _ details: PlatformCall,
        about call: CallRecord,
        at now: Timestamp,
        report: inout ReconcileReport,
        logger: Logger
    ) async throws {
        if try await self.catalog.recordCallDetails(details, at: now) {
            report.updated += 1
            await self.callChanged?(call.callSid)
        }
        guard CallStatus.isTerminal(details.status) else {
            let steps = self.state.withLock { state -> Int in
                let steps = (state.parked[call.callSid]?.steps ?? 0) + 1
                state.parked[call.callSid] = Parked(
                    until: self.time.advance(now, by: self.configuration.recheck(afterStep: steps)),
                    steps: steps
                )
                return steps
            }
            logger.debug(
                "the platform reports the call as still going",
                metadata: [
                    "call.status": "\(LogText.escaped("\(details.status)", limit: 1024))", "reconcile.step": "\(steps)",
                ]
            )
            return
        }
        self.state.withLock { _ = $0.parked.removeValue(forKey: call.callSid) }
        report.becameTerminal += 1
        var metadata: Logger.Metadata = ["call.status": "\(LogText.escaped("\(details.status)", limit: 1024))"]
        if let url = details.recordingURL, !url.isEmpty {
            if try await self.queue.enqueue(callSid: call.callSid, url: url).isNew { report.recordingsQueued += 1 }
            metadata["call.recording"] = "queued"
        }
        logger.info("terminal status learnt from Call Details (its callback never came)", metadata: metadata)
    }

    /// Notes a 404 in the audit log (the durable count), and parks the call for a while or for good.
    private func notFound(
        _ call: CallRecord,
        error: ExotelClientError,
        count: Int,
        report: inout ReconcileReport,
        logger: Logger
    ) async throws {
        report.notFound += 1
        // A sid that cannot even go into a URL will never be found.
        let givenUp = count >= self.configuration.notFoundLimit || error.code == "invalid-identifier"
        try await self.catalog.appendAudit(
            AuditEvent(
                at: self.time.now(),
                actor: self.configuration.actor,
                action: Self.notFoundAction,
                callSid: call.callSid,
                detail: [
                    "count": "\(count)", "limit": "\(self.configuration.notFoundLimit)", "given_up": "\(givenUp)",
                    "error": error.description,
                ]
            )
        )
        self.state.withLock { $0.notFoundCounts[call.callSid] = givenUp ? Int.max : count }
        if givenUp {
            self.park(call.callSid, until: nil)
            report.givenUp += 1
            logger.warning(
                "the platform does not know this call; it is no longer asked about",
                metadata: ["reconcile.not-found": "\(count)", "error": "\(LogText.escaped("\(error)", limit: 1024))"]
            )
        } else {
            self.park(
                call.callSid,
                until: self.time.advance(self.time.now(), by: self.configuration.recheck(afterStep: count))
            )
            logger.info("Call Details does not know this call (yet)", metadata: ["reconcile.not-found": "\(count)"])
        }
    }

    /// The call's 404s so far: read once per process from the audit log, then kept in memory.
    private func notFoundCount(_ callSid: String) async throws -> Int {
        if let known = self.state.withLock({ $0.notFoundCounts[callSid] }) { return known }
        let entries = try await self.catalog.auditEntries(callSid: callSid, limit: 10_000)
            .filter { $0.action == Self.notFoundAction }
        let count =
            entries.contains { $0.detailMap["given_up"] == "true" } ? Int.max : entries.count
        self.state.withLock { $0.notFoundCounts[callSid] = count }
        return count
    }

    private func park(_ callSid: String, until: Timestamp?) {
        self.state.withLock { state in
            state.parked[callSid] = Parked(until: until, steps: state.parked[callSid]?.steps ?? 0)
        }
    }

    static func metadata(_ report: ReconcileReport) -> Logger.Metadata {
        [
            "reconcile.asked": "\(report.asked)", "reconcile.updated": "\(report.updated)",
            "reconcile.terminal": "\(report.becameTerminal)",
            "reconcile.recordings-queued": "\(report.recordingsQueued)",
            "reconcile.not-found": "\(report.notFound)", "reconcile.given-up": "\(report.givenUp)",
            "reconcile.skipped": "\(report.skipped)", "reconcile.errors": "\(report.errors)",
        ]
    }
}
