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
            "the catalog has no call \(callSid)"
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
        }
    }
}
