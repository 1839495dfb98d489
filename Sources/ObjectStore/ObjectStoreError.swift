/// What went wrong talking to the object store. `description` names the operation, the key and what to do;
/// `code` is stable and value-free (metrics, `--json`). No case carries a credential.
public enum ObjectStoreError: Error, CustomStringConvertible, Sendable, Hashable {
    /// The store answered with an error status (and, when readable, its error document).
    case refused(operation: String, key: String, status: Int, s3Code: String, message: String)
    /// The request did not complete (connection refused, reset, timed out).
    case unreachable(operation: String, endpoint: String, reason: String)
    /// The answer could not be read: no XML, a missing field, a body over the limit.
    case badResponse(operation: String, key: String, reason: String)
    /// A local file could not be read for upload, or written on download.
    case localFile(path: String, reason: String)
    /// The configuration cannot work (an endpoint that is no URL, a bucket name S3 refuses).
    case invalidConfiguration(reason: String)

    public var code: String {
        switch self {
        case .refused: "s3.refused"
        case .unreachable: "s3.unreachable"
        case .badResponse: "s3.bad_response"
        case .localFile: "s3.local_file"
        case .invalidConfiguration: "s3.configuration"
        }
    }

    /// Whether trying again later may succeed (a refusal of the request itself will not).
    public var isTransient: Bool {
        switch self {
        case .unreachable, .badResponse: true
        case .refused(_, _, let status, let s3Code, _):
            status >= 500 || status == 429 || s3Code == "SlowDown" || s3Code == "RequestTimeout"
        case .localFile, .invalidConfiguration: false
        }
    }

    /// The store's answer was 404 (no such key, version or upload).
    public var isNotFound: Bool {
        if case .refused(_, _, 404, _, _) = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .refused(let operation, let key, let status, let s3Code, let message):
            let what = s3Code.isEmpty ? "HTTP \(status)" : "\(s3Code) (HTTP \(status))"
            let hint =
                switch s3Code {
                case "AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId":
                    "; check archive.s3's credentials and region"
                case "NoSuchBucket": "; create the bucket with Object Lock enabled (docs/ARCHIVE.md)"
                case "InvalidRequest" where message.lowercased().contains("lock"):
                    "; the bucket must have Object Lock enabled (docs/ARCHIVE.md)"
                case "BadDigest", "XAmzContentSHA256Mismatch":
                    "; the bytes changed on the way or on disk: the upload is retried"
                default: ""
                }
            return "\(operation) \(key.isEmpty ? "" : "of \(key) ")refused by the object store: \(what)"
                + (message.isEmpty ? "" : ": \(message)") + hint
        case .unreachable(let operation, let endpoint, let reason):
            return "\(operation) could not reach the object store at \(endpoint): \(reason); "
                + "check archive.s3.endpoint and that the store is up"
        case .badResponse(let operation, let key, let reason):
            return
                "\(operation)\(key.isEmpty ? "" : " of \(key)"): the object store's answer could not be read: \(reason)"
        case .localFile(let path, let reason):
            return "cannot use \(path) for the object store: \(reason)"
        case .invalidConfiguration(let reason):
            return "archive.s3: \(reason)"
        }
    }
}
