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
            account: try PathSafeIdentifier(accountSid, field: "AccountSid"),
            callSid: try PathSafeIdentifier(callSid, field: "CallSid"),
            startedAt: placedAt
        )
    }

    /// Rewrites `call.json` of `callSid` from the catalog; returns its path (nil when the catalog
    /// knows nothing of the call).
    ///
    /// The call's folder is the one the catalog fixed (a call placed elsewhere: its first stream's folder,
    /// or one dated by its first callback), else the one its account and placement time give. A call placed
    /// elsewhere whose account is not known yet sits under the account folder `_unknown` until one is named;
    /// a copy left in a folder the call no longer uses is removed. Callbacks of a CallSid that is not a call
    /// (older catalogs) keep their `_unknown` folder, dated by the first callback.
    @discardableResult
    public func refresh(callSid: String) async throws -> String? {
        guard let sidecar = try await self.catalog.callSidecar(callSid: callSid, exorecVersion: self.exorecVersion)
        else {
            return nil
        }
        let call = try await self.catalog.call(sid: callSid)
        let firstCallback = sidecar.callbacks.map(\.receivedAt).min()
        let unknownDirectory = try firstCallback.map {
            try self.callDirectory(accountSid: CallSidecar.unknownAccount, callSid: sidecar.callSid, placedAt: $0)
        }
        let directory: String
        if let folder = call?.folder {
            directory = self.layout.absolute(folder)
        } else if let placedAt = sidecar.placedAt {
            directory = try self.callDirectory(
                accountSid: sidecar.accountSid,
                callSid: sidecar.callSid,
                placedAt: placedAt
            )
        } else if let unknownDirectory {
            directory = unknownDirectory
        } else {
            return nil
        }
        try FileSystem.makeDirectories(directory)
        let path = CallSidecar.path(inCallDirectory: directory)
        try sidecar.write(to: path, durable: true)
        // Where an earlier state of the call put its call.json: the `_unknown` folder by first callback, or
        // by first sight while its account was unknown.
        var stale: [String] = []
        if let unknownDirectory { stale.append(unknownDirectory) }
        if let call {
            stale.append(
                try self.callDirectory(
                    accountSid: CallSidecar.unknownAccount,
                    callSid: callSid,
                    placedAt: call.placedAt
                )
            )
        }
        for old in stale where old != directory {
            let file = CallSidecar.path(inCallDirectory: old)
            if FileSystem.exists(file) {
                unlink(file)
                rmdir(old)
            }
        }
        return path
    }
}
