/// One message the platform sends on an AgentStream WebSocket, as returned by ``StreamMessageParser``.
///
/// Only `media` is on the hot path; it carries a ``MediaFrame`` that points into the message bytes instead of
/// copying the payload. The other events are rare and are materialised as ordinary Swift values.
public enum StreamMessage: Sendable, Hashable {
    /// `{"event":"connected"}`: the socket is open; nothing else is known yet.
    case connected
    /// The stream's metadata; sent once, before any media. (`indirect` keeps the enum, which every media frame is
    /// returned in, as small as a ``MediaFrame``: the large ``StreamStart`` is boxed instead, once per stream.)
    indirect case start(StreamStart)
    /// One chunk of audio (about 100 ms).
    case media(MediaFrame)
    /// A keypress (Voicebot streams only).
    case dtmf(DTMFEvent)
    /// The platform finished playing the audio sent before a `mark` of ours (Voicebot streams only).
    case mark(MarkEvent)
    /// The stream ended; the platform closes the socket next.
    case stop(StreamStop)
    /// An event this version does not know; callers should ignore it rather than fail the stream.
    case unknown(event: String)
}

/// The `media_format` object of a `start` event.
///
/// Sources disagree on its contents (`audio/x-raw` vs `raw` vs `base64`, bit rates "16", "128", "128kbps"),
/// so every field is optional and nothing here should be trusted over the sample rate the client asked for.
public struct MediaFormat: Sendable, Hashable, Codable {
    /// `media_format.encoding`, e.g. "audio/x-raw".
    public var encoding: String?
    /// `media_format.sample_rate` in Hz; nil when absent or not a non-negative integer.
    public var sampleRate: Int?
    /// `media_format.bit_rate` as sent, e.g. "16" or "128kbps".
    public var bitRate: String?
    /// Why `media_format.sample_rate` cannot be used although it is a number (it does not fit a 64-bit integer,
    /// or is negative), e.g. `media_format.sample_rate is out of range`; nil when absent or usable.
    public var sampleRateProblem: String?
    /// Why `media_format.bit_rate` cannot be used although it starts with a number; nil when absent or usable.
    public var bitRateProblem: String?

    /// The first reason a number in `media_format` cannot be used. A stream whose format has one is refused at
    /// `start` (a sample rate only when the URL gives none): defaulting such a value would record audio at a
    /// guessed rate.
    public var invalidReason: String? { self.sampleRateProblem ?? self.bitRateProblem }

    public init(
        encoding: String? = nil,
        sampleRate: Int? = nil,
        bitRate: String? = nil,
        sampleRateProblem: String? = nil,
        bitRateProblem: String? = nil
    ) {
        self.encoding = encoding
        self.sampleRate = sampleRate
        self.bitRate = bitRate
        self.sampleRateProblem = sampleRateProblem
        self.bitRateProblem = bitRateProblem
    }
}

/// The `start` event: who the call is between and how its audio is encoded.
public struct StreamStart: Sendable, Hashable, Codable {
    /// The stream's identifier (`start.stream_sid`, else the top-level `stream_sid`); nil when the sender
    /// gave neither (the ingest then names the stream itself).
    public var streamSid: String?
    /// `start.call_sid`: the CallSid that ties the stream to a call.
    public var callSid: String?
    /// `start.account_sid`.
    public var accountSid: String?
    /// `start.from`: the caller's number.
    public var from: String?
    /// `start.to`: the callee's number.
    public var to: String?
    /// `start.custom_parameters`: the key=value pairs appended to the stream URL. Non-string values are kept as
    /// their JSON text; `null` values are left out.
    public var customParameters: [String: String]
    /// `start.media_format`, if the platform sent an object there.
    public var mediaFormat: MediaFormat?
    /// `start.tracks` (Twilio-style), known entries only; nil when the platform sent no such array.
    public var tracks: [Track]?
    /// The top-level `sequence_number`.
    public var sequenceNumber: Int64?

    public init(
        streamSid: String?,
        callSid: String? = nil,
        accountSid: String? = nil,
        from: String? = nil,
        to: String? = nil,
        customParameters: [String: String] = [:],
        mediaFormat: MediaFormat? = nil,
        tracks: [Track]? = nil,
        sequenceNumber: Int64? = nil
    ) {
        self.streamSid = streamSid
        self.callSid = callSid
        self.accountSid = accountSid
        self.from = from
        self.to = to
        self.customParameters = customParameters
        self.mediaFormat = mediaFormat
        self.tracks = tracks
        self.sequenceNumber = sequenceNumber
    }
}

/// The `stop` event: the stream is over.
public struct StreamStop: Sendable, Hashable, Codable {
    /// `stop.call_sid`.
    public var callSid: String?
    /// `stop.account_sid`.
    public var accountSid: String?
    /// `stop.reason`: documented values are "stopped" and "callended".
    public var reason: String?
    /// The top-level `sequence_number`.
    public var sequenceNumber: Int64?

    public init(callSid: String? = nil, accountSid: String? = nil, reason: String? = nil, sequenceNumber: Int64? = nil)
    {
        self.callSid = callSid
        self.accountSid = accountSid
        self.reason = reason
        self.sequenceNumber = sequenceNumber
    }
}

/// The `dtmf` event: the caller pressed a key.
public struct DTMFEvent: Sendable, Hashable, Codable {
    /// `dtmf.digit`: "0"–"9", "*" or "#" (a JSON number is kept as its text).
    public var digit: String
    /// `dtmf.duration` in milliseconds.
    public var durationMs: Int64?

    public init(digit: String, durationMs: Int64? = nil) {
        self.digit = digit
        self.durationMs = durationMs
    }
}

/// The `mark` event: audio sent before our mark with this name has finished playing.
public struct MarkEvent: Sendable, Hashable, Codable {
    /// `mark.name`: the label we chose.
    public var name: String

    public init(name: String) {
        self.name = name
    }
}
