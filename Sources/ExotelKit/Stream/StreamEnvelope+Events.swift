/// Building the rare events (start, stop, dtmf, mark) from the objects the envelope remembered.
///
/// These run after the whole document has been validated, so they only see semantic problems; they materialise
/// strings freely because they happen a handful of times per stream.
extension StreamEnvelope {
    func streamStart(_ scanner: JSONScanner) throws(StreamProtocolError) -> StreamStart {
        var streamSid: FieldRead<String> = .absent
        var callSid: FieldRead<String> = .absent
        var accountSid: FieldRead<String> = .absent
        var from: FieldRead<String> = .absent
        var to: FieldRead<String> = .absent
        var customParameters: FieldRead<[String: String]> = .absent
        var mediaFormat: MediaFormat?
        var tracks: [Track]?
        if var object = try self.scanner(at: self.start, named: "start", in: scanner) {
            try object.forEachMember { (key, member) throws(StreamProtocolError) in
                if member.string(key, equals: "stream_sid") || member.string(key, equals: "streamSid") {
                    streamSid = try member.readString()
                } else if member.string(key, equals: "call_sid") || member.string(key, equals: "callSid") {
                    callSid = try member.readString()
                } else if member.string(key, equals: "account_sid") || member.string(key, equals: "accountSid") {
                    accountSid = try member.readString()
                } else if member.string(key, equals: "from") {
                    from = try member.readString()
                } else if member.string(key, equals: "to") {
                    to = try member.readString()
                } else if member.string(key, equals: "custom_parameters")
                    || member.string(key, equals: "customParameters")
                {
                    customParameters = try member.readCustomParameters()
                } else if member.string(key, equals: "media_format") || member.string(key, equals: "mediaFormat") {
                    mediaFormat = try member.readMediaFormat()
                } else if member.string(key, equals: "tracks") {
                    tracks = try member.readTracks()
                } else {
                    try member.skipValue()
                }
            }
        }
        // start.stream_sid wins; the top-level copy is only materialised when it is needed. A start with neither
        // (or without the nested object at all, as some test clients send) is still a start: the ingest keeps its
        // audio under a name of its own.
        var sid: String?
        if let value = try streamSid.resolve("start.stream_sid") {
            sid = value
        } else if let token = try self.streamSid.resolve("stream_sid") {
            sid = try scanner.materialize(token)
        }
        return StreamStart(
            streamSid: sid,
            callSid: try callSid.resolve("start.call_sid"),
            accountSid: try accountSid.resolve("start.account_sid"),
            from: try from.resolve("start.from"),
            to: try to.resolve("start.to"),
            customParameters: try customParameters.resolve("start.custom_parameters") ?? [:],
            mediaFormat: mediaFormat,
            tracks: tracks,
            sequenceNumber: try self.sequenceNumber.resolve("sequence_number")
        )
    }

    func streamStop(_ scanner: JSONScanner) throws(StreamProtocolError) -> StreamStop {
        var callSid: FieldRead<String> = .absent
        var accountSid: FieldRead<String> = .absent
        var reason: FieldRead<String> = .absent
        if var object = try self.scanner(at: self.stop, named: "stop", in: scanner) {
            try object.forEachMember { (key, member) throws(StreamProtocolError) in
                if member.string(key, equals: "call_sid") || member.string(key, equals: "callSid") {
                    callSid = try member.readString()
                } else if member.string(key, equals: "account_sid") || member.string(key, equals: "accountSid") {
                    accountSid = try member.readString()
                } else if member.string(key, equals: "reason") {
                    reason = try member.readString()
                } else {
                    try member.skipValue()
                }
            }
        }
        return StreamStop(
            callSid: try callSid.resolve("stop.call_sid"),
            accountSid: try accountSid.resolve("stop.account_sid"),
            reason: try reason.resolve("stop.reason"),
            sequenceNumber: try self.sequenceNumber.resolve("sequence_number")
        )
    }

    func dtmfEvent(_ scanner: JSONScanner) throws(StreamProtocolError) -> DTMFEvent {
        var digit: FieldRead<String> = .absent
        var duration: FieldRead<Int64> = .absent
        if var object = try self.scanner(at: self.dtmf, named: "dtmf", in: scanner) {
            try object.forEachMember { (key, member) throws(StreamProtocolError) in
                if member.string(key, equals: "digit") {
                    digit = try member.readText()
                } else if member.string(key, equals: "duration") {
                    duration = try member.readInteger()
                } else {
                    try member.skipValue()
                }
            }
        }
        return DTMFEvent(digit: try digit.require("dtmf.digit"), durationMs: try duration.resolve("dtmf.duration"))
    }

    func markEvent(_ scanner: JSONScanner) throws(StreamProtocolError) -> MarkEvent {
        var name: FieldRead<String> = .absent
        if var object = try self.scanner(at: self.mark, named: "mark", in: scanner) {
            try object.forEachMember { (key, member) throws(StreamProtocolError) in
                if member.string(key, equals: "name") {
                    name = try member.readString()
                } else {
                    try member.skipValue()
                }
            }
        }
        return MarkEvent(name: try name.require("mark.name"))
    }
}

/// Readers for the structured members of `start`.
extension JSONScanner {
    /// Calls `body` with each key of the object at `index`, leaving the scanner at the member's value; `body` must
    /// consume exactly that value.
    mutating func forEachMember(
        _ body: (JSONString, inout JSONScanner) throws(StreamProtocolError) -> Void
    ) throws(StreamProtocolError) {
        guard try self.enterObject() else { return }
        repeat {
            let key = try self.readKey()
            try body(key, &self)
        } while try self.nextMember()
    }

    /// `custom_parameters`: an object whose values are normally strings. Numbers, booleans and nested values are
    /// kept as their JSON text rather than rejected (the pairs come from a URL, so they are text to the sender);
    /// `null` values are left out.
    mutating func readCustomParameters() throws(StreamProtocolError) -> FieldRead<[String: String]> {
        switch try self.peek() {
        case ASCII.openBrace:
            break
        case ASCII.lowerN:
            try self.scanLiteral("null")
            return .absent
        default:
            try self.skipValue()
            return .invalid(.notAnObject)
        }
        var parameters: [String: String] = [:]
        try self.forEachMember { (key, member) throws(StreamProtocolError) in
            let name = try member.materialize(key)
            switch try member.peek() {
            case ASCII.quote:
                parameters[name] = try member.materialize(member.scanString())
            case ASCII.lowerN:
                try member.scanLiteral("null")
                parameters[name] = nil
            default:
                let start = member.index
                try member.skipValue()
                parameters[name] = try member.text(of: start..<member.index)
            }
        }
        return .value(parameters)
    }

    /// `media_format`. Its contents differ between sources and clients must not rely on it, so anything
    /// unexpected (a non-object, a non-integer sample rate such as `"8k"`) becomes nil instead of failing the
    /// stream. A number that is a number but cannot be one (beyond Int64, negative) is not "unknown" but wrong:
    /// it is kept as ``MediaFormat/sampleRateProblem`` or ``MediaFormat/bitRateProblem`` for the ingest to refuse.
    mutating func readMediaFormat() throws(StreamProtocolError) -> MediaFormat? {
        guard try self.peek() == ASCII.openBrace else {
            try self.skipValue()
            return nil
        }
        var format = MediaFormat()
        try self.forEachMember { (key, member) throws(StreamProtocolError) in
            if member.string(key, equals: "encoding") {
                format.encoding = try member.readText().valueOrNil
            } else if member.string(key, equals: "sample_rate") || member.string(key, equals: "sampleRate") {
                // A key given twice with one wrong value stays wrong: a problem, once seen, is never
                // replaced by a later value (the start is refused either way).
                switch try member.readInteger() {
                case .value(let rate) where format.sampleRateProblem == nil:
                    format.sampleRate = Int(exactly: rate)
                    if format.sampleRate == nil {
                        format.sampleRateProblem = "media_format.sample_rate is out of range"
                    }
                case .value:
                    break
                case .invalid(let problem) where problem == .outOfRange || problem == .negative:
                    format.sampleRate = nil
                    format.sampleRateProblem = "media_format.sample_rate \(problem.reason)"
                case .invalid, .absent:
                    format.sampleRate = nil
                }
            } else if member.string(key, equals: "bit_rate") || member.string(key, equals: "bitRate") {
                format.bitRate = try member.readText().valueOrNil
                if let problem = format.bitRate.flatMap(Self.leadingNumberProblem) {
                    format.bitRateProblem = "media_format.bit_rate \(problem.reason)"
                }
            } else {
                try member.skipValue()
            }
        }
        return format
    }

    /// The problem with the number a text such as `128`, `128kbps` or `-16` starts with: negative, or more digits
    /// than an Int64 holds. Nil for a usable number and for text that does not start with one (`base64`).
    static func leadingNumberProblem(_ text: String) -> FieldProblem? {
        let bytes = Array(text.utf8)
        if bytes.first == ASCII.minus { return bytes.count > 1 && ASCII.isDigit(bytes[1]) ? .negative : nil }
        let digits = Array(bytes.prefix(while: ASCII.isDigit))
        guard !digits.isEmpty else { return nil }
        return digits.withUnsafeBufferPointer { buffer in
            if case .invalid(let problem) = Self.integer(digits: buffer) { return problem }
            return nil
        }
    }

    /// `tracks`: a Twilio-style array of track names; unknown entries are ignored, and a non-array means nil.
    mutating func readTracks() throws(StreamProtocolError) -> [Track]? {
        guard try self.peek() == ASCII.openBracket else {
            try self.skipValue()
            return nil
        }
        var tracks: [Track] = []
        guard try self.enterArray() else { return tracks }
        repeat {
            if case .value(let track) = try self.readTrack() { tracks.append(track) }
        } while try self.nextElement()
        return tracks
    }
}
