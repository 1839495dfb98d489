/// The top-level members of one message, gathered in a single validating pass.
///
/// Keys may come in any order (`"event"` after `"media"`), so nothing is built until the whole document has been
/// read. The media object is read on the way, because reading it is also its validation and it is the hot path.
/// The other event objects are validated and remembered by offset, then parsed only if the event needs them.
struct StreamEnvelope {
    var event: FieldRead<JSONString> = .absent
    var sequenceNumber: FieldRead<Int64> = .absent
    var streamSid: FieldRead<JSONString> = .absent
    var track: FieldRead<Track> = .absent
    var media: FieldRead<MediaMembers> = .absent
    var start: FieldRead<Int> = .absent
    var stop: FieldRead<Int> = .absent
    var dtmf: FieldRead<Int> = .absent
    var mark: FieldRead<Int> = .absent

    /// Reads and validates the whole message; throws `malformedJSON` or `notAnObject`.
    init(scanning scanner: inout JSONScanner) throws(StreamProtocolError) {
        guard try scanner.peek() == ASCII.openBrace else {
            try scanner.skipValue()
            try scanner.expectEnd()
            throw .notAnObject
        }
        if try scanner.enterObject() {
            repeat {
                let key = try scanner.readKey()
                try self.readMember(key, &scanner)
            } while try scanner.nextMember()
        }
        try scanner.expectEnd()
    }

    /// Stores the value of one top-level member; unknown members are validated and dropped.
    @inline(__always)
    private mutating func readMember(_ key: JSONString, _ scanner: inout JSONScanner) throws(StreamProtocolError) {
        // Ordered by how often the keys occur: almost every message is media.
        if scanner.string(key, equals: "event") {
            self.event = try scanner.readStringToken()
        } else if scanner.string(key, equals: "sequence_number") || scanner.string(key, equals: "sequenceNumber") {
            self.sequenceNumber = try scanner.readInteger()
        } else if scanner.string(key, equals: "stream_sid") || scanner.string(key, equals: "streamSid") {
            self.streamSid = try scanner.readStringToken()
        } else if scanner.string(key, equals: "media") {
            self.media = try MediaMembers.read(&scanner)
        } else if scanner.string(key, equals: "track") {
            self.track = try scanner.readTrack()
        } else if scanner.string(key, equals: "start") {
            self.start = try scanner.readObjectOffset()
        } else if scanner.string(key, equals: "stop") {
            self.stop = try scanner.readObjectOffset()
        } else if scanner.string(key, equals: "dtmf") {
            self.dtmf = try scanner.readObjectOffset()
        } else if scanner.string(key, equals: "mark") {
            self.mark = try scanner.readObjectOffset()
        } else {
            try scanner.skipValue()
        }
    }

    /// Builds the message the `"event"` names, judging only the fields that event uses.
    func message(_ scanner: JSONScanner) throws(StreamProtocolError) -> StreamMessage {
        guard case .value(let name) = self.event else { throw .missingEvent }
        if scanner.string(name, equals: "media") { return .media(try self.mediaFrame()) }
        if scanner.string(name, equals: "connected") { return .connected }
        if scanner.string(name, equals: "start") { return .start(try self.streamStart(scanner)) }
        if scanner.string(name, equals: "stop") { return .stop(try self.streamStop(scanner)) }
        if scanner.string(name, equals: "dtmf") { return .dtmf(try self.dtmfEvent(scanner)) }
        if scanner.string(name, equals: "mark") { return .mark(try self.markEvent(scanner)) }
        return .unknown(event: try scanner.materialize(name))
    }

    @inline(__always)
    private func mediaFrame() throws(StreamProtocolError) -> MediaFrame {
        let sequenceNumber = try self.sequenceNumber.resolve("sequence_number")
        guard let media = try self.media.resolve("media") else {
            throw .invalidField(name: "media.payload", reason: "is missing")
        }
        return try media.frame(sequenceNumber: sequenceNumber, topLevelTrack: self.track)
    }

    /// A scanner positioned at a remembered event object, or nil if the message has none.
    func scanner(
        at object: FieldRead<Int>,
        named name: StaticString,
        in scanner: JSONScanner
    ) throws(StreamProtocolError) -> JSONScanner? {
        guard let offset = try object.resolve(name) else { return nil }
        var objectScanner = scanner
        objectScanner.index = offset
        objectScanner.depth = 1
        return objectScanner
    }
}

/// The members of a `media` object, read in place.
struct MediaMembers {
    var chunk: FieldRead<Int64> = .absent
    var timestamp: FieldRead<Int64> = .absent
    var track: FieldRead<Track> = .absent
    var payload: FieldRead<JSONString> = .absent

    /// Reads the value of the top-level `"media"` member; anything but an object is recorded as invalid.
    @inline(__always)
    static func read(_ scanner: inout JSONScanner) throws(StreamProtocolError) -> FieldRead<MediaMembers> {
        switch try scanner.peek() {
        case ASCII.openBrace:
            break
        case ASCII.lowerN:
            try scanner.scanLiteral("null")
            return .absent
        default:
            try scanner.skipValue()
            return .invalid(.notAnObject)
        }
        var members = MediaMembers()
        if try scanner.enterObject() {
            repeat {
                let key = try scanner.readKey()
                if scanner.string(key, equals: "chunk") {
                    members.chunk = try scanner.readInteger()
                } else if scanner.string(key, equals: "timestamp") {
                    members.timestamp = try scanner.readInteger()
                } else if scanner.string(key, equals: "payload") {
                    members.payload = try scanner.readPayload()
                } else if scanner.string(key, equals: "track") {
                    members.track = try scanner.readTrack()
                } else {
                    try scanner.skipValue()
                }
            } while try scanner.nextMember()
        }
        return .value(members)
    }

    /// The frame, or the first invalid field in document order of the platform's examples.
    @inline(__always)
    func frame(sequenceNumber: Int64?, topLevelTrack: FieldRead<Track>) throws(StreamProtocolError) -> MediaFrame {
        let chunk = try self.chunk.resolve("media.chunk")
        let timestamp = try self.timestamp.resolve("media.timestamp")
        var track = try self.track.resolve("media.track")
        if track == nil { track = try topLevelTrack.resolve("track") }
        let payload = try self.payload.require("media.payload")
        return MediaFrame(
            sequenceNumber: sequenceNumber,
            chunk: chunk,
            timestampMs: timestamp,
            track: track,
            payload: payload.range,
            payloadHasEscapes: payload.hasEscapes
        )
    }
}
