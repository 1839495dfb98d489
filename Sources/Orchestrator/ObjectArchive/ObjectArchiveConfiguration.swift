import Foundation
public import ObjectStore

/// How the object archive uploads, locks and evicts (`archive.*` in `exorec.yaml`, docs/ARCHIVE.md).
public struct ObjectArchiveConfiguration: Sendable {
    public var s3: S3Configuration
    /// Prepended to each file's path under the storage root to make its key (`exorec/` + `media/…`).
    public var prefix: String
    public var lockMode: ObjectLock.Mode
    /// How long each version is locked from its upload.
    public var retention: Duration
    /// Evict local media this long after a verified upload; nil keeps every local copy.
    public var keepLocal: Duration?
    /// Uploads at once per process.
    public var workers: Int
    /// `call.json` is sealed this long after the call's terminal status (later callbacks still change it).
    public var callJSONAfter: Duration
    public var storageRoot: String
    /// Who uploads, in the audit log (`archiver:<node>`).
    public var actor: String
    /// How long a claim holds a job; renewed every third of it while the upload runs, so a job whose process
    /// died is taken up by another within one lease.
    public var lease: Duration = .seconds(30)
    /// How often the service looks for due jobs and holds to sync.
    public var pollInterval: Duration = .seconds(2)
    /// How often the service scans the catalog for finished files to queue (a scan reads every media file's
    /// row: it is kept apart from the cheap polls), and evicts.
    public var scanInterval: Duration = .seconds(15)
    /// Attempts before a job that keeps failing for a non-transient reason is marked failed.
    public var maxAttempts: Int = 12

    public init(
        s3: S3Configuration,
        prefix: String = "exorec/",
        lockMode: ObjectLock.Mode = .compliance,
        retention: Duration,
        keepLocal: Duration? = nil,
        workers: Int = 4,
        callJSONAfter: Duration = .seconds(60),
        storageRoot: String,
        actor: String
    ) {
        self.s3 = s3
        self.prefix = prefix
        self.lockMode = lockMode
        self.retention = retention
        self.keepLocal = keepLocal
        self.workers = max(1, workers)
        self.callJSONAfter = callJSONAfter
        self.storageRoot = storageRoot
        self.actor = actor
    }

    /// The object key of a file (path relative to the storage root).
    public func key(for path: String) -> String { self.prefix + path }
}
