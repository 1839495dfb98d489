/// Why an export did not run or stopped. Problems with single source files are not errors: they are in the
/// ``ExportReport``.
public enum ExportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The request itself is inconsistent (`ExportRequest.invalidReason`).
    case invalidRequest(String)
    /// No call matched the filters; nothing was written.
    case nothingMatched
    /// The destination is a file, not a folder.
    case destinationIsAFile(path: String)
    /// The destination is a folder with content that is not an unfinished export.
    case destinationNotEmpty(path: String)
    /// The destination holds an unfinished export of another request.
    case otherExportInProgress(path: String, fingerprint: String)
    /// Another export is writing to the destination right now.
    case destinationBusy(path: String)
    /// The journal of an unfinished export cannot be read.
    case unreadableJournal(path: String, reason: String)
    /// A payload file exists that the journal does not list: something else wrote into the export.
    case unexpectedFile(path: String)
    /// Writing the export failed (disk full, permissions, …).
    case io(String)

    public var description: String {
        switch self {
        case .invalidRequest(let reason):
            "cannot export: \(reason)"
        case .nothingMatched:
            "no calls matched; nothing was exported"
        case .destinationIsAFile(let path):
            "\(path) is a file; exorec export writes a new folder (it never overwrites)"
        case .destinationNotEmpty(let path):
            "\(path) exists and is not empty; exorec export never overwrites: choose a new or empty destination"
        case .otherExportInProgress(let path, let fingerprint):
            "\(path) holds an unfinished export of another selection (\(fingerprint)); rerun that command to finish it, "
                + "or choose another destination"
        case .destinationBusy(let path):
            "another exorec export is writing to \(path); wait for it to finish or choose another destination"
        case .unreadableJournal(let path, let reason):
            "the export journal \(path) cannot be read (\(reason)); the destination cannot be resumed: choose another one"
        case .unexpectedFile(let path):
            "\(path) exists but this export did not write it; exorec export never overwrites: remove it or choose another destination"
        case .io(let reason):
            "writing the export failed: \(reason)"
        }
    }
}
