public import Catalog
public import ExotelClient
public import ExotelKit
import Foundation
import Logging
import MediaStore

/// How every call exorec places is set up (issue 4): recorded, streamed to this server, with
/// status callbacks to this server, prompts cache-busted.
public struct PlacementSettings: Sendable, Hashable {
    /// The ExoPhone shown to the called parties (`CallerId`).
    public var callerId: String
    public var recordingChannels: RecordingChannels
    public var recordingFormat: ExotelKit.RecordingFormat
    /// `ws(s)://HOST:PORT/v1/streams` as the platform reaches this server; credentials are added.
    public var streamURL: String
    /// The stream credentials the ingest server accepts (sent as the URL's user-info).
    public var streamUsername: String?
    public var streamPassword: String?
    public var streamBegin: StreamBegin
    /// Extra query parameters of the stream URL (`sample-rate`, custom parameters).
    public var streamQuery: [(name: String, value: String)]
    /// `http(s)://HOST:PORT/v1/callbacks/status?token=…` as the platform reaches this server.
    public var statusCallbackURL: String
    public var statusCallbackContentType: CallbackContentType?
    public var waitURL: String?
    public var startPlaybackURL: String?
    public var startPlaybackTo: PlaybackAudience?
    public var timeLimit: Int?
    public var timeOut: Int?

    public init(
        callerId: String,
        recordingChannels: RecordingChannels = .dual,
        recordingFormat: ExotelKit.RecordingFormat = .mp3,
        streamURL: String,
        streamUsername: String? = nil,
        streamPassword: String? = nil,
        streamBegin: StreamBegin = .leg1Connect,
        streamQuery: [(name: String, value: String)] = [],
        statusCallbackURL: String,
        statusCallbackContentType: CallbackContentType? = nil,
        waitURL: String? = nil,
        startPlaybackURL: String? = nil,
        startPlaybackTo: PlaybackAudience? = nil,
        timeLimit: Int? = nil,
        timeOut: Int? = nil
    ) {
        self.callerId = callerId
        self.recordingChannels = recordingChannels
        self.recordingFormat = recordingFormat
        self.streamURL = streamURL
        self.streamUsername = streamUsername
        self.streamPassword = streamPassword
        self.streamBegin = streamBegin
        self.streamQuery = streamQuery
        self.statusCallbackURL = statusCallbackURL
        self.statusCallbackContentType = statusCallbackContentType
        self.waitURL = waitURL
        self.startPlaybackURL = startPlaybackURL
        self.startPlaybackTo = startPlaybackTo
        self.timeLimit = timeLimit
        self.timeOut = timeOut
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.callerId == b.callerId && a.recordingChannels == b.recordingChannels && a.recordingFormat == b.recordingFormat
            && a.streamURL == b.streamURL && a.streamUsername == b.streamUsername
            && a.streamPassword == b.streamPassword
            && a.streamBegin == b.streamBegin && a.streamQuery.map(\.name) == b.streamQuery.map(\.name)
            && a.streamQuery.map(\.value) == b.streamQuery.map(\.value) && a.statusCallbackURL == b.statusCallbackURL
            && a.statusCallbackContentType == b.statusCallbackContentType && a.waitURL == b.waitURL
            && a.startPlaybackURL == b.startPlaybackURL && a.startPlaybackTo == b.startPlaybackTo
            && a.timeLimit == b.timeLimit
            && a.timeOut == b.timeOut
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.callerId)
        hasher.combine(self.streamURL)
        hasher.combine(self.statusCallbackURL)
    }
}

/// One call to place: two numbers, or a number and a call flow.
public struct CallOrder: Sendable, Hashable {
    public enum Destination: Sendable, Hashable {
        case number(String)
        /// An ExoML flow URL (`Url`).
        case flow(String)
    }

    public var from: String
    public var destination: Destination
    public var customField: String?
    /// Per-call overrides of the settings' prompts and limits.
    public var waitURL: String?
    public var timeLimit: Int?
    public var streamBegin: StreamBegin?
    public var recordingChannels: RecordingChannels?
    public var statusCallbackContentType: CallbackContentType?

    public init(
        from: String,
        destination: Destination,
        customField: String? = nil,
        waitURL: String? = nil,
        timeLimit: Int? = nil,
        streamBegin: StreamBegin? = nil,
        recordingChannels: RecordingChannels? = nil,
        statusCallbackContentType: CallbackContentType? = nil
    ) {
        self.from = from
        self.destination = destination
        self.customField = customField
        self.waitURL = waitURL
        self.timeLimit = timeLimit
        self.streamBegin = streamBegin
        self.recordingChannels = recordingChannels
        self.statusCallbackContentType = statusCallbackContentType
    }
}

/// Why a call was not placed.
public enum PlacementError: Error, Sendable, CustomStringConvertible {
    /// The request breaks one of the platform's rules (nothing was sent).
    case invalid(String)
    /// Prompt audio that cannot be used (nothing was sent).
    case prompt(PromptAudioError)
    /// The platform refused or could not be reached.
    case platform(ExotelClientError)
    /// The platform placed the call but exorec could not record it (the call's callbacks will still
    /// be kept, flagged as for an unknown call).
    case notCatalogued(callSid: String, reason: String)

    public var description: String {
        switch self {
        case .invalid(let message): "invalid request: \(message)"
        case .prompt(let error): "prompt audio: \(error)"
        case .platform(let error): "the platform: \(error)"
        case .notCatalogued(let sid, let reason): "call \(sid) was placed but not catalogued: \(reason)"
        }
    }
}

/// Places calls the way exorec needs them and records each in the catalog and its `call.json`.
public struct CallPlacer: Sendable {
    public let settings: PlacementSettings
    let client: ExotelClient
    let catalog: Catalog
    let prompts: PromptPreparer
    let sidecars: CallSidecarWriter
    let logger: Logger

    public init(
        settings: PlacementSettings,
        client: ExotelClient,
        catalog: Catalog,
        prompts: PromptPreparer,
        sidecars: CallSidecarWriter,
        logger: Logger
    ) {
        self.settings = settings
        self.client = client
        self.catalog = catalog
        self.prompts = prompts
        self.sidecars = sidecars
        self.logger = logger
    }

    /// The request for `order`, with prompts checked and cache-busted (fetches the prompt audio).
    public func request(for order: CallOrder) async throws(PlacementError) -> ConnectCallRequest {
        let settings = self.settings
        var request: ConnectCallRequest
        switch order.destination {
        case .number(let to):
            request = ConnectCallRequest(from: order.from, callerId: settings.callerId, destination: .number(to))
        case .flow(let url):
            request = ConnectCallRequest(from: order.from, callerId: settings.callerId, destination: .flow(url: url))
        }
        request.record = true
        request.recordingChannels = order.recordingChannels ?? settings.recordingChannels
        request.recordingFormat = settings.recordingFormat
        request.streamURL = Self.streamURL(settings)
        request.streamBegin = order.streamBegin ?? settings.streamBegin
        request.statusCallback = settings.statusCallbackURL
        request.statusCallbackEvents = [.terminal, .answered]
        request.statusCallbackContentType = order.statusCallbackContentType ?? settings.statusCallbackContentType
        request.customField = order.customField
        request.timeLimit = order.timeLimit ?? settings.timeLimit
        request.timeOut = settings.timeOut
        do {
            if let wait = order.waitURL ?? settings.waitURL {
                request.waitURL = try await self.prompts.prepare(wait, parameter: "WaitUrl").url
            }
            if let playback = settings.startPlaybackURL {
                request.startPlaybackValue = try await self.prompts.prepare(
                    playback,
                    parameter: "StartPlaybackValueNew"
                ).url
                request.startPlaybackTo = settings.startPlaybackTo
            }
        } catch {
            throw .prompt(error)
        }
        do {
            try request.validate()
        } catch {
            throw .invalid(error.message)
        }
        return request
    }

    /// Places the call and catalogs it. Returns the catalogued call. `metadata` (a campaign row's
    /// extra columns, `exorec call --meta`) is the call's: in the catalog, its `call.json` and the
    /// `call.placed` audit entry; it is checked (``CallMetadata``) before anything is sent.
    public func place(
        _ order: CallOrder,
        campaignId: String? = nil,
        rowKey: String? = nil,
        metadata: [String: String] = [:]
    ) async throws(PlacementError)
        -> PlacedCall
    {
        let metadata = Dictionary(
            metadata.map { (CallMetadata.normalisedKey($0.key), $0.value) },
            uniquingKeysWith: { first, _ in first }
        )
        .filter { !$0.value.isEmpty }
        if let problem = CallMetadata.problems(metadata).first { throw .invalid(problem) }
        let request = try await self.request(for: order)
        let response: PlatformCall
        do {
            response = try await self.client.connect(request)
        } catch {
            throw .platform(error)
        }
        let placed = PlacedCall(
            request: request,
            response: response,
            accountSid: self.client.credentials.accountSid,
            placedAt: .now(),
            campaignId: campaignId,
            campaignRowKey: rowKey,
            metadata: metadata
        )
        do {
            _ = try await self.catalog.recordPlacedCall(placed)
            let path = try await self.sidecars.refresh(callSid: placed.callSid)
            _ = try await self.catalog.appendAudit(
                AuditEvent(
                    at: placed.placedAt,
                    actor: "placer",
                    action: "call.placed",
                    callSid: placed.callSid,
                    path: path.map { self.sidecars.layout.relative($0) },
                    detail: Self.auditDetail(
                        order: order,
                        status: response.status,
                        campaignId: campaignId,
                        metadata: metadata
                    )
                )
            )
        } catch {
            self.logger.error(
                "call placed but not catalogued",
                metadata: [
                    "call": "\(LogText.escaped("\(placed.callSid)", limit: 1024))",
                    "error": "\(LogText.escaped("\(error)", limit: 1024))",
                ]
            )
            throw .notCatalogued(callSid: placed.callSid, reason: "\(LogText.escaped("\(error)", limit: 1024))")
        }
        self.logger.info(
            "call placed",
            metadata: [
                "call": "\(LogText.escaped("\(placed.callSid)", limit: 1024))",
                "from": "\(LogText.escaped("\(order.from)", limit: 1024))",
            ]
        )
        return placed
    }

    static func auditDetail(
        order: CallOrder,
        status: String,
        campaignId: String?,
        metadata: [String: String]
    ) -> [String: String] {
        var detail = ["from": order.from, "status": status, "campaign": campaignId ?? ""]
        if !metadata.isEmpty, let json = try? JSONSerialization.data(withJSONObject: metadata, options: [.sortedKeys]) {
            detail["metadata"] = String(decoding: json, as: UTF8.self)
        }
        return detail
    }

    /// The settings' stream URL with the credentials as user-info and the extra query parameters.
    static func streamURL(_ settings: PlacementSettings) -> String {
        var url = settings.streamURL
        if let username = settings.streamUsername, let schemeEnd = url.range(of: "://") {
            let password = settings.streamPassword.map { ":" + Self.percentEncoded($0) } ?? ""
            url.insert(contentsOf: Self.percentEncoded(username) + password + "@", at: schemeEnd.upperBound)
        }
        if !settings.streamQuery.isEmpty {
            let query = settings.streamQuery.map { "\(Self.percentEncoded($0.name))=\(Self.percentEncoded($0.value))" }
            url += (url.contains("?") ? "&" : "?") + query.joined(separator: "&")
        }
        return url
    }

    /// RFC 3986 unreserved characters stay; everything else is %-encoded.
    static func percentEncoded(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                result.unicodeScalars.append(UnicodeScalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                result += "%" + (byte < 16 ? "0" + hex : hex)
            }
        }
        return result
    }
}
