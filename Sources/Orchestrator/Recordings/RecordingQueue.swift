import Catalog
import MediaStore
import Synchronization

/// The one way recordings get queued, by a terminal status callback, by the reconciler and by the sweep of
/// calls whose recording URL was never queued: a durable row in the catalog's download queue, then a ring
/// of the local fetcher's bell so it starts at once instead of at its next poll.
///
/// Queuing is idempotent (one job per call and URL, whatever its state), so a repeated callback or a callback
/// and the reconciler learning the same URL queue one download.
public struct RecordingQueue: Sendable {
    public let catalog: Catalog
    let doorbell: Doorbell
    let time: PlatformTime

    /// A queue without a fetcher in this process (another process or node downloads).
    public init(catalog: Catalog, time: PlatformTime = PlatformTime()) {
        self.init(catalog: catalog, time: time, doorbell: Doorbell())
    }

    init(catalog: Catalog, time: PlatformTime, doorbell: Doorbell) {
        self.catalog = catalog
        self.time = time
        self.doorbell = doorbell
    }

    /// Queues the download of `url` for `callSid`, due at `notBefore` (now by default), and wakes the local
    /// fetcher.
    @discardableResult
    public func enqueue(callSid: String, url: String, notBefore: Timestamp? = nil) async throws -> DownloadEnqueueResult
    {
        let now = self.time.now()
        let result = try await self.catalog.enqueueDownload(
            callSid: callSid,
            url: url,
            notBefore: notBefore ?? now,
            at: now
        )
        if result.isNew { self.doorbell.ring() }
        return result
    }

    /// Wakes the local fetcher (jobs were queued some other way).
    public func wakeFetcher() { self.doorbell.ring() }
}

/// Wakes one sleeping waiter, or the next one to wait if nobody sleeps (a ring is never lost).
final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    func ring() {
        let waiters = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.waiters.isEmpty else {
                state.rung = true
                return []
            }
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns after a ring, after `timeout` of wall-clock time, or when the task is cancelled.
    func wait(timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForRing() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForRing() async {
        let id = self.state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = self.state.withLock { state -> Bool in
                    if state.rung {
                        state.rung = false
                        return true
                    }
                    if Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = self.state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }
}
