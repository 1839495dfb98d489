/// Everything that can go wrong while storing or reading media.
public enum MediaError: Error, Equatable, CustomStringConvertible {
    case cannotCreate(path: String, reason: String)
    case cannotOpen(path: String, reason: String)
    case cannotClose(path: String, reason: String)
    case unsupportedFormat(path: String, reason: String)
    case shortWrite(path: String, wrote: Int, of: Int, reason: String)
    case invalidIdentifier(field: String, value: String)
    case io(path: String, operation: String, errno: Int32)
    case notAWav(path: String, reason: String)
    case invalidSidecar(path: String, reason: String)
    case storageLocked(path: String)
    /// Another process runs as this node on the storage root.
    case nodeLocked(path: String, node: String)

    /// A stable, value-free name for metrics labels and `--json` output.
    public var code: String {
        switch self {
        case .cannotCreate: "media.create"
        case .cannotOpen: "media.open"
        case .cannotClose: "media.close"
        case .unsupportedFormat: "media.format"
        case .shortWrite: "media.short-write"
        case .invalidIdentifier: "media.identifier"
        case .io: "media.io"
        case .notAWav: "media.not-wav"
        case .invalidSidecar: "media.sidecar"
        case .storageLocked: "media.locked"
        case .nodeLocked: "media.node-locked"
        }
    }

    public var description: String {
        switch self {
        case .cannotCreate(let path, let reason):
            "cannot create \(path): \(reason); check that the storage root exists and is writable"
        case .cannotOpen(let path, let reason):
            "cannot open \(path): \(reason)"
        case .cannotClose(let path, let reason):
            "closing \(path) failed: \(reason); the disk may be full"
        case .unsupportedFormat(let path, let reason):
            "cannot write \(path): \(reason)"
        case .shortWrite(let path, let wrote, let total, let reason):
            "wrote \(wrote) of \(total) samples to \(path) (\(reason)); the disk may be full"
        case .invalidIdentifier(let field, let value):
            "\(field) '\(value.prefix(80))' is not a valid identifier: use 1-128 characters from A-Z a-z 0-9 _ -"
        case .io(let path, let operation, let code):
            "\(operation) \(path) failed: \(String(cString: strerror(code))) (errno \(code))"
        case .notAWav(let path, let reason):
            "\(path) is not a repairable WAV file: \(reason)"
        case .invalidSidecar(let path, let reason):
            "sidecar \(path) cannot be read: \(reason)"
        case .storageLocked(let path):
            "another exorec process holds \(path); stop it or use another --storage root"
        case .nodeLocked(let path, let node):
            "another exorec process holds \(path) as node \(node); stop it, or give this one another node.id "
                + "(EXOREC_NODE_ID) to run both on one root"
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
