/// Failures of the ingest server as a whole (a single stream's problems are close codes, not errors).
public enum IngestError: Error, Equatable, CustomStringConvertible {
    case serverStart(reason: String)
    case configuration(key: String, reason: String)

    public var code: String {
        switch self {
        case .serverStart: "ingest.start"
        case .configuration: "ingest.config"
        }
    }

    public var description: String {
        switch self {
        case .serverStart(let reason): "the ingest server cannot start: \(reason)"
        case .configuration(let key, let reason): "configuration \(key): \(reason)"
        }
    }
}
