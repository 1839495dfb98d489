import ExotelKit
import FoundationEssentials

/// `call.json` in a call's folder (`media/<account>/<yyyy>/<mm>/<dd>/<CallSid>/`): what exorec asked the
/// platform for, what the platform answered, how the call's status moved and every status callback received.
///
/// With the stream and recording sidecars it is the record from which `exorec catalog rebuild` recreates the
/// catalog. A call exorec did not place (a callback for an unknown CallSid) has a `call.json` too, with no
/// `placed_at` or `request`, and `origin` `elsewhere` with `first_seen_at` (when exorec first saw it: a stream's
/// start or a callback); its account is the one the platform named, empty while none did. Files written before
/// calls placed elsewhere were catalogued have neither field and sit under the account folder ``unknownAccount``;
/// they are still read. Field names are snake_case and stable (`schema` says which shape).
public struct CallSidecar: Sendable, Hashable, Codable {
    /// Who reported a status: exorec itself when it placed the call, a status callback, or the reconciler
    /// reading Call Details.
    public enum StatusSource: String, Sendable, Hashable, Codable, CaseIterable {
        case placed, callback, reconciler
    }

    /// One entry of a callback's `Legs`: index 0 is leg 1 (`From`), index 1 leg 2 (`To`).
    public struct Leg: Sendable, Hashable, Codable {
        public var status: String?
        public var onCallDuration: Int?
        public var answeredBy: String?

        enum CodingKeys: String, CodingKey {
            case status, onCallDuration = "on_call_duration", answeredBy = "answered_by"
        }

        public init(status: String? = nil, onCallDuration: Int? = nil, answeredBy: String? = nil) {
            self.status = status
            self.onCallDuration = onCallDuration
            self.answeredBy = answeredBy
        }

        public init(_ leg: StatusCallback.Leg) {
            self.init(status: leg.status, onCallDuration: leg.onCallDuration, answeredBy: leg.answeredBy)
        }
    }

    /// One change of the call's status, in the order exorec learnt of them.
    public struct StatusChange: Sendable, Hashable, Codable {
        /// The platform's status (`queued`, `in-progress`, `completed`, `failed`, `busy`, `no-answer`, …).
        public var status: String
        public var source: StatusSource
        /// When exorec learnt of it (its own clock, not the platform's zone-less `DateUpdated`).
        public var at: Timestamp
        public var legs: [Leg]?
        public var conversationDuration: Int?
        public var recordingURL: String?

        enum CodingKeys: String, CodingKey {
            case status, source, at, legs
            case conversationDuration = "conversation_duration", recordingURL = "recording_url"
        }

        public init(
            status: String,
            source: StatusSource,
            at: Timestamp,
            legs: [Leg]? = nil,
            conversationDuration: Int? = nil,
            recordingURL: String? = nil
        ) {
            self.status = status
            self.source = source
            self.at = at
            self.legs = legs
            self.conversationDuration = conversationDuration
            self.recordingURL = recordingURL
        }

        /// The change a status callback reports: status, legs, `ConversationDuration` and `RecordingUrl`.
        public init(callback: StatusCallback, at: Timestamp) {
            self.init(
                status: callback.status ?? "unknown",
                source: .callback,
                at: at,
                legs: callback.legs.isEmpty ? nil : callback.legs.map(Leg.init),
                conversationDuration: callback.conversationDuration,
                recordingURL: callback.recordingURL
            )
        }
    }

    /// One distinct status callback as it arrived: the raw body is kept byte for byte (base64 in the file).
    ///
    /// Identical retries are one entry: `deliveries` counts them and `last_received_at` says when the last came.
    public struct Callback: Sendable, Hashable, Codable {
        public var receivedAt: Timestamp
        public var lastReceivedAt: Timestamp?
        public var deliveries: Int
        public var contentType: String
        public var sourceAddress: String?
        /// The body as received.
        public var body: [UInt8]
        /// The CallSid was not a call exorec had placed when the callback arrived.
        public var unknownCall: Bool

        enum CodingKeys: String, CodingKey {
            case deliveries
            case receivedAt = "received_at", lastReceivedAt = "last_received_at", contentType = "content_type"
            case sourceAddress = "source_address", body = "raw_body_base64", unknownCall = "unknown_call"
        }

        public init(
            receivedAt: Timestamp,
            lastReceivedAt: Timestamp? = nil,
            deliveries: Int = 1,
            contentType: String,
            sourceAddress: String? = nil,
            body: [UInt8],
            unknownCall: Bool = false
        ) {
            self.receivedAt = receivedAt
            self.lastReceivedAt = lastReceivedAt
            self.deliveries = deliveries
            self.contentType = contentType
            self.sourceAddress = sourceAddress
            self.body = body
            self.unknownCall = unknownCall
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.receivedAt = try container.decode(Timestamp.self, forKey: .receivedAt)
            self.lastReceivedAt = try container.decodeIfPresent(Timestamp.self, forKey: .lastReceivedAt)
            self.deliveries = try container.decodeIfPresent(Int.self, forKey: .deliveries) ?? 1
            self.contentType = try container.decode(String.self, forKey: .contentType)
            self.sourceAddress = try container.decodeIfPresent(String.self, forKey: .sourceAddress)
            let text = try container.decode(String.self, forKey: .body)
            guard let data = Data(base64Encoded: text) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .body,
                    in: container,
                    debugDescription: "raw_body_base64 is not valid base64"
                )
            }
            self.body = Array(data)
            self.unknownCall = try container.decodeIfPresent(Bool.self, forKey: .unknownCall) ?? false
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(self.receivedAt, forKey: .receivedAt)
            try container.encodeIfPresent(self.lastReceivedAt, forKey: .lastReceivedAt)
            try container.encode(self.deliveries, forKey: .deliveries)
            try container.encode(self.contentType, forKey: .contentType)
            try container.encodeIfPresent(self.sourceAddress, forKey: .sourceAddress)
            try container.encode(Data(self.body).base64EncodedString(), forKey: .body)
            try container.encode(self.unknownCall, forKey: .unknownCall)
        }
    }

    public static let currentSchema = 1
    /// The file name in the call's folder.
    public static let fileName = "call.json"
    /// The account folder of a call whose account no one has named yet (callbacks need not carry one); files
    /// of older versions put every callback for a call exorec did not place here.
    public static let unknownAccount = "_unknown"
    /// `origin` of a call exorec did not place (another tool placed it with exorec's URLs).
    public static let originElsewhere = "elsewhere"

    public var schema: Int = CallSidecar.currentSchema
    public var accountSid: String
    public var callSid: String
    /// When exorec placed the call; nil for a call it did not place.
    public var placedAt: Timestamp?
    /// `elsewhere` for a call another tool placed; absent (exorec placed it, or an older file) otherwise.
    public var origin: String?
    /// When exorec first saw a call placed elsewhere (its first stream start or callback).
    public var firstSeenAt: Timestamp?
    /// A call placed elsewhere: the numbers and CustomField the platform reported (first reported of each).
    public var from: String?
    public var to: String?
    public var customField: String?
    /// The `Calls/connect` form fields as sent, credentials removed (see ``requestParameters(from:)``).
    public var request: [String: String]?
    public var campaignId: String?
    public var campaignRowKey: String?
    /// What the user attached to the call (a campaign row's extra columns, `exorec call --meta`); see
    /// ``CallMetadata``. Absent when there is none.
    public var metadata: [String: String]?
    /// The platform's latest `Call` object (`{"Call":{…}}`), from the connect answer or Call Details.
    public var platformCall: SidecarJSON?
    public var statusHistory: [StatusChange]
    public var callbacks: [Callback]
    public var exorecVersion: String

    enum CodingKeys: String, CodingKey {
        case schema, request, callbacks, metadata, origin, from, to
        case firstSeenAt = "first_seen_at", customField = "custom_field"
        case accountSid = "account_sid", callSid = "call_sid", placedAt = "placed_at"
        case campaignId = "campaign_id", campaignRowKey = "campaign_row_key", platformCall = "platform_call"
        case statusHistory = "status_history", exorecVersion = "exorec_version"
    }

    public init(
        accountSid: String,
        callSid: String,
        placedAt: Timestamp?,
        request: [String: String]?,
        campaignId: String? = nil,
        campaignRowKey: String? = nil,
        platformCall: SidecarJSON?,
        statusHistory: [StatusChange] = [],
        callbacks: [Callback] = [],
        exorecVersion: String,
        metadata: [String: String]? = nil,
        origin: String? = nil,
        firstSeenAt: Timestamp? = nil
    ) {
        self.origin = origin
        self.firstSeenAt = firstSeenAt
        self.metadata = metadata
        self.accountSid = accountSid
        self.callSid = callSid
        self.placedAt = placedAt
        self.request = request
        self.campaignId = campaignId
        self.campaignRowKey = campaignRowKey
        self.platformCall = platformCall
        self.statusHistory = statusHistory
        self.callbacks = callbacks
        self.exorecVersion = exorecVersion
    }

    /// The platform's `Call` as a JSON value (what `platform_call` holds).
    public static func platformCallJSON(_ call: PlatformCall) -> SidecarJSON? {
        try? JSONDecoder().decode(SidecarJSON.self, from: Data(call.jsonBody()))
    }

    /// `platform_call` decoded back into the platform's `Call`; nil when absent or not a `Call` object.
    public var decodedPlatformCall: PlatformCall? {
        guard let platformCall, let bytes = try? JSONEncoder().encode(platformCall) else { return nil }
        return try? PlatformCall.decode(Array(bytes))
    }

    /// The request's form fields as a name → value map, safe to store: repeated names (`StatusCallbackEvents[]`)
    /// are joined with `,` in wire order, and every URL value loses its user-info (`wss://user:secret@host` →
    /// `wss://host`) and the values of secret-looking query parameters (``URLRedaction/redacting(_:)``): the
    /// platform takes a `StreamUrl`'s user-info as the Basic credentials of the WebSocket upgrade, and webhook
    /// owners protect a `StatusCallback` with a secret query parameter.
    public static func requestParameters(from fields: FormFields) -> [String: String] {
        var map: [String: String] = [:]
        for field in fields {
            let value = URLRedaction.redacting(field.value)
            if let existing = map[field.name] {
                map[field.name] = existing + "," + value
            } else {
                map[field.name] = value
            }
        }
        return map
    }

    /// The sidecar's path in a call folder.
    public static func path(inCallDirectory directory: String) -> String { "\(directory)/\(Self.fileName)" }

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Strings, numbers and JSON values only: encoding cannot fail.
        return Array((try? encoder.encode(self)) ?? Data()) + [UInt8(ascii: "\n")]
    }

    public static func decode(_ bytes: [UInt8], path: String) throws(MediaError) -> CallSidecar {
        do {
            return try JSONDecoder().decode(CallSidecar.self, from: Data(bytes))
        } catch {
            throw .invalidSidecar(path: path, reason: "\(error)")
        }
    }

    public static func load(from path: String) throws(MediaError) -> CallSidecar {
        try decode(try FileSystem.read(path), path: path)
    }

    public func write(to path: String, durable: Bool) throws(MediaError) {
        try FileSystem.writeAtomically(self.encoded(), to: path, durable: durable)
    }
}

/// A JSON value kept as it is inside a sidecar (the platform's `Call` object).
public enum SidecarJSON: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([SidecarJSON])
    case object([String: SidecarJSON])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([SidecarJSON].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: SidecarJSON].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
