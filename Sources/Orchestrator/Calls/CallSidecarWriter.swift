public import Catalog
import Logging
public import MediaStore

#if canImport(Glibc)
import Glibc
#endif

/// Keeps each call's `call.json` (the record `catalog rebuild` reads) in step with the catalog.
///
/// Every change to a call (placed, a callback, what the reconciler learnt) ends with `refresh`,
/// which rewrites the whole sidecar from the catalog, durably (temporary file, fsync, rename).
/// One actor serialises writers, so two changes of one call never interleave their files.
public actor CallSidecarWriter {
    public nonisolated let layout: StorageLayout
    private let catalog: Catalog
    private let exorecVersion: String
    private let logger: Logger

    public init(layout: StorageLayout, catalog: Catalog, exorecVersion: String, logger: Logger) {
        self.layout = layout
        self.catalog = catalog
        self.exorecVersion = exorecVersion
        self.logger = logger
    }

    /// The folder of a call's files (`media/<account>/<yyyy>/<mm>/<dd>/<CallSid>`, by when it was placed).
    public nonisolated func callDirectory(accountSid: String, callSid: String, placedAt: Timestamp) throws -> String {
        self.layout.callDirectory(
            account: try PathSafeIdentifier(accountSid, field: "AccountSid"), callSid: try PathSafeIdentifier(callSid, field: "CallSid"),
            startedAt: placedAt)
    }

    /// Rewrites `call.json` of `callSid` from the catalog; returns its path (nil when the catalog
    /// knows nothing of the call).
    ///
    /// A call exorec did not place (only callbacks for it arrived) gets its `call.json` under the
    /// account folder `_unknown`, dated by its first callback, so a rebuild keeps those callbacks too;
    /// once the call is known that copy is removed.
    @discardableResult
    public func refresh(callSid: String) async throws -> String? {
        guard let sidecar = try await self.catalog.callSidecar(callSid: callSid, exorecVersion: self.exorecVersion) else {
            return nil
        }
        let firstCallback = sidecar.callbacks.map(\.receivedAt).min()
        let unknownDirectory = try firstCallback.map {
            try self.callDirectory(accountSid: CallSidecar.unknownAccount, callSid: sidecar.callSid, placedAt: $0)
        }
        let directory: String
        if let placedAt = sidecar.placedAt {
            directory = try self.callDirectory(accountSid: sidecar.accountSid, callSid: sidecar.callSid, placedAt: placedAt)
        } else if let unknownDirectory {
            directory = unknownDirectory
        } else {
            return nil
        }
        try FileSystem.makeDirectories(directory)
        let path = CallSidecar.path(inCallDirectory: directory)
        try sidecar.write(to: path, durable: true)
        if sidecar.placedAt != nil, let unknownDirectory, unknownDirectory != directory {
            let stale = CallSidecar.path(inCallDirectory: unknownDirectory)
            if FileSystem.exists(stale) {
                unlink(stale)
                rmdir(unknownDirectory)
            }
        }
        return path
    }
}
