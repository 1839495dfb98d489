import ExotelKit
import FoundationEssentials

/// The JSON file beside every stream WAV: the record from which a catalog can always be rebuilt.
///
/// It is written when the stream starts (`state: recording`), rewritten when its counters change
/// (at most every few seconds), and finally when the stream is finalized (`complete`) or repaired
/// after a crash (`interrupted`). Field names are snake_case and stable (`schema` says which shape).
public struct StreamSidecar: Sendable, Hashable, Codable {
    public enum State: String, Sendable, Hashable, Codable {
        /// The stream is open (or the process died while it was: start-up repair will tell).
        case recording
        /// Finalized normally: flushed, synced, hashed, read-only.
        case complete
        /// Repaired at start-up after the writing process died; audio up to the crash is kept.
        case interrupted
    }

    /// A stretch of one channel filled with silence because no audio arrived for it.
    public struct Gap: Sendable, Hashable, Codable {
        public var channel: Int
        public var startMs: Int64
        public var durationMs: Int64
        enum CodingKeys: String, CodingKey { case channel, startMs = "start_ms", durationMs = "duration_ms" }
        public init(channel: Int, startMs: Int64, durationMs: Int64) {
            self.channel = channel
            self.startMs = startMs
            self.durationMs = durationMs
        }
    }

    public struct DTMF: Sendable, Hashable, Codable {
        public var digit: String
        public var durationMs: Int64?
        public var receivedAt: Timestamp
        enum CodingKeys: String, CodingKey { case digit, durationMs = "duration_ms", receivedAt = "received_at" }
        public init(digit: String, durationMs: Int64?, receivedAt: Timestamp) {
            self.digit = digit
            self.durationMs = durationMs
            self.receivedAt = receivedAt
        }
    }

    /// A stretch the call was paused (PCI pause, `POST /v1/calls/CALLSID/pause`): every frame the stream
    /// received in it was written as silence, and its `dtmf` events were dropped. Positions are sample frames
    /// of this file; see `docs/CALLS.md` ("Pausing a call's recording").
    public struct Pause: Sendable, Hashable, Codable {
        /// The stream's timeline end when the pause took effect: in-order audio from here on is silence.
        public var startFrame: Int64
        /// The timeline end when it was lifted (or the stream ended); nil while it lasts.
        public var endFrame: Int64?
        /// When the internal door accepted the pause.
        public var pausedAt: Timestamp
        /// When the resume was accepted, or the stream ended (`endedWithStream`).
        public var resumedAt: Timestamp?
        /// Who asked: the request's `by` (or the door's client address), bounded.
        public var by: String
        public var reason: String?
        /// Never resumed: closed at the end of the stream.
        public var endedWithStream: Bool

        enum CodingKeys: String, CodingKey {
            case by, reason
            case startFrame = "start_frame", endFrame = "end_frame", pausedAt = "paused_at", resumedAt = "resumed_at"
            case endedWithStream = "ended_with_stream"
        }

        public init(
            startFrame: Int64,
            endFrame: Int64? = nil,
            pausedAt: Timestamp,
            resumedAt: Timestamp? = nil,
            by: String,
            reason: String?,
            endedWithStream: Bool = false
        ) {
            self.startFrame = startFrame
            self.endFrame = endFrame
            self.pausedAt = pausedAt
            self.resumedAt = resumedAt
            self.by = by
            self.reason = reason
            self.endedWithStream = endedWithStream
        }
    }

    public static let currentSchema = 1

    public var schema: Int = StreamSidecar.currentSchema
    public var state: State
    /// `start.account_sid`; nil when the start named no account.
    public var accountSid: String?
    /// `start.call_sid`; nil when the start named no call: such a stream is kept under `media/_streams/`
    /// (see ``StorageLayout/unattachedStreamDirectory(streamSid:startedAt:)``).
    public var callSid: String?
    public var streamSid: String
    /// True when the start carried no stream_sid and exorec made `streamSid` up (absent otherwise).
    public var streamSidGenerated: Bool?
    /// What the payloads were: `pcm16`, `mulaw` or `alaw` (``StreamEncoding``); G.711 is expanded to 16-bit
    /// PCM in the WAV. Absent in sidecars written before exorec read the encoding (PCM).
    public var sourceEncoding: String?
    /// `start.media_format.encoding` as sent (escaped for display where shown), absent when not sent.
    public var mediaFormatEncoding: String?
    public var from: String?
    public var to: String?
    public var customParameters: [String: String]
    /// Query parameters of the upgrade request, the values of secret-looking ones replaced by `REDACTED`
    /// (``URLRedaction``).
    public var queryParameters: [String: String]
    public var sampleRate: Int
    /// 1 (mono) or 2 (dual); `nil` until the first media frame decides it.
    public var channels: Int?
    /// What each channel holds: `["mixed"]`, or `["inbound (leg 1, caller)", "outbound (leg 2, callee)"]`.
    public var channelMap: [String]
    public var startedAt: Timestamp
    public var endedAt: Timestamp?
    /// Sample frames in the file (one sample per channel).
    public var frames: Int64
    public var durationSeconds: Double
    public var mediaMessages: Int64
    public var gaps: [Gap]
    public var gapMsTotal: Int64
    public var duplicates: Int64
    public var lateFrames: Int64
    public var reorderedFrames: Int64
    public var invalidMessages: [String: Int64]
    public var unknownEvents: Int64
    public var marks: Int64
    public var dtmf: [DTMF]
    /// The call's pauses while this stream ran; nil (absent from the file) when it was never paused.
    public var pauses: [Pause]?
    /// Why the stream ended: `stop:callended`, `stop:stopped`, `disconnected`, `idle-timeout`,
    /// `shutdown`, `message-too-large`, `binary-message`, `interrupted`, …
    public var closeReason: String?
    public var file: String
    public var bytes: Int64?
    public var sha256: String?
    public var exorecVersion: String
    /// The node that recorded it (`node.id`); absent in sidecars written before nodes existed. Start-up repair
    /// and a surviving node's repair of a lost one touch only the streams of the node they repair.
    public var node: String?

    enum CodingKeys: String, CodingKey {
        case schema, state, from, to, frames, gaps, duplicates, marks, dtmf, pauses, file, bytes, sha256
        case accountSid = "account_sid", callSid = "call_sid", streamSid = "stream_sid"
        case streamSidGenerated = "stream_sid_generated", sourceEncoding = "source_encoding"
        case mediaFormatEncoding = "media_format_encoding"
        case customParameters = "custom_parameters", queryParameters = "query_parameters"
        case sampleRate = "sample_rate", channels, channelMap = "channel_map"
        case startedAt = "started_at", endedAt = "ended_at", durationSeconds = "duration_seconds"
        case mediaMessages = "media_messages", gapMsTotal = "gap_ms_total", lateFrames = "late_frames"
        case reorderedFrames = "reordered_frames", invalidMessages = "invalid_messages"
        case unknownEvents = "unknown_events", closeReason = "close_reason", exorecVersion = "exorec_version"
        case node
    }

    /// A new stream's sidecar, in state `recording`.
    public init(
        identity: StreamIdentity,
        sampleRate: Int,
        startedAt: Timestamp,
        file: String,
        exorecVersion: String,
        node: String? = nil
    ) {
        self.state = .recording
        self.node = node
        self.accountSid = identity.account?.value
        self.callSid = identity.callSid?.value
        self.streamSid = identity.streamSid.value
        self.streamSidGenerated = identity.streamSidGenerated ? true : nil
        self.sourceEncoding = identity.sourceEncoding.rawValue
        self.mediaFormatEncoding = identity.mediaFormatEncoding
        self.from = identity.from
        self.to = identity.to
        // The StreamUrl's query can carry secrets (a token the platform passes through): stored redacted.
        self.customParameters = identity.customParameters.mapValues(URLRedaction.redacting)
        self.queryParameters = URLRedaction.redacting(parameters: identity.queryParameters)
        self.sampleRate = sampleRate
        self.channels = nil
        self.channelMap = []
        self.startedAt = startedAt
        self.frames = 0
        self.durationSeconds = 0
        self.mediaMessages = 0
        self.gaps = []
        self.gapMsTotal = 0
        self.duplicates = 0
        self.lateFrames = 0
        self.reorderedFrames = 0
        self.invalidMessages = [:]
        self.unknownEvents = 0
        self.marks = 0
        self.dtmf = []
        self.file = file
        self.exorecVersion = exorecVersion
    }

    /// The call as the catalog keys it: the CallSid, or `""` for a stream that named no call.
    public var catalogCallSid: String { self.callSid ?? "" }

    public static func channelMap(channels: Int) -> [String] {
        channels == 2 ? ["inbound (leg 1, caller)", "outbound (leg 2, callee)"] : ["mixed"]
    }

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding a struct of strings and numbers cannot fail.
        return Array((try? encoder.encode(self)) ?? Data()) + [UInt8(ascii: "\n")]
    }

    public static func decode(_ bytes: [UInt8], path: String) throws(MediaError) -> StreamSidecar {
        do {
            return try JSONDecoder().decode(StreamSidecar.self, from: Data(bytes))
        } catch {
            throw .invalidSidecar(path: path, reason: "\(error)")
        }
    }

    public static func load(from path: String) throws(MediaError) -> StreamSidecar {
        try decode(try FileSystem.read(path), path: path)
    }

    public func write(to path: String, durable: Bool) throws(MediaError) {
        try FileSystem.writeAtomically(self.encoded(), to: path, durable: durable)
    }
}
