import Catalog

/// Why retention could not plan or finish a run.
public enum RetentionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `--older-than` is not an age exorec accepts.
    case badAge(text: String, reason: String)
    /// A file could not be deleted (permissions, I/O). The call's journal entry stays pending and the next run
    /// tries again; nothing of the call was removed from the catalog.
    case cannotDelete(path: String, callSid: String, reason: String)

    /// A stable, value-free name for metrics and `--json`.
    public var code: String {
        switch self {
        case .badAge: "retention.bad-age"
        case .cannotDelete: "retention.cannot-delete"
        }
    }

    public var description: String {
        switch self {
        case .badAge(let text, let reason):
            "'\(text)' is not an age: \(reason)"
        case .cannotDelete(let path, let callSid, let reason):
            "cannot delete \(path) of \(RetentionKey.streamSid(in: callSid).map { "stream without a call \($0)" } ?? "call \(callSid)"): \(reason); fix the permissions or the disk and run "
                + "`exorec retention apply --yes` again, which finishes this call (its catalog rows are still there)"
        }
    }
}
