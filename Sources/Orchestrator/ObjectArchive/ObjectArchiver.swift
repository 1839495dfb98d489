public import Catalog
import Dispatch
import ExotelKit
import Foundation
public import Logging
public import MediaStore
public import ObjectStore
public import ServiceLifecycle
import Synchronization

/// Seals finished files in an S3 bucket with Object Lock: the WORM archive (docs/ARCHIVE.md).
///
/// Each round it (1) queues what is finished and not queued yet (``Catalog/enqueueFinishedMediaForArchive(at:limit:)``,
/// and `call.json` of calls over for ``ObjectArchiveConfiguration/callJSONAfter``), (2) tells the store of
/// legal holds placed or released since, (3) uploads the queue with ``ObjectArchiveConfiguration/workers``
/// workers, and (4) evicts local media past ``ObjectArchiveConfiguration/keepLocal``.
///
/// An upload sends the file's SHA-256 (`x-amz-checksum-sha256`; per part for multipart), so the store refuses
/// bytes that changed on the way; the version gets its retention (and the call's legal hold) in the request
/// that creates it. Before uploading, the worker asks for the key's latest version: one that carries the same
/// SHA-256 (`x-amz-meta-exorec-sha256`) is a finished upload whose record a killed process did not write, and
/// is recorded instead of uploaded again, so a kill never leaves two versions of one file. Multipart uploads
/// left open by a kill are aborted before the file is uploaded again.
///
/// Several processes (nodes) can share one queue: jobs are claimed with leases in the catalog.
public final class ObjectArchiver: Service, Sendable {
    public let configuration: ObjectArchiveConfiguration
    public let catalog: Catalog
    public let client: S3Client
    public let layout: StorageLayout
    private let logger: Logger
    private let metrics = Mutex(Report())

    /// What one drain did (and, for the service, what it did since start).
    public struct Report: Sendable, Hashable, Codable {
        public var queued = 0
        public var uploaded = 0
        public var adopted = 0
        public var bytes: Int64 = 0
        public var failed = 0
        public var holdsSynced = 0
        public var holdSyncFailures = 0
        public var evicted = 0
        public var errors: [String] = []
        /// Set when the store could not be reached: the round stopped claiming jobs at the first such error
        /// (every other job would have waited for the same connect timeout).
        public var storeUnreachable: String?

        enum CodingKeys: String, CodingKey {
            case queued, uploaded, adopted, bytes, failed, evicted, errors
            case storeUnreachable = "store_unreachable"
            case holdsSynced = "holds_synced", holdSyncFailures = "hold_sync_failures"
        }

        public init() {}

        mutating func add(_ other: Report) {
            self.queued += other.queued
            self.uploaded += other.uploaded
            self.adopted += other.adopted
            self.bytes += other.bytes
            self.failed += other.failed
            self.holdsSynced += other.holdsSynced
            self.holdSyncFailures += other.holdSyncFailures
            self.evicted += other.evicted
            self.storeUnreachable = self.storeUnreachable ?? other.storeUnreachable
            self.errors += other.errors
            if self.errors.count > 50 { self.errors.removeFirst(self.errors.count - 50) }
        }
    }

    public init(configuration: ObjectArchiveConfiguration, catalog: Catalog, client: S3Client, logger: Logger) {
        self.configuration = configuration
        self.catalog = catalog
        self.client = client
        self.layout = StorageLayout(root: configuration.storageRoot)
        var logger = logger
        logger[metadataKey: "component"] = "object-archiver"
        self.logger = logger
    }

    /// What the service did since it started.
    public var totals: Report { self.metrics.withLock { $0 } }

    public func run() async throws {
        self.logger.info(
            "object archive on",
            metadata: [
                "s3.endpoint": "\(self.configuration.s3.endpointDescription)",
                "s3.bucket": "\(self.configuration.s3.bucket)", "s3.prefix": "\(self.configuration.prefix)",
                "archive.lock_mode": "\(self.configuration.lockMode.rawValue)",
            ]
        )
        await withGracefulShutdownHandler {
            var lastScan: ContinuousClock.Instant?
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                let scan = lastScan.map { ContinuousClock.now - $0 >= self.configuration.scanInterval } ?? true
                if scan { lastScan = .now }
                let report = await self.drain(scan: scan, progress: nil)
                self.metrics.withLock { $0.add(report) }
                try? await Task.sleep(for: self.configuration.pollInterval)
            }
        } onGracefulShutdown: {
        }
    }

    /// One whole round: queue, holds, uploads until the queue has nothing due, eviction. Never throws: each
    /// failure is recorded on its job (retried with backoff) and in the report.
    /// - Parameter scan: queue what is finished and evict first (a full scan of the catalog's media); without
    ///   it, only due jobs and hold syncs are worked.
    public func drain(scan: Bool = true, progress: (@Sendable (Report) -> Void)?) async -> Report {
        var report = Report()
        if scan {
            do {
                report.queued = try await self.enqueueFinished()
            } catch {
                report.errors.append("queueing finished files: \(error)")
            }
        }
        report.add(await self.syncHolds())
        let uploads = SharedReport()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<self.configuration.workers {
                group.addTask {
                    // A store that cannot be reached fails every job alike: stop at the first.
                    while !Task.isCancelled, uploads.state.withLock({ $0.storeUnreachable == nil }) {
                        let job: ArchiveJob?
                        do {
                            job = try await self.catalog.claimNextArchiveJob(lease: self.configuration.lease)
                        } catch {
                            uploads.state.withLock { $0.errors.append("claiming a job: \(error)") }
                            return
                        }
                        guard let job else { return }
                        let one = await self.process(job)
                        let now = uploads.state.withLock { state in
                            state.add(one)
                            return state
                        }
                        progress?(now)
                    }
                }
            }
        }
        report.add(uploads.state.withLock { $0 })
        // Holds placed while the uploads ran.
        report.add(await self.syncHolds())
        if scan { report.add(await self.evict()) }
        return report
    }

    // MARK: - Queueing

    /// Queues what is finished and not queued yet (media, sidecars, `call.json`); returns how many files.
    public func enqueueFinished() async throws -> Int {
        var added = 0
        while true {
            let n = try await self.catalog.enqueueFinishedMediaForArchive(limit: 500)
            added += n
            if n == 0 { break }
        }
        let before = Timestamp.now().advanced(by: .zero - self.configuration.callJSONAfter)
        for call in try await self.catalog.callsReadyForArchive(terminalBefore: before, limit: 1000) {
            guard let folder = call.relativeFolder else { continue }
            let path = "\(folder)/\(CallSidecar.fileName)"
            guard FileManager.default.fileExists(atPath: self.layout.absolute(path)) else { continue }
            if try await self.catalog.enqueueArchive(path: path, callSid: call.callSid, kind: .call) { added += 1 }
        }
        return added
    }

    // MARK: - Uploading

    func process(_ job: ArchiveJob) async -> Report {
        var report = Report()
        let key = self.configuration.key(for: job.path)
        var logger = self.logger
        logger[metadataKey: "archive.path"] = "\(LogText.escaped(job.path))"
        // The lease is renewed while the upload runs (a large file may take longer than one lease).
        let lease = self.configuration.lease
        let renewal = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: lease / 3)
                try await self.catalog.renewArchiveLease(job, until: Timestamp.now().advanced(by: lease))
            }
        }
        defer { renewal.cancel() }
        do {
            let (object, adopted) = try await self.upload(job, key: key)
            try await self.catalog.completeArchiveJob(job, object: object, actor: self.configuration.actor)
            if adopted { report.adopted += 1 } else { report.uploaded += 1 }
            report.bytes += object.bytes
            logger.debug(
                adopted ? "archived object found and recorded" : "archived",
                metadata: ["s3.version_id": "\(object.versionID)", "archive.bytes": "\(object.bytes)"]
            )
        } catch {
            let transient = (error as? ObjectStoreError)?.isTransient ?? !(error is CatalogError)
            let giveUp = !transient && job.attempts >= self.configuration.maxAttempts
            let backoffSeconds = min(600, 2 << min(job.attempts, 9))
            let retryAt = Timestamp.now().advanced(by: .seconds(backoffSeconds))
            try? await self.catalog.retryArchiveJob(job, at: retryAt, error: "\(error)", giveUp: giveUp)
            report.failed += 1
            report.errors.append("\(job.path): \(error)")
            if case ObjectStoreError.unreachable = error { report.storeUnreachable = "\(error)" }
            logger.warning(
                "archive upload failed",
                metadata: [
                    "error": "\(error)", "archive.attempts": "\(job.attempts)",
                    "archive.retry_in_s": "\(giveUp ? -1 : backoffSeconds)",
                ]
            )
        }
        return report
    }

    /// Uploads the job's file, or adopts the key's latest version when it already holds this content.
    func upload(_ job: ArchiveJob, key: String) async throws -> (ArchivedObject, adopted: Bool) {
        let path = self.layout.absolute(job.path)
        let sha256: String
        if job.kind.isMedia, let file = try await self.catalog.mediaFile(path: job.path), let known = file.sha256 {
            sha256 = known
        } else {
            do { sha256 = try await BlockingWork.run { try FileSystem.sha256(of: path) } } catch let error as MediaError
            {
                throw ObjectStoreError.localFile(path: job.path, reason: error.description)
            }
        }
        let held = try await self.catalog.archiveHoldWanted(callSid: job.callSid, path: job.path)
        let now = Date()
        if let latest = try await self.client.headObject(key: key), latest.metadata["exorec-sha256"] == sha256,
            let version = latest.versionID
        {
            return (
                self.record(job, key: key, version: version, sha256: sha256, head: latest, held: latest.legalHold), true
            )
        }
        // Only an earlier attempt (a process killed mid-upload) can have left a multipart upload open.
        if job.attempts > 1 { try await self.abortStaleUploads(key: key) }
        let lock = ObjectLock(
            mode: self.configuration.lockMode,
            retainUntil: now.addingTimeInterval(Self.seconds(self.configuration.retention))
        )
        let stored = try await self.client.putFile(
            at: path,
            key: key,
            sha256: sha256,
            lock: lock,
            legalHold: held,
            metadata: ["exorec-sha256": sha256, "exorec-path": Self.headerSafe(job.path)]
        )
        let object = ArchivedObject(
            path: job.path,
            callSid: job.callSid,
            kind: job.kind,
            bucket: self.configuration.s3.bucket,
            key: key,
            versionID: stored.versionID,
            sha256: sha256,
            checksum: stored.checksumSHA256,
            bytes: stored.bytes,
            lockMode: lock.mode.rawValue,
            // Whole seconds, as the store keeps the retain-until date.
            retainUntil: Timestamp(millisecondsSinceEpoch: Int64(lock.retainUntil.timeIntervalSince1970) * 1000),
            legalHold: held,
            uploadedAt: .now(),
            uploadedBy: self.configuration.actor
        )
        return (object, false)
    }

    private func record(
        _ job: ArchiveJob,
        key: String,
        version: String,
        sha256: String,
        head: ObjectHead,
        held: Bool
    ) -> ArchivedObject {
        ArchivedObject(
            path: job.path,
            callSid: job.callSid,
            kind: job.kind,
            bucket: self.configuration.s3.bucket,
            key: key,
            versionID: version,
            sha256: sha256,
            checksum: head.checksumSHA256 ?? "",
            bytes: head.bytes,
            lockMode: head.lock?.mode.rawValue,
            retainUntil: head.lock.map {
                Timestamp(millisecondsSinceEpoch: Int64($0.retainUntil.timeIntervalSince1970 * 1000))
            },
            legalHold: held,
            uploadedAt: .now(),
            uploadedBy: self.configuration.actor
        )
    }

    /// Aborts the multipart uploads of `key` a killed process left open (they hold parts, never a version).
    private func abortStaleUploads(key: String) async throws {
        for upload in try await self.client.listMultipartUploads(prefix: key) where upload.key == key {
            try? await self.client.abortMultipartUpload(key: key, uploadID: upload.uploadID)
            self.logger.info(
                "aborted a multipart upload left open",
                metadata: ["archive.key": "\(LogText.escaped(key))"]
            )
        }
    }

    // MARK: - Legal holds

    /// Tells the store of every hold placed or released since the objects' last sync.
    public func syncHolds() async -> Report {
        var report = Report()
        do {
            let pending = try await self.catalog.archivedObjectsNeedingHoldSync(limit: 10_000)
            for (index, (object, wanted)) in pending.enumerated() {
                do {
                    try await self.client.putLegalHold(key: object.key, versionID: object.versionID, on: wanted)
                    try await self.catalog.markHoldSynced(
                        path: object.path,
                        version: object.holdVersion,
                        legalHold: wanted,
                        actor: self.configuration.actor
                    )
                    report.holdsSynced += 1
                } catch {
                    report.holdSyncFailures += 1
                    report.errors.append("legal hold of \(object.path): \(error)")
                    // A store that cannot be reached fails the rest alike: they stay pending for the next round.
                    if case ObjectStoreError.unreachable = error {
                        report.storeUnreachable = "\(error)"
                        report.holdSyncFailures += pending.count - index - 1
                        break
                    }
                }
            }
        } catch {
            report.errors.append("reading hold syncs: \(error)")
        }
        return report
    }

    // MARK: - Eviction

    /// Removes local media uploaded more than ``ObjectArchiveConfiguration/keepLocal`` ago, once the local file
    /// still hashes to the archived SHA-256 and the store still has the version with its checksum.
    public func evict() async -> Report {
        var report = Report()
        guard let keep = self.configuration.keepLocal else { return report }
        do {
            let before = Timestamp.now().advanced(by: .zero - keep)
            for object in try await self.catalog.evictionCandidates(uploadedBefore: before, limit: 1000) {
                let path = self.layout.absolute(object.path)
                do {
                    guard FileManager.default.fileExists(atPath: path) else {
                        try await self.catalog.markEvicted(path: object.path)
                        continue
                    }
                    guard try await BlockingWork.run({ try FileSystem.sha256(of: path) }) == object.sha256 else {
                        report.errors.append("\(object.path): the local file differs from the archived one; kept")
                        continue
                    }
                    guard let head = try await self.client.headObject(key: object.key, versionID: object.versionID),
                        head.checksumSHA256 == nil || head.checksumSHA256 == object.checksum
                    else {
                        report.errors.append("\(object.path): the archived version is missing or changed; kept")
                        continue
                    }
                    try FileManager.default.removeItem(atPath: path)
                    try await self.catalog.markEvicted(path: object.path)
                    report.evicted += 1
                } catch {
                    report.errors.append("evicting \(object.path): \(error)")
                }
            }
        } catch {
            report.errors.append("reading eviction candidates: \(error)")
        }
        return report
    }

    /// The workers' running total, shared between them.
    private final class SharedReport: Sendable {
        let state = Mutex(Report())
    }

    static func seconds(_ duration: Duration) -> Double {
        let (s, atto) = duration.components
        return Double(s) + Double(atto) / 1e18
    }

    /// Header values are ASCII: other bytes become `_` (the path is informative; the key has it exactly).
    static func headerSafe(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 ? $0 : "_" }))
    }
}
