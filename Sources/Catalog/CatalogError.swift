import MediaStore

/// Everything that can go wrong while using or rebuilding the catalog.
public enum CatalogError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    /// The file was migrated by a newer exorec; this one does not know its tables.
    case schemaTooNew(path: String, found: Int, supported: Int)
    /// The catalog has not been migrated to the schema this code needs (call `migrate()`).
    case schemaTooOld(path: String, found: Int, required: Int)
    case migrationFailed(version: Int, name: String, reason: String)
    case unknownCall(callSid: String)
    case invalidCallback(reason: String)
    case unknownDownload(id: Int64)
    /// The job's lease was taken over by another worker (or the job was finished already).
    case leaseLost(id: Int64)
    case closed(path: String)
    case database(operation: String, reason: String)
    case rebuildFailed(reason: String)
    /// `hold add` on a call that already has an active hold.
    case alreadyHeld(callSid: String, reason: String)
    /// `hold rm` on a call without an active hold.
    case notHeld(callSid: String)
    /// Retention was about to delete a call that is (now) on legal hold.
    case callHeld(callSid: String)
    /// The call is being deleted by retention (its journal entry is pending).
    case deletionPending(callSid: String)
    /// A call that is still being recorded or downloaded cannot be deleted yet.
    case callBusy(callSid: String, reason: String)
    /// A hold's reason or author is empty or too long.
    case invalidHold(reason: String)
    /// A node tried to register under an id whose lease another process still holds.
    case nodeLive(nodeId: String, host: String, pid: Int64, leaseUntil: Timestamp)
    /// This process's incarnation of the node was replaced by a newer registration under the same id.
    case nodeFenced(nodeId: String, incarnation: Int64, current: Int64)
    /// `catalog migrate`: the target catalog already holds rows (copy into an empty one, or replace them).
    case copyTargetNotEmpty(path: String, table: String, rows: Int)
    /// `catalog migrate`: the source and the target are the same catalog, or the source has a table this
    /// version does not know.
    case copyRefused(reason: String)

    /// A stable, value-free name for metrics labels and `--json` output.
    public var code: String {
        switch self {
        case .cannotOpen: "catalog.open"
        case .schemaTooNew: "catalog.schema-too-new"
        case .schemaTooOld: "catalog.schema-too-old"
        case .migrationFailed: "catalog.migration"
        case .unknownCall: "catalog.unknown-call"
        case .invalidCallback: "catalog.invalid-callback"
        case .unknownDownload: "catalog.unknown-download"
        case .leaseLost: "catalog.lease-lost"
        case .closed: "catalog.closed"
        case .database: "catalog.database"
        case .rebuildFailed: "catalog.rebuild"
        case .alreadyHeld: "catalog.already-held"
        case .notHeld: "catalog.not-held"
        case .callHeld: "catalog.call-held"
        case .deletionPending: "catalog.deletion-pending"
        case .callBusy: "catalog.call-busy"
        case .invalidHold: "catalog.invalid-hold"
        case .nodeLive: "catalog.node-live"
        case .nodeFenced: "catalog.node-fenced"
        case .copyTargetNotEmpty: "catalog.copy-target-not-empty"
        case .copyRefused: "catalog.copy-refused"
        }
    }

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason):
            "cannot open the catalog \(path): \(reason)"
        case .schemaTooNew(let path, let found, let supported):
            "the catalog \(path) has schema version \(found), but this exorec knows versions up to \(supported); "
                + "use a newer exorec (or `exorec catalog rebuild` with this one, which recreates the catalog from the media files)"
        case .schemaTooOld(let path, let found, let required):
            "the catalog \(path) has schema version \(found) and needs \(required); run its migrations first"
        case .migrationFailed(let version, let name, let reason):
            "catalog migration \(version) (\(name)) failed and was rolled back: \(reason)"
        case .unknownCall(let callSid):
            "the catalog has no \(Self.subject(callSid))"
        case .invalidCallback(let reason):
            "the status callback cannot be recorded: \(reason)"
        case .unknownDownload(let id):
            "the catalog has no download job \(id)"
        case .leaseLost(let id):
            "download job \(id) is no longer held by this worker (its lease expired and another worker took it, or it was finished)"
        case .closed(let path):
            "the catalog \(path) is closed"
        case .database(let operation, let reason):
            "catalog \(operation) failed: \(reason)"
        case .rebuildFailed(let reason):
            "catalog rebuild failed, the previous catalog is unchanged: \(reason)"
        case .alreadyHeld(let callSid, let reason):
            "\(Self.subject(callSid)) is already on legal hold (\(reason)); `exorec hold ls` shows it"
        case .notHeld(let callSid):
            "\(Self.subject(callSid)) is not on legal hold; `exorec hold ls` lists the active holds"
        case .callHeld(let callSid):
            "\(Self.subject(callSid)) is on legal hold and is not deleted; release the hold first (`exorec hold rm`)"
        case .deletionPending(let callSid):
            "\(Self.subject(callSid)) is being deleted by an interrupted retention run; `exorec retention apply --yes` finishes it"
        case .callBusy(let callSid, let reason):
            "\(Self.subject(callSid)) cannot be deleted yet: \(reason)"
        case .invalidHold(let reason):
            "invalid legal hold: \(reason)"
        case .nodeLive(let nodeId, let host, let pid, let leaseUntil):
            "node \(nodeId) is live (process \(pid) on \(host), lease until \(leaseUntil)); give this process "
                + "another node.id, or stop that one first (`exorec nodes` lists the nodes)"
        case .nodeFenced(let nodeId, let incarnation, let current):
            "node \(nodeId) was registered again by another process (incarnation \(current)); this one "
                + "(incarnation \(incarnation)) no longer acts as the node"
        case .copyTargetNotEmpty(let path, let table, let rows):
            "the target catalog \(path) is not empty (\(table) has \(rows) rows); nothing was copied "
                + "(copy into an empty database, or pass --replace to delete its rows first)"
        case .copyRefused(let reason):
            "cannot copy the catalog: \(reason); nothing was copied"
        }
    }

    /// "call CA…", or "stream without a call MZ…" for a `stream:<stream_sid>` key (``RetentionKey``).
    private static func subject(_ key: String) -> String {
        RetentionKey.streamSid(in: key).map { "stream without a call \($0)" } ?? "call \(key)"
    }
}
