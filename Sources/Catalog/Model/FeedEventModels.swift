import Crypto
import ExotelKit
import MediaStore

extension MediaFile {
    /// The media file's id in the events feed and `GET /v1/media/ID`: 16 hex digits of the SHA-256 of its
    /// path. Derived, not a row number, so it stays the same when `catalog rebuild` recreates the index, and
    /// it says nothing a reader could turn back into a path.
    public var id: String { Self.id(forPath: self.path) }

    public static func id(forPath path: String) -> String {
        HexText.lowercase(SHA256.hash(data: Array(path.utf8)).prefix(8))
    }

    /// Whether `text` has the shape of a media id (checked before it reaches a query).
    public static func isWellFormedID(_ text: some StringProtocol) -> Bool {
        text.utf8.count == 16
            && text.utf8.allSatisfy {
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                    || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0)
            }
    }
}

/// One entry of the events feed: something a live consumer may act on, with the media's id and path.
///
/// Ids only grow. Everything but `stream.progress` is kept for good; progress events are pruned after
/// ``FeedEvent/progressRetention`` (a consumer away longer misses some progress, never a start, an end,
/// a stored recording or a completed call).
public struct FeedEvent: Sendable, Hashable, Encodable {
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// A stream's file exists and is growing (`state` is `recording`).
        case streamStarted = "stream.started"
        /// A growing stream's file reached `bytes` (a valid WAV up to there: its header is kept current).
        case streamProgress = "stream.progress"
        /// A stream's file is final: `complete` (with `sha256`), or `interrupted` (repaired after a crash).
        case streamFinished = "stream.finished"
        /// A platform recording was downloaded and stored (`complete`, or `incomplete` when short).
        case recordingStored = "recording.stored"
        /// The call reached a terminal status; `media` lists its files known at that moment.
        case callCompleted = "call.completed"
    }

    /// Facts that depend on the kind; absent ones are left out of the JSON.
    public struct Detail: Sendable, Hashable, Codable {
        public var kind: MediaKind?
        public var state: String?
        public var format: String?
        public var sampleRate: Int?
        public var channels: Int?
        public var frames: Int64?
        public var durationSeconds: Double?
        public var bytes: Int64?
        public var sha256: String?
        public var status: String?
        public var media: [MediaReference]?
        /// `call.completed`: who placed the call (`exorec` or `elsewhere`).
        public var origin: String?

        enum CodingKeys: String, CodingKey {
            case kind, state, format, channels, frames, bytes, sha256, status, media, origin
            case sampleRate = "sample_rate", durationSeconds = "duration_seconds"
        }

        public init(
            kind: MediaKind? = nil,
            state: String? = nil,
            format: String? = nil,
            sampleRate: Int? = nil,
            channels: Int? = nil,
            frames: Int64? = nil,
            durationSeconds: Double? = nil,
            bytes: Int64? = nil,
            sha256: String? = nil,
            status: String? = nil,
            media: [MediaReference]? = nil,
            origin: String? = nil
        ) {
            self.origin = origin
            self.kind = kind
            self.state = state
            self.format = format
            self.sampleRate = sampleRate
            self.channels = channels
            self.frames = frames
            self.durationSeconds = durationSeconds
            self.bytes = bytes
            self.sha256 = sha256
            self.status = status
            self.media = media
        }
    }

    /// A media file named by a `call.completed` event.
    public struct MediaReference: Sendable, Hashable, Codable {
        public var mediaID: String
        public var kind: MediaKind
        public var path: String
        public var state: MediaFileState

        enum CodingKeys: String, CodingKey {
            case kind, path, state
            case mediaID = "media_id"
        }
    }

    /// How long progress events are kept: ten minutes. They only say "more bytes are there"; a consumer back
    /// after longer reads the file's size from the media endpoint. At 2,000 growing streams that is 1.2 million
    /// rows, where a day would be 170 million.
    public static let progressRetention: Int64 = 10 * 60 * 1000

    public var id: Int64
    public var at: Timestamp
    public var type: Kind
    public var callSid: String
    public var streamSid: String?
    public var mediaID: String?
    /// Relative to the storage root.
    public var path: String?
    public var detail: Detail

    enum CodingKeys: String, CodingKey {
        case id, at, type, path
        case callSid = "call_sid", streamSid = "stream_sid", mediaID = "media_id"
    }

    /// One flat JSON object: the envelope's fields, then the detail's.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.id, forKey: .id)
        try container.encode(self.type, forKey: .type)
        try container.encode(self.at, forKey: .at)
        try container.encode(self.callSid, forKey: .callSid)
        try container.encodeIfPresent(self.streamSid, forKey: .streamSid)
        try container.encodeIfPresent(self.mediaID, forKey: .mediaID)
        try container.encodeIfPresent(self.path, forKey: .path)
        try self.detail.encode(to: encoder)
    }
}

extension StreamProgress {
    /// The event's detail, written by hand (the same keys, sorted, as ``FeedEvent/Detail`` encodes): thousands
    /// of these a second go through JSONEncoder at a cost that shows.
    var detailJSON: String {
        let duration = self.durationSeconds.isFinite ? "\(self.durationSeconds)" : "0"
        return
            #"{"bytes":\#(self.bytes),"channels":\#(self.channels),"duration_seconds":\#(duration),"format":"wav","frames":\#(self.frames),"#
            + #""kind":"stream","sample_rate":\#(self.sampleRate),"state":"recording"}"#
    }
}
