import ExotelKit
import Foundation
import MediaStore

/// A status callback as it arrived over HTTP.
public struct ReceivedCallback: Sendable, Hashable {
    public var receivedAt: Timestamp
    /// The request's `Content-Type` header (it carries the multipart boundary).
    public var contentType: String
    public var body: [UInt8]
    /// The peer's address, for the record (the platform signs nothing; see exotel-platform.md §3).
    public var sourceAddress: String?

    public init(receivedAt: Timestamp, contentType: String, body: [UInt8], sourceAddress: String? = nil) {
        self.receivedAt = receivedAt
        self.contentType = contentType
        self.body = body
        self.sourceAddress = sourceAddress
    }
}

/// What ``Catalog/recordCallback(_:)`` did with a callback.
public struct CallbackRecordResult: Sendable, Hashable {
    public enum Outcome: Sendable, Hashable {
        /// First time this callback was seen: a new row.
        case new
        /// The same callback (same dedup key) was recorded before: its row counts one more delivery, and the
        /// first delivery's raw body is kept.
        case duplicate
    }

    /// The callback's row id (the existing row's for a duplicate).
    public var id: Int64
    public var outcome: Outcome
    /// The CallSid was not a call exorec placed when the callback was first recorded (unknown, or a call
    /// placed elsewhere).
    public var unknownCall: Bool
    /// The parsed callback, so the caller need not parse the body again.
    public var callback: StatusCallback
    public var dedupKey: String

    public var isNew: Bool { self.outcome == .new }
}

/// What ``Catalog/storeCallback(_:queuedAt:)`` did with a callback.
public struct StoredCallback: Sendable, Hashable {
    /// How the callback was recorded (new or one more delivery, for a known call or not).
    public var record: CallbackRecordResult
    /// The recording download a new terminal callback queued (or found already queued); nil when it
    /// queued none.
    public var download: DownloadEnqueueResult?
    /// This callback was the first sight of a call exorec did not place: it is now a call placed elsewhere.
    public var createdElsewhereCall = false
}

/// The identity of a status callback: two deliveries with the same key are one callback.
///
/// SHA-256 (hex) over `CallSid`, `EventType`, `Status`, `DateUpdated`, `RecordingUrl` and the legs' statuses,
/// each separated by U+001F, absent values empty. The body's encoding (JSON or multipart, boundary, key order)
/// does not enter, so a retry in another encoding is still a duplicate. The legs' statuses are part of it
/// because the platform sends `answered` twice with the same `Status` — once when leg 1 answers and again when
/// leg 2 does — and both can fall in the same second of `DateUpdated`.
public enum CallbackDedupKey {
    public static func key(for callback: StatusCallback) -> String {
        let legs = callback.legs.map { $0.status ?? "" }.joined(separator: ",")
        let fields = [
            "v1", callback.callSid, callback.eventType ?? "", callback.status ?? "", callback.dateUpdated ?? "",
            callback.recordingURL ?? "", legs,
        ]
        return SHA256Hex.of(fields.joined(separator: "\u{1F}"))
    }
}

/// A status callback as stored.
public struct CallbackRecord: Sendable, Hashable, Codable {
    public var id: Int64
    public var receivedAt: Timestamp
    public var lastReceivedAt: Timestamp
    /// How many times it was delivered (1 + identical retries and duplicates).
    public var deliveries: Int
    public var callSid: String
    public var eventType: String?
    public var status: String?
    /// The platform's zone-less `DateUpdated`, as sent.
    public var dateUpdated: String?
    public var recordingURL: String?
    public var contentType: String
    /// The first delivery's body, byte for byte (base64 in JSON).
    public var rawBody: Data
    public var bodySHA256: String
    public var dedupKey: String
    public var unknownCall: Bool
    public var sourceAddress: String?

    enum CodingKeys: String, CodingKey {
        case id, deliveries, status
        case receivedAt = "received_at", lastReceivedAt = "last_received_at", callSid = "call_sid"
        case eventType = "event_type", dateUpdated = "date_updated", recordingURL = "recording_url"
        case contentType = "content_type", rawBody = "raw_body", bodySHA256 = "body_sha256", dedupKey = "dedup_key"
        case unknownCall = "unknown_call", sourceAddress = "source_address"
    }
}
