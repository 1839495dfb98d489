/// Builds stream messages exactly as the platform sends them, for the load generator, the simulator and tests.
///
/// Keys come in the order of the platform's documented examples (`event`, `sequence_number`, `stream_sid`, then
/// the event's object), and scalars are strings by default, as on the websocket-protocol page (S1 in
/// `exotel-platform.md` §1.5).
public struct StreamMessageEncoder: Sendable {
    /// How `sequence_number` and `media.chunk` are written; the sources disagree (§1.5).
    public enum NumberStyle: Sendable {
        /// Every scalar is a JSON string, as on the websocket-protocol page: `"sequence_number":"3"`.
        case strings
        /// `sequence_number` and `chunk` are JSON numbers, as in the applet and developer-guide examples;
        /// `timestamp`, `duration` and `media_format` values stay strings there too.
        case numbers
    }

    public var numberStyle: NumberStyle

    public init(numberStyle: NumberStyle = .strings) {
        self.numberStyle = numberStyle
    }

    /// `{"event":"connected"}`.
    public func connected() -> [UInt8] {
        var writer = JSONWriter(capacity: 24)
        writer.raw("{\"event\":\"connected\"}")
        return writer.bytes
    }

    /// The `start` event, with `stream_sid` both at the top level and inside `start`. Optional fields are written
    /// only when set; `custom_parameters` always (sorted by key, so output is reproducible).
    public func start(_ start: StreamStart, sequenceNumber: Int64) -> [UInt8] {
        var writer = self.header(
            event: "start",
            sequenceNumber: sequenceNumber,
            streamSid: start.streamSid,
            capacity: 512
        )
        writer.key("start")
        writer.raw("{")
        var first = true
        if let streamSid = start.streamSid { writer.member("stream_sid", streamSid, first: &first) }
        if let callSid = start.callSid { writer.member("call_sid", callSid, first: &first) }
        if let accountSid = start.accountSid { writer.member("account_sid", accountSid, first: &first) }
        if let from = start.from { writer.member("from", from, first: &first) }
        if let to = start.to { writer.member("to", to, first: &first) }
        if !first { writer.raw(",") }
        writer.key("custom_parameters")
        writer.raw("{")
        for (index, name) in start.customParameters.keys.sorted().enumerated() {
            if index > 0 { writer.raw(",") }
            writer.string(name)
            writer.raw(":")
            writer.string(start.customParameters[name]!)
        }
        writer.raw("}")
        if let format = start.mediaFormat {
            // Every value a string, as in all documented examples (§1.5), even the sample rate.
            writer.raw(",")
            writer.key("media_format")
            writer.raw("{")
            var first = true
            if let encoding = format.encoding { writer.member("encoding", encoding, first: &first) }
            if let rate = format.sampleRate { writer.member("sample_rate", String(rate), first: &first) }
            if let bitRate = format.bitRate { writer.member("bit_rate", bitRate, first: &first) }
            writer.raw("}")
        }
        if let tracks = start.tracks {
            writer.raw(",")
            writer.key("tracks")
            writer.raw("[")
            for (index, track) in tracks.enumerated() {
                if index > 0 { writer.raw(",") }
                writer.string(track.rawValue)
            }
            writer.raw("]")
        }
        writer.raw("}}")
        return writer.bytes
    }

    /// A `media` event carrying `pcm` (16-bit little-endian samples) as base64. `track` is written inside `media`
    /// only when given; the documented protocol has none.
    public func media(
        streamSid: String,
        sequenceNumber: Int64,
        chunk: Int64,
        timestampMs: Int64,
        track: Track?,
        pcm: UnsafeRawBufferPointer
    ) -> [UInt8] {
        let capacity = 160 + streamSid.utf8.count + Base64.encodedCount(of: pcm.count)
        var writer = self.header(
            event: "media",
            sequenceNumber: sequenceNumber,
            streamSid: streamSid,
            capacity: capacity
        )
        writer.key("media")
        writer.raw("{")
        writer.key("chunk")
        writer.integer(chunk, quoted: self.numberStyle == .strings)
        writer.raw(",")
        writer.key("timestamp")
        writer.integer(timestampMs, quoted: true)
        if let track {
            writer.raw(",")
            writer.key("track")
            writer.string(track.rawValue)
        }
        writer.raw(",")
        writer.key("payload")
        writer.base64String(pcm)
        writer.raw("}}")
        return writer.bytes
    }

    /// A `dtmf` event: `{"digit":"5","duration":"100"}`.
    public func dtmf(streamSid: String, sequenceNumber: Int64, digit: String, durationMs: Int64) -> [UInt8] {
        var writer = self.header(event: "dtmf", sequenceNumber: sequenceNumber, streamSid: streamSid, capacity: 128)
        writer.key("dtmf")
        writer.raw("{")
        writer.key("digit")
        writer.string(digit)
        writer.raw(",")
        writer.key("duration")
        writer.integer(durationMs, quoted: true)
        writer.raw("}}")
        return writer.bytes
    }

    /// A `mark` event: `{"name":"…"}`.
    public func mark(streamSid: String, sequenceNumber: Int64, name: String) -> [UInt8] {
        var writer = self.header(event: "mark", sequenceNumber: sequenceNumber, streamSid: streamSid, capacity: 128)
        writer.key("mark")
        writer.raw("{")
        writer.key("name")
        writer.string(name)
        writer.raw("}}")
        return writer.bytes
    }

    /// A `stop` event; `reason` is "stopped" or "callended" on the real platform.
    public func stop(
        streamSid: String,
        sequenceNumber: Int64,
        callSid: String,
        accountSid: String,
        reason: String
    )
        -> [UInt8]
    {
        var writer = self.header(event: "stop", sequenceNumber: sequenceNumber, streamSid: streamSid, capacity: 192)
        writer.key("stop")
        writer.raw("{")
        writer.key("call_sid")
        writer.string(callSid)
        writer.raw(",")
        writer.key("account_sid")
        writer.string(accountSid)
        writer.raw(",")
        writer.key("reason")
        writer.string(reason)
        writer.raw("}}")
        return writer.bytes
    }

    /// `{"event":"…","sequence_number":…,"stream_sid":"…",` — the part every event but `connected` shares.
    private func header(event: StaticString, sequenceNumber: Int64, streamSid: String?, capacity: Int) -> JSONWriter {
        var writer = JSONWriter(capacity: capacity)
        writer.raw("{")
        writer.key("event")
        writer.raw("\"")
        writer.raw(event)
        writer.raw("\",")
        writer.key("sequence_number")
        writer.integer(sequenceNumber, quoted: self.numberStyle == .strings)
        writer.raw(",")
        if let streamSid {
            writer.key("stream_sid")
            writer.string(streamSid)
            writer.raw(",")
        }
        return writer
    }
}
