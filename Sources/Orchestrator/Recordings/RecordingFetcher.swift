import Catalog
import Dispatch
import ExotelClient
import ExotelKit
import Foundation
import Glibc
import Logging
import MediaStore
import ServiceLifecycle
import Synchronization

/// Downloads the platform's call recordings from the catalog's durable download queue into each call's
/// folder: streamed to a temporary file while hashed, checked (audio, not empty, under the size limit),
/// synced, linked into place without ever replacing a file, made read-only, described by `recording.json`,
/// catalogued, audited.
///
/// Any number of fetchers (threads, processes, nodes sharing the catalog) can work one queue: a job is
/// claimed by one conditional update and held for a lease; a job whose worker died is claimed again once
/// its lease has run out, so pending and interrupted downloads survive a restart. See `docs/RECORDINGS.md`.
///
/// ```swift
/// let fetcher = RecordingFetcher(catalog: catalog, client: client,
///     configuration: RecordingFetcherConfiguration(storageRoot: "storage", exorecVersion: version), logger: logger)
/// // terminal status callback with a RecordingUrl:
/// try await fetcher.queue.enqueue(callSid: callback.callSid, url: recordingURL)
/// // serve: ServiceGroup(services: [ingest, fetcher, reconciler, …])
/// ```
public final class RecordingFetcher: Service, Sendable {
    public let configuration: RecordingFetcherConfiguration
    public let catalog: Catalog
    public let client: ExotelClient
    public let time: PlatformTime
    public let layout: StorageLayout
    /// Queue recordings here: the catalog's queue, ringing this fetcher.
    public let queue: RecordingQueue
    private let logger: Logger
    private let doorbell: Doorbell
    private let state = Mutex(State())
    /// Disk work that may wait on the device (fsync, hashing an existing file, probing) runs here, not on
    /// the concurrency pool's few threads.
    private let disk = DispatchQueue(label: "exorec.recording-fetcher.disk")

    private struct State {
        var metrics = RecordingFetcherMetrics()
        var stopping = false
        /// Jobs handed to a worker task by ``serve()`` and not finished yet.
        var dispatched = 0
        /// Retry times this process scheduled that have not come yet (jobs queued by others are found by
        /// polling).
        var retryTimes: [Timestamp] = []
    }

    /// - Parameters:
    ///   - client: downloads with its credentials, host rules and size limit.
    ///   - time: `nil` uses the client's clock, so a fast simulator's clock paces retries too.
    public init(
        catalog: Catalog,
        client: ExotelClient,
        configuration: RecordingFetcherConfiguration,
        time: PlatformTime? = nil,
        logger: Logger
    ) {
        let time = time ?? PlatformTime(clock: client.clock)
        let doorbell = Doorbell()
        self.configuration = configuration
        self.catalog = catalog
        self.client = client
        self.time = time
        self.layout = StorageLayout(root: configuration.storageRoot)
        self.doorbell = doorbell
        self.queue = RecordingQueue(catalog: catalog, time: time, doorbell: doorbell)
        var logger = logger
        logger[metadataKey: "component"] = "recording-fetcher"
        self.logger = logger
    }

    /// How long a claim holds its job (wall-clock time).
    public var lease: Duration {
        self.configuration.lease ?? Self.defaultLease
    }

    static let defaultLease = Duration.seconds(60)

    /// The counters so far.
    public var metrics: RecordingFetcherMetrics { self.state.withLock { $0.metrics } }

    // MARK: - Running

    /// Runs ``RecordingFetcherConfiguration/workers`` downloads at a time until graceful shutdown or
    /// cancellation. On either, no new job is claimed and the running downloads are stopped and put back in
    /// the queue as due at once (a download is repeatable; a shutdown should not wait for a long one).
    public func run() async throws {
        self.state.withLock { $0.stopping = false }
        self.logger.info(
            "recording fetcher started",
            metadata: ["download.workers": "\(self.configuration.workers)", "download.lease": "\(self.lease)"]
        )
        await withGracefulShutdownHandler {
            await self.serve()
        } onGracefulShutdown: {
            self.state.withLock { $0.stopping = true }
            self.doorbell.ring()
        }
        self.logger.info("recording fetcher stopped", metadata: self.metricsMetadata())
    }

    /// Claims and processes one job that is due now; nil when none is. For tests and one-shot tools.
    public func runOnce() async -> DownloadOutcome? {
        guard let job = await self.claim(now: self.time.now()) else { return nil }
        return await self.process(job)
    }

    /// Processes every job that is due, up to ``RecordingFetcherConfiguration/workers`` at once, until none is
    /// due now; jobs put back for later are not waited for (with a fast clock a short backoff can be due again
    /// before the drain ends, and is then tried again). Returns the outcomes, grouped by worker.
    public func drain() async -> [DownloadOutcome] {
        await withTaskGroup(of: [DownloadOutcome].self) { group in
            for _ in 0..<self.configuration.workers {
                group.addTask {
                    var outcomes: [DownloadOutcome] = []
                    while !Task.isCancelled, let outcome = await self.runOnce() { outcomes.append(outcome) }
                    return outcomes
                }
            }
            var all: [DownloadOutcome] = []
            for await outcomes in group { all += outcomes }
            return all
        }
    }

    private func serve() async {
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled, !self.state.withLock({ $0.stopping }) {
                let free = self.state.withLock { $0.dispatched < self.configuration.workers }
                let looked = self.time.now()
                if free, let job = await self.claim(now: looked) {
                    self.state.withLock { $0.dispatched += 1 }
                    group.addTask {
                        _ = await self.process(job)
                        self.state.withLock { $0.dispatched -= 1 }
                        self.doorbell.ring()
                    }
                    continue
                }
                // Every worker busy: a finishing one rings. Else: a ring, the next retry, or the poll interval.
                await self.doorbell.wait(
                    timeout: free ? self.idleWait(lookedAt: looked) : self.configuration.pollInterval
                )
            }
            group.cancelAll()
        }
    }

    /// Wall time to wait when nothing was claimed: until the next retry this process scheduled, at most the
    /// poll interval.
    /// - Parameter lookedAt: when the queue was last looked at and had nothing due.
    private func idleWait(lookedAt: Timestamp) -> Duration {
        let now = self.time.now()
        let next = self.state.withLock { state -> Timestamp? in
            // A retry that was due when the queue had nothing due is running elsewhere (or was taken by
            // another worker): forget it.
            state.retryTimes.removeAll { $0 <= lookedAt }
            return state.retryTimes.min()
        }
        guard let next else { return self.configuration.pollInterval }
        // A millisecond late, so the job is due when the claim looks.
        let wait = Duration.milliseconds(max(0, next.millisecondsSinceEpoch - now.millisecondsSinceEpoch) + 1)
        return min(self.configuration.pollInterval, wait)
    }

    private func claim(now: Timestamp) async -> DownloadJob? {
        do {
            guard let job = try await self.catalog.claimNextDownload(now: now, lease: self.lease) else {
                return nil
            }
            self.state.withLock { $0.metrics.claimed += 1 }
            return job
        } catch {
            self.logger.warning(
                "claiming a download job failed; trying again after the poll interval",
                metadata: ["error": "\(error)"]
            )
            return nil
        }
    }

    // MARK: - One job

    /// Downloads, checks, stores and catalogues one claimed job, and settles it in the queue.
    func process(_ job: DownloadJob) async -> DownloadOutcome {
        var logger = self.logger
        logger[metadataKey: "download.job"] = "\(job.id)"
        logger[metadataKey: "call.sid"] = "\(LogText.escaped(job.callSid))"
        logger[metadataKey: "download.attempt"] = "\(job.attempts)"
        logger[metadataKey: "download.host"] = "\(LogText.escaped(URLRedaction.hostPart(job.url)))"
        self.state.withLock { $0.metrics.inFlight += 1 }
        defer { self.state.withLock { $0.metrics.inFlight -= 1 } }
        let result: DownloadOutcome.Result
        do {
            let jobLogger = logger
            result = try await withThrowingTaskGroup(of: DownloadOutcome.Result?.self) { group in
                group.addTask { try await self.attempt(job, logger: jobLogger) }
                group.addTask {
                    await self.keepLease(job, logger: jobLogger)
                    return nil
                }
                defer { group.cancelAll() }
                while let next = try await group.next() {
                    if let outcome = next { return outcome }
                }
                throw CancellationError()
            }
        } catch  where error is CancellationError || Task.isCancelled {
            // Stopped before the transport could report it (in the rate limiter's wait, say): the job goes
            // back as due at once, as a download stopped in flight does.
            result = await self.interrupted(job, logger: logger)
        } catch {
            // The catalog failed while recording the result. The claim is left as it is: once its lease has
            // run out the job is claimed again, and a stored file is then found and adopted.
            logger.error(
                "a download job could not be settled in the catalog; it is claimed again when its lease runs out",
                metadata: ["error": "\(error)"]
            )
            result = .retrying(at: job.leaseUntil ?? self.time.now(), reason: "\(error)")
        }
        return DownloadOutcome(jobId: job.id, callSid: job.callSid, url: job.url, result: result)
    }

    /// Renews the job's lease every third of it until cancelled (the attempt has settled the job) or
    /// the claim is lost (then the attempt finds out itself before storing anything).
    private func keepLease(_ job: DownloadJob, logger: Logger) async {
        let lease = self.lease
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: lease / 3)
                let until = Timestamp(
                    millisecondsSinceEpoch: Timestamp.now().millisecondsSinceEpoch + Self.milliseconds(lease)
                )
                try await self.catalog.renewDownloadLease(job, until: until)
            } catch is CancellationError {
                return
            } catch {
                if !Task.isCancelled { logger.debug("download lease not renewed", metadata: ["error": "\(error)"]) }
                return
            }
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    private func attempt(_ job: DownloadJob, logger: Logger) async throws -> DownloadOutcome.Result {
        guard let call = try await self.catalog.call(sid: job.callSid) else {
            // A callback can arrive before the placing process has recorded its call.
            return try await self.retryOrFail(job, reason: "the call is not in the catalog (yet)", logger: logger)
        }
        // Before anything is created: a URL the client would refuse leaves no trace but the refusal.
        do throws(ExotelClientError) {
            try self.client.checkRecordingURL(job.url)
        } catch {
            return try await self.refuse(job, reason: error.description, logger: logger)
        }
        let directory: String
        do {
            // The folder the catalog fixed (a call placed elsewhere), else its account's by placement time.
            if let folder = call.folder {
                _ = try PathSafeIdentifier(call.callSid, field: "CallSid")
                directory = self.layout.absolute(folder)
            } else {
                directory = self.layout.callDirectory(
                    account: try PathSafeIdentifier(call.accountSid, field: "AccountSid"),
                    callSid: try PathSafeIdentifier(call.callSid, field: "CallSid"),
                    startedAt: call.placedAt
                )
            }
        } catch {
            return try await self.refuse(job, reason: error.description, logger: logger)
        }
        var sink: RecordingFileSink
        do {
            try await self.onDisk { () throws(MediaError) in
                try FileSystem.makeDirectories(directory)
                Self.removeTemporaries(in: directory, jobId: job.id)
            }
            let token = (job.claimToken ?? "\(job.attempts)").prefix(8)
            sink = try RecordingFileSink(creating: "\(directory)/.recording-\(job.id)-\(token).part")
        } catch {
            return try await self.retryOrFail(job, reason: error.description, logger: logger)
        }
        let temporary = sink.path

        let download: RecordingDownload
        do {
            download = try await self.client.downloadRecording(
                url: job.url,
                into: &sink,
                maximumBytes: self.configuration.maximumBytes
            )
        } catch {
            sink.abandon()
            return try await self.failed(job, error, logger: logger)
        }
        let (written, descriptor) = sink.seal()
        do {
            try await self.onDisk { () throws(MediaError) in
                try RecordingFileSink.syncAndClose(descriptor, path: temporary)
            }
        } catch {
            unlink(temporary)
            return try await self.retryOrFail(job, reason: error.description, logger: logger)
        }

        guard written.bytes > 0 else {
            unlink(temporary)
            return try await self.retryOrFail(
                job,
                reason: "the recording was empty (HTTP \(download.httpStatus))",
                logger: logger
            )
        }
        let fileExtension: String
        switch RecordingContent.check(
            contentType: download.contentType,
            leadingBytes: written.leadingBytes,
            url: job.url
        ) {
        case .notAudio(let reason):
            unlink(temporary)
            return try await self.refuse(job, reason: reason, logger: logger)
        case .audio(let ext):
            fileExtension = ext
        }

        // A claim whose lease ran out during the download must not store anything: the job is another
        // worker's now. (Should the lease run out between here and the end, the other worker finds the same
        // bytes in place and adopts them.)
        guard try await self.stillHolds(job) else {
            unlink(temporary)
            return self.leaseLost(job, logger: logger)
        }
        let now = self.time.now()
        let stored: (placement: RecordingPlacement, sidecar: RecordingSidecar)
        do {
            stored = try await self.onDisk { () throws(MediaError) in
                let placement = try RecordingPlacement.place(
                    temporary: temporary,
                    in: directory,
                    fileExtension: fileExtension,
                    sha256: written.sha256
                )
                if let existing = placement.existingSidecar { return (placement, existing) }
                let probe = Self.probe(placement.mediaPath)
                let sidecar = RecordingSidecar(
                    state: .complete,
                    accountSid: call.accountSid,
                    callSid: call.callSid,
                    url: job.url,
                    fetchedAt: now,
                    httpStatus: download.httpStatus,
                    contentType: download.contentType,
                    format: fileExtension,
                    channels: probe?.channels,
                    sampleRate: probe?.sampleRate,
                    durationSeconds: probe?.seconds,
                    bytes: written.bytes,
                    sha256: written.sha256,
                    file: placement.fileName,
                    exorecVersion: self.configuration.exorecVersion
                )
                try sidecar.write(to: placement.sidecarPath, durable: true)
                return (placement, sidecar)
            }
        } catch {
            unlink(temporary)
            return try await self.retryOrFail(job, reason: error.description, logger: logger)
        }

        let path = self.layout.relative(stored.placement.mediaPath)
        try await self.catalog.upsertRecording(from: stored.sidecar, path: path)
        let result: DownloadOutcome.Result
        var detail = [
            "job": "\(job.id)", "url": URLRedaction.redacting(job.url), "sha256": written.sha256,
            "bytes": "\(written.bytes)",
            "content_type": download.contentType ?? "", "attempt": "\(job.attempts)",
            "credentials": download.sentCredentials ? "basic" : "pre-signed",
        ]
        if download.finalURL != download.url { detail["final_url"] = URLRedaction.redacting(download.finalURL) }
        if !download.redirects.isEmpty {
            detail["redirects"] = download.redirects.map(URLRedaction.redacting).joined(separator: " ")
        }
        if let conflict = stored.placement.conflictWith {
            detail["conflict_with"] = conflict
        }
        if !stored.placement.isNew {
            detail["outcome"] = "already-stored"
            result = .alreadyStored(path: path)
        } else if let conflict = stored.placement.conflictWith {
            detail["outcome"] = "stored-beside-conflict"
            result = .storedBesideConflict(path: path, conflictWith: conflict)
        } else {
            detail["outcome"] = "stored"
            result = .stored(path: path)
        }
        try await self.catalog.appendAudit(
            AuditEvent(
                at: now,
                actor: self.configuration.actor,
                action: "download",
                callSid: job.callSid,
                path: path,
                detail: detail
            )
        )
        do {
            try await self.catalog.completeDownload(job, at: now)
        } catch CatalogError.leaseLost {
            return self.leaseLost(job, logger: logger)
        }

        self.state.withLock { state in
            switch result {
            case .alreadyStored: state.metrics.alreadyStored += 1
            case .storedBesideConflict:
                state.metrics.stored += 1
                state.metrics.conflicts += 1
                state.metrics.bytesStored += written.bytes
            default:
                state.metrics.stored += 1
                state.metrics.bytesStored += written.bytes
            }
        }
        var metadata: Logger.Metadata = [
            "download.path": "\(path)", "download.bytes": "\(written.bytes)", "download.sha256": "\(written.sha256)",
            "download.outcome": "\(detail["outcome"] ?? "")",
        ]
        if let conflict = stored.placement.conflictWith {
            metadata["download.conflict-with"] = "\(conflict)"
            logger.warning(
                "the call already has a different recording; both are kept, the new one under a suffixed name",
                metadata: metadata
            )
        } else {
            logger.info("recording stored", metadata: metadata)
        }
        return result
    }

    /// Sorts a failed download into retry, refusal or interruption.
    private func failed(
        _ job: DownloadJob,
        _ error: ExotelClientError,
        logger: Logger
    ) async throws -> DownloadOutcome.Result {
        switch error {
        case .notFound:
            return try await self.retryOrFail(job, reason: "not published yet (HTTP 404)", logger: logger)
        case .server, .rateLimited, .transport, .unauthorized, .sinkFailed:
            // 401/403 too: a key pair being rotated or an expired pre-signed URL can pass; the give-up time
            // bounds it.
            return try await self.retryOrFail(job, reason: error.description, logger: logger)
        case .cancelled:
            return await self.interrupted(job, logger: logger)
        case .recordingHostNotAllowed, .invalidURL, .redirectRefused, .invalidIdentifier, .recordingTooLarge, .rejected,
            .malformedResponse, .invalidRequest:
            return try await self.refuse(job, reason: error.description, logger: logger)
        }
    }

    /// Puts the job back for a later attempt, or gives it up once ``RecordingFetcherConfiguration/giveUpAfter``
    /// of platform time has passed since it was queued.
    private func retryOrFail(_ job: DownloadJob, reason: String, logger: Logger) async throws -> DownloadOutcome.Result
    {
        let now = self.time.now()
        let deadline = self.time.advance(job.createdAt, by: self.configuration.giveUpAfter)
        if now >= deadline {
            let message =
                "gave up after \(job.attempts) attempt(s) over \(self.configuration.giveUpAfter) of platform time: \(reason)"
            do {
                try await self.catalog.failDownload(job, error: message, at: now)
            } catch CatalogError.leaseLost {
                return self.leaseLost(job, logger: logger)
            }
            self.state.withLock { $0.metrics.failed += 1 }
            logger.warning(
                "recording download given up",
                metadata: ["download.reason": "\(LogText.escaped(message, limit: 1024))"]
            )
            return .failed(reason: message)
        }
        var next = self.time.advance(now, by: self.configuration.backoff(afterAttempt: job.attempts))
        // One last attempt exactly at the give-up time rather than none after a long backoff.
        if next > deadline { next = deadline }
        do {
            try await self.catalog.retryDownload(job, at: next, error: reason, now: now)
        } catch CatalogError.leaseLost {
            return self.leaseLost(job, logger: logger)
        }
        self.state.withLock { state in
            state.metrics.retried += 1
            state.retryTimes.append(next)
        }
        logger.debug(
            "recording not fetched; retrying",
            metadata: ["download.reason": "\(LogText.escaped(reason, limit: 1024))", "download.retry-at": "\(next)"]
        )
        return .retrying(at: next, reason: reason)
    }

    /// Ends the job for good: the reason is the download row's error, an audit entry (`download-refused`)
    /// records it (a refused host or redirect hop is a security event), and it is logged once at warning
    /// (nothing is written, no retry would help). The audit entry comes first, so a refusal is never without one.
    private func refuse(_ job: DownloadJob, reason: String, logger: Logger) async throws -> DownloadOutcome.Result {
        let now = self.time.now()
        try await self.catalog.appendAudit(
            AuditEvent(
                at: now,
                actor: self.configuration.actor,
                action: Self.refusedAction,
                callSid: job.callSid,
                path: nil,
                detail: [
                    "job": "\(job.id)", "url": URLRedaction.redacting(job.url), "reason": reason,
                    "attempt": "\(job.attempts)",
                ]
            )
        )
        do {
            try await self.catalog.refuseDownload(job, reason: reason, at: now)
        } catch CatalogError.leaseLost {
            return self.leaseLost(job, logger: logger)
        }
        self.state.withLock { $0.metrics.refused += 1 }
        logger.warning(
            "recording download refused",
            metadata: [
                "download.reason": "\(LogText.escaped(reason, limit: 1024))",
                "download.url": "\(LogText.escaped(URLRedaction.redacting(job.url)))",
            ]
        )
        return .refused(reason: reason)
    }

    /// The audit action of a refused download.
    public static let refusedAction = "download-refused"

    /// The fetcher is stopping: the job goes back as due now, so the next run (or another node) picks it up
    /// without waiting for the lease. Written from a fresh task: this one is cancelled.
    private func interrupted(_ job: DownloadJob, logger: Logger) async -> DownloadOutcome.Result {
        let catalog = self.catalog
        let now = self.time.now()
        let putBack = Task {
            try await catalog.retryDownload(
                job,
                at: now,
                error: "interrupted: the fetcher stopped during the download",
                now: now
            )
        }
        do {
            try await putBack.value
        } catch {
            logger.warning(
                "an interrupted download could not be put back; it is claimed again when its lease runs out",
                metadata: ["error": "\(error)"]
            )
        }
        self.state.withLock { $0.metrics.interrupted += 1 }
        return .interrupted
    }

    private func stillHolds(_ job: DownloadJob) async throws -> Bool {
        guard let current = try await self.catalog.downloadJob(id: job.id) else { return false }
        return current.state == .running && current.claimToken == job.claimToken
    }

    private func leaseLost(_ job: DownloadJob, logger: Logger) -> DownloadOutcome.Result {
        self.state.withLock { $0.metrics.leasesLost += 1 }
        logger.warning("the download job's lease ran out and another worker holds it now; leaving it to that one")
        return .leaseLost
    }

    // MARK: - Helpers

    /// Runs blocking file work on the fetcher's disk queue.
    private func onDisk<T: Sendable>(
        _ body: @escaping @Sendable () throws(MediaError) -> T
    ) async throws(MediaError) -> T {
        let result: Result<T, MediaError> = await withCheckedContinuation { continuation in
            self.disk.async { continuation.resume(returning: Result { () throws(MediaError) -> T in try body() }) }
        }
        return try result.get()
    }

    /// Removes temporary files of earlier claims of this job (a worker that died mid-download).
    static func removeTemporaries(in directory: String, jobId: Int64) {
        let prefix = "\(directory)/.recording-\(jobId)-"
        for path in FileSystem.files(under: directory, withSuffix: ".part") where path.hasPrefix(prefix) {
            unlink(path)
        }
    }

    struct Probe: Sendable, Hashable {
        var channels: Int
        var sampleRate: Int
        var seconds: Double?
    }

    /// Channels, rate and length as libsndfile reads them; nil when it cannot (the file is kept regardless:
    /// it passed the audio check and is the platform's record).
    static func probe(_ path: String) -> Probe? {
        guard let file = try? SoundFile.open(readingFrom: path) else { return nil }
        defer { try? file.close() }
        let info = file.info
        guard info.channels > 0, info.sampleRate > 0 else { return nil }
        let seconds = info.frames > 0 ? Double(info.frames) / Double(info.sampleRate) : nil
        return Probe(channels: info.channels, sampleRate: info.sampleRate, seconds: seconds)
    }

    private func metricsMetadata() -> Logger.Metadata {
        let metrics = self.metrics
        return [
            "download.claimed": "\(metrics.claimed)", "download.stored": "\(metrics.stored)",
            "download.already-stored": "\(metrics.alreadyStored)", "download.conflicts": "\(metrics.conflicts)",
            "download.retried": "\(metrics.retried)", "download.failed": "\(metrics.failed)",
            "download.refused": "\(metrics.refused)", "download.interrupted": "\(metrics.interrupted)",
            "download.leases-lost": "\(metrics.leasesLost)", "download.bytes-stored": "\(metrics.bytesStored)",
        ]
    }
}
