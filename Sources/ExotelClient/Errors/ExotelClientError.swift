import ExotelKit

/// Why an ``ExotelClient`` call failed. Platform answers keep the platform's own message
/// (`The 'From' parameter is required.`) and HTTP status.
public enum ExotelClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The request breaks a platform rule; it was not sent.
    case invalidRequest(ConnectRequestError)
    /// An account or call sid that cannot go into a URL path safely; nothing was sent.
    case invalidIdentifier(name: String, value: String, reason: String)
    /// An endpoint or recording URL that cannot be used; nothing was sent.
    case invalidURL(String, reason: String)
    /// A recording URL on a host outside ``ExotelClientConfiguration/allowedRecordingHosts``; the account's
    /// credentials were not sent there.
    case recordingHostNotAllowed(host: String)
    /// A recording redirect that leads where the host rules refuse (another host, port or scheme, too many
    /// hops): hop `hop` (1 is the first redirect) was not requested. `url` is redacted.
    case redirectRefused(hop: Int, url: String, reason: String)
    /// 401 or 403: wrong key pair, the wrong region for the key, or a feature the account lacks.
    case unauthorized(status: Int, message: String?)
    /// 404: no such call, or a recording that is not available yet (they appear minutes after the call).
    case notFound(message: String?)
    /// Any other 4xx the platform answered, usually with a `RestException` message.
    case rejected(status: Int, message: String?, code: String?)
    /// Still 429 after the retry policy ran out of attempts or time.
    case rateLimited(message: String?, attempts: Int)
    /// 5xx: after retries for idempotent requests; at once for `Calls/connect`, which may have placed a call.
    case server(status: Int, message: String?, attempts: Int)
    /// No HTTP response (connection refused, timeout, reset).
    case transport(TransportError, attempts: Int)
    /// A response that is neither a `Call` nor a `RestException`.
    case malformedResponse(status: Int, reason: String)
    /// A recording larger than the download's limit (announced by `Content-Length`, or found while reading);
    /// the download was stopped.
    case recordingTooLarge(url: String, limit: Int, announced: Int64?)
    /// The ``RecordingSink`` receiving a download failed (a disk write, say); the download was stopped.
    case sinkFailed(reason: String)
    /// The calling task was cancelled while waiting for the rate limiter or a retry.
    case cancelled

    /// The HTTP status behind the error, when there was a response.
    public var httpStatus: Int? {
        switch self {
        case .invalidRequest(let error): error.httpStatus
        case .unauthorized(let status, _), .rejected(let status, _, _), .server(let status, _, _),
            .malformedResponse(let status, _):
            status
        case .notFound: 404
        case .rateLimited: 429
        case .invalidIdentifier, .invalidURL, .recordingHostNotAllowed, .redirectRefused, .transport,
            .recordingTooLarge,
            .sinkFailed, .cancelled:
            nil
        }
    }

    /// The platform's message (`RestException.Message`), or the local validation message in the platform's words.
    public var platformMessage: String? {
        switch self {
        case .invalidRequest(let error): error.message
        case .unauthorized(_, let message), .notFound(let message), .rejected(_, let message, _),
            .rateLimited(let message, _), .server(_, let message, _):
            message
        case .invalidIdentifier, .invalidURL, .recordingHostNotAllowed, .redirectRefused, .transport,
            .malformedResponse,
            .recordingTooLarge, .sinkFailed, .cancelled:
            nil
        }
    }

    /// A stable identifier without associated values, for metrics labels and `--json` output.
    public var code: String {
        switch self {
        case .invalidRequest: "invalid-request"
        case .invalidIdentifier: "invalid-identifier"
        case .invalidURL: "invalid-url"
        case .recordingHostNotAllowed: "recording-host-not-allowed"
        case .redirectRefused: "redirect-refused"
        case .unauthorized: "unauthorized"
        case .notFound: "not-found"
        case .rejected: "rejected"
        case .rateLimited: "rate-limited"
        case .server: "server"
        case .transport: "transport"
        case .malformedResponse: "malformed-response"
        case .recordingTooLarge: "recording-too-large"
        case .sinkFailed: "sink-failed"
        case .cancelled: "cancelled"
        }
    }

    public var description: String {
        switch self {
        case .invalidRequest(let error):
            "invalid Calls/connect request, not sent: \(error.message)"
        case .invalidIdentifier(let name, let value, let reason):
            "\(name) \"\(value)\" \(reason); it goes into the URL path, so nothing was sent"
        case .invalidURL(let url, let reason):
            "cannot use URL \"\(url)\": \(reason)"
        case .recordingHostNotAllowed(let host):
            "recording origin \"\(host)\" is not in allowedRecordingHosts (scheme, host and port); nothing was sent to it"
        case .redirectRefused(let hop, let url, let reason):
            "recording redirect \(hop) to \"\(url)\" refused, nothing was sent there: \(reason)"
        case .unauthorized(let status, let message):
            "Exotel refused the credentials (HTTP \(status))\(Self.suffix(message)); check the API key, token and region"
        case .notFound(let message):
            "Exotel has no such resource (HTTP 404)\(Self.suffix(message))"
        case .rejected(let status, let message, let code):
            "Exotel rejected the request (HTTP \(status)\(code.map { ", code \($0)" } ?? ""))\(Self.suffix(message))"
        case .rateLimited(let message, let attempts):
            "Exotel is still rate limiting after \(attempts) attempt(s) (HTTP 429)\(Self.suffix(message))"
        case .server(let status, let message, let attempts):
            "Exotel failed with HTTP \(status) after \(attempts) attempt(s)\(Self.suffix(message))"
        case .transport(let error, let attempts):
            "no response from Exotel after \(attempts) attempt(s): \(error)"
        case .malformedResponse(let status, let reason):
            "unreadable response from Exotel (HTTP \(status)): \(reason)"
        case .recordingTooLarge(let url, let limit, let announced):
            "the recording at \(url) is larger than the limit of \(limit) bytes"
                + (announced.map { " (it announces \($0))" } ?? "")
                + "; raise the maximum recording size if it is genuine"
        case .sinkFailed(let reason):
            "the recording could not be stored while downloading: \(reason)"
        case .cancelled:
            "cancelled"
        }
    }

    private static func suffix(_ message: String?) -> String {
        message.map { ": \($0)" } ?? ""
    }
}
