import ExotelKit
import MediaStore

/// A status callback as it arrived: the parsed values and the exact bytes, so nothing the
/// platform said is lost even if the parser ignores a field.
public struct ReceivedStatusCallback: Sendable, Hashable {
    /// The parsed callback; `callback.callSid` is non-empty and path-safe (`A-Z a-z 0-9 _ -`).
    public let callback: StatusCallback
    /// The body exactly as received.
    public let body: [UInt8]
    /// The request's `Content-Type`, parameters included (the multipart boundary).
    public let contentType: String
    /// The sender's IP address.
    public let remoteAddress: String
    /// When the body was complete (wall clock, UTC).
    public let receivedAt: Timestamp

    public init(
        callback: StatusCallback,
        body: [UInt8],
        contentType: String,
        remoteAddress: String,
        receivedAt: Timestamp
    ) {
        self.callback = callback
        self.body = body
        self.contentType = contentType
        self.remoteAddress = remoteAddress
        self.receivedAt = receivedAt
    }
}

/// A body that passed the endpoint's checks (token, source, method, type, size) but could not be
/// read as a status callback. It is answered 400 and kept, with the reason, for a person to look at.
public struct QuarantinedStatusCallback: Sendable, Hashable {
    public let body: [UInt8]
    public let contentType: String?
    public let remoteAddress: String
    public let receivedAt: Timestamp
    /// Why it was refused, as the 400 answer states it.
    public let reason: String

    public init(body: [UInt8], contentType: String?, remoteAddress: String, receivedAt: Timestamp, reason: String) {
        self.body = body
        self.contentType = contentType
        self.remoteAddress = remoteAddress
        self.receivedAt = receivedAt
        self.reason = reason
    }
}

/// What ``StatusCallbackSink/store(_:)`` did with a callback. Each is answered 200.
public enum StatusCallbackStoreResult: String, Sendable, Hashable {
    /// Stored for a call exorec knows.
    case stored
    /// Stored and flagged: no known call has this CallSid. Kept, never dropped.
    case storedUnknownCall = "unknown-call"
    /// The same callback was stored before (the platform retries and may send twice); nothing new
    /// was written.
    case duplicate
}

/// Where the status-callback endpoint puts what it receives; the orchestrator implements it with
/// the catalog.
///
/// The endpoint's answer waits for these calls, so they must be quick (a database write, a
/// few milliseconds) and must never wait on a download: the platform gives up after 15 s.
/// Callbacks arrive concurrently, and the same callback may arrive more than once: telling a
/// duplicate from a new one is the sink's job.
public protocol StatusCallbackSink: Sendable {
    /// Durably stores `callback` before returning.
    ///
    /// - Returns: what was done, which the endpoint counts and states in its 200 answer.
    /// - Throws: when the callback could not be stored; the endpoint answers 503 so the platform
    ///   retries.
    func store(_ callback: ReceivedStatusCallback) async throws -> StatusCallbackStoreResult

    /// Keeps a body that could not be parsed, with the reason; it is answered 400 once this returns.
    func quarantine(_ rejected: QuarantinedStatusCallback) async
}
