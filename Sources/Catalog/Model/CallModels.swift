import ExotelKit
import MediaStore

/// A change of a call's status (the same value `call.json` holds in `status_history`).
public typealias StatusChange = CallSidecar.StatusChange
/// Where a status came from: `placed`, `callback` or `reconciler`.
public typealias StatusSource = CallSidecar.StatusSource
/// One leg of a call as a status callback reports it.
public typealias CallLeg = CallSidecar.Leg

/// The platform's call statuses after which nothing changes any more.
public enum CallStatus {
    public static let terminal: Set<String> = ["completed", "failed", "busy", "no-answer", "canceled"]

    public static func isTerminal(_ status: String) -> Bool { Self.terminal.contains(status.lowercased()) }
}

/// A call exorec has just placed: what it sent and what the platform answered.
public struct PlacedCall: Sendable, Hashable {
    public var callSid: String
    public var accountSid: String
    public var placedAt: Timestamp
    /// The form fields as sent, credentials removed (``CallSidecar/requestParameters(from:)``).
    public var parameters: [String: String]
    /// The platform's answer (`Call` of Calls/connect); its status is the call's first.
    public var platformCall: PlatformCall
    public var campaignId: String?
    public var campaignRowKey: String?
    /// What the user attached to the call (``CallMetadata``).
    public var metadata: [String: String]

    public init(
        callSid: String,
        accountSid: String,
        placedAt: Timestamp,
        parameters: [String: String],
        platformCall: PlatformCall,
        campaignId: String? = nil,
        campaignRowKey: String? = nil,
        metadata: [String: String] = [:]
    ) {
        self.metadata = metadata
        self.callSid = callSid
        self.accountSid = accountSid
        self.placedAt = placedAt
        self.parameters = parameters
        self.platformCall = platformCall
        self.campaignId = campaignId
        self.campaignRowKey = campaignRowKey
    }

    /// The call `request` placed, as the platform answered it (`response.sid` is the CallSid).
    public init(
        request: ConnectCallRequest,
        response: PlatformCall,
        accountSid: String,
        placedAt: Timestamp,
        campaignId: String? = nil,
        campaignRowKey: String? = nil,
        metadata: [String: String] = [:]
    ) {
        self.init(
            callSid: response.sid,
            accountSid: accountSid,
            placedAt: placedAt,
            parameters: CallSidecar.requestParameters(from: request.formFields()),
            platformCall: response,
            campaignId: campaignId,
            campaignRowKey: campaignRowKey,
            metadata: metadata
        )
    }

}

/// Who placed a call: exorec, or another tool that pointed its stream and status callbacks at exorec.
public enum CallOrigin: String, Sendable, Hashable, Codable, CaseIterable {
    case exorec
    case elsewhere
}

/// A call as the catalog knows it.
public struct CallRecord: Sendable, Hashable, Codable {
    public var callSid: String
    /// The platform's AccountSid; empty for a call placed elsewhere whose account no one has named yet.
    public var accountSid: String
    /// When exorec placed the call; for a call placed elsewhere, when exorec first saw it.
    public var placedAt: Timestamp
    /// `exorec`, or `elsewhere` for a call another tool placed.
    public var origin: CallOrigin
    /// The call's folder relative to the storage root when it was fixed at first sight (calls placed
    /// elsewhere); nil for exorec's calls (their account and placement time give it).
    public var folder: String?
    /// The request's form fields, credentials removed.
    public var parameters: [String: String]
    public var from: String?
    public var to: String?
    public var callerId: String?
    /// `Url` of a flow-mode call.
    public var flowURL: String?
    public var customField: String?
    public var recordingChannels: String?
    public var recordingFormat: String?
    /// `StreamUrl` without credentials.
    public var streamURL: String?
    public var campaignId: String?
    public var campaignRowKey: String?
    /// What the user attached to the call (``CallMetadata``); empty when nothing.
    public var metadata: [String: String] = [:]
    /// The current status: the latest one learnt, except that a terminal status is never replaced by a
    /// non-terminal one arriving late.
    public var status: String
    public var legs: [CallLeg]?
    /// The platform's latest `Call` object as JSON (`{"Call":{…}}`).
    public var platformCallJSON: String
    /// When the first terminal status was learnt.
    public var terminalAt: Timestamp?
    public var conversationDuration: Int?
    public var recordingURL: String?
    /// The time of the latest event applied to this row.
    public var updatedAt: Timestamp

    enum CodingKeys: String, CodingKey {
        case parameters, from, to, status, legs, metadata, origin, folder
        case callSid = "call_sid", accountSid = "account_sid", placedAt = "placed_at", callerId = "caller_id"
        case flowURL = "flow_url", customField = "custom_field", recordingChannels = "recording_channels"
        case recordingFormat = "recording_format", streamURL = "stream_url", campaignId = "campaign_id"
        case campaignRowKey = "campaign_row_key", platformCallJSON = "platform_call_json", terminalAt = "terminal_at"
        case conversationDuration = "conversation_duration", recordingURL = "recording_url", updatedAt = "updated_at"
    }

    /// The platform's `Call`, decoded.
    public var platformCall: PlatformCall? { try? PlatformCall.decode(Array(self.platformCallJSON.utf8)) }

    public var isTerminal: Bool { self.terminalAt != nil }
}

/// What to search calls by; every set field must match.
public struct CallQuery: Sendable, Hashable {
    /// Placed at or after this time.
    public var placedFrom: Timestamp?
    /// Placed before this time.
    public var placedBefore: Timestamp?
    /// Matches `From`, `To` or `CallerId` exactly.
    public var number: String?
    public var callSid: String?
    public var status: String?
    public var customField: String?
    public var campaignId: String?
    /// Only calls whose metadata has every one of these pairs, exactly (keys as stored: lowercased).
    public var metadata: [String: String] = [:]
    /// Only calls with at least one media file of this kind.
    public var mediaKind: MediaKind?
    /// Only calls placed by exorec, or only calls placed elsewhere.
    public var origin: CallOrigin?
    public var limit: Int
    public var offset: Int

    public init(
        placedFrom: Timestamp? = nil,
        placedBefore: Timestamp? = nil,
        number: String? = nil,
        callSid: String? = nil,
        status: String? = nil,
        customField: String? = nil,
        campaignId: String? = nil,
        mediaKind: MediaKind? = nil,
        origin: CallOrigin? = nil,
        limit: Int = 1000,
        offset: Int = 0
    ) {
        self.origin = origin
        self.placedFrom = placedFrom
        self.placedBefore = placedBefore
        self.number = number
        self.callSid = callSid
        self.status = status
        self.customField = customField
        self.campaignId = campaignId
        self.mediaKind = mediaKind
        self.limit = limit
        self.offset = offset
    }
}
