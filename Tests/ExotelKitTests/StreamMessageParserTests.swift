import Testing

@testable import ExotelKit

/// Every event kind, in the shapes the platform's documentation pages show (exotel-platform.md §1.3, §1.5).
@Suite struct StreamMessageParserTests {
    let parser = StreamMessageParser()

    // MARK: - Event kinds, S1 shape (every scalar a string)

    @Test func connected() throws {
        #expect(try self.parser.parse(#"{"event": "connected"}"#) == .connected)
    }

    @Test func startAllStrings() throws {
        let message = try self.parser.parse(
            #"""
            {"event": "start", "sequence_number": "1", "stream_sid": "\#(sid)",
             "start": {"stream_sid": "\#(sid)", "call_sid": "CA123", "account_sid": "exotel1",
                       "from": "+919876543210", "to": "+918047491899",
                       "custom_parameters": {"key1": "value1"},
                       "media_format": {"encoding": "audio/x-raw", "sample_rate": "8000", "bit_rate": "16"}}}
            """#
        )
        #expect(
            message
                == .start(
                    StreamStart(
                        streamSid: sid,
                        callSid: "CA123",
                        accountSid: "exotel1",
                        from: "+919876543210",
                        to: "+918047491899",
                        customParameters: ["key1": "value1"],
                        mediaFormat: MediaFormat(encoding: "audio/x-raw", sampleRate: 8000, bitRate: "16"),
                        tracks: nil,
                        sequenceNumber: 1
                    )
                )
        )
    }

    @Test func mediaAllStrings() throws {
        let text =
            #"{"event": "media", "sequence_number": "3", "stream_sid": "\#(sid)", "media": {"chunk": "2", "timestamp": "200", "payload": "AAECAw=="}}"#
        let (frame, pcm) = try self.parser.media(text)
        #expect(frame.sequenceNumber == 3)
        #expect(frame.chunk == 2)
        #expect(frame.timestampMs == 200)
        #expect(frame.track == nil)
        #expect(!frame.payloadHasEscapes)
        #expect(Array(Array(text.utf8)[frame.payload]) == Array("AAECAw==".utf8))
        #expect(pcm == [0, 1, 2, 3])
    }

    @Test func dtmfAllStrings() throws {
        let message = try self.parser.parse(
            #"{"event": "dtmf", "sequence_number": "7", "stream_sid": "\#(sid)", "dtmf": {"digit": "5", "duration": "100"}}"#
        )
        #expect(message == .dtmf(DTMFEvent(digit: "5", durationMs: 100)))
    }

    @Test func markAllStrings() throws {
        let message = try self.parser.parse(
            #"{"event": "mark", "sequence_number": "15", "stream_sid": "\#(sid)", "mark": {"name": "my-label"}}"#
        )
        #expect(message == .mark(MarkEvent(name: "my-label")))
    }

    @Test func stopAllStrings() throws {
        let message = try self.parser.parse(
            #"""
            {"event": "stop", "sequence_number": "20", "stream_sid": "\#(sid)",
             "stop": {"call_sid": "CA123", "account_sid": "exotel1", "reason": "callended"}}
            """#
        )
        #expect(
            message
                == .stop(StreamStop(callSid: "CA123", accountSid: "exotel1", reason: "callended", sequenceNumber: 20))
        )
    }

    // MARK: - Event kinds, S2/S3 shape (sequence_number and chunk as numbers)

    @Test func startNumbers() throws {
        let message = try self.parser.parse(
            #"""
            {"event":"start","sequence_number":1,"stream_sid":"\#(sid)",
             "start":{"stream_sid":"\#(sid)","call_sid":"CA9","account_sid":"acc","from":"09876","to":"08047",
                      "custom_parameters":{},"media_format":{"encoding":"raw","sample_rate":8000,"bit_rate":"128"}}}
            """#
        )
        let start = try #require(message.start)
        #expect(start.sequenceNumber == 1)
        #expect(start.callSid == "CA9")
        #expect(start.customParameters == [:])
        #expect(start.mediaFormat == MediaFormat(encoding: "raw", sampleRate: 8000, bitRate: "128"))
    }

    @Test func mediaNumbers() throws {
        let (frame, pcm) = try self.parser.media(
            #"{"event":"media","sequence_number":3,"stream_sid":"\#(sid)","media":{"chunk":2,"timestamp":"200","payload":"//8AAA=="}}"#
        )
        #expect(frame.sequenceNumber == 3)
        #expect(frame.chunk == 2)
        #expect(frame.timestampMs == 200)
        #expect(pcm == [0xFF, 0xFF, 0, 0])
    }

    @Test func dtmfNumbers() throws {
        let message = try self.parser.parse(
            #"{"event":"dtmf","sequence_number":7,"stream_sid":"\#(sid)","dtmf":{"digit":5,"duration":100}}"#
        )
        #expect(message == .dtmf(DTMFEvent(digit: "5", durationMs: 100)))
    }

    @Test func markNumbers() throws {
        let message = try self.parser.parse(
            #"{"event":"mark","sequence_number":15,"stream_sid":"\#(sid)","mark":{"name":"turn-3-end"}}"#
        )
        #expect(message == .mark(MarkEvent(name: "turn-3-end")))
    }

    @Test func stopNumbers() throws {
        let message = try self.parser.parse(
            #"{"event":"stop","sequence_number":20,"stream_sid":"\#(sid)","stop":{"call_sid":"CA9","account_sid":"acc","reason":"stopped"}}"#
        )
        #expect(message == .stop(StreamStop(callSid: "CA9", accountSid: "acc", reason: "stopped", sequenceNumber: 20)))
    }

    // MARK: - start details

    @Test func startTakesTopLevelStreamSidWhenStartHasNone() throws {
        let start = try #require(
            try self.parser.parse(#"{"event":"start","stream_sid":"MZ1","start":{"call_sid":"CA1"}}"#).start
        )
        #expect(start.streamSid == "MZ1")
        #expect(start.callSid == "CA1")
        #expect(start.sequenceNumber == nil)
    }

    @Test func startPrefersItsOwnStreamSid() throws {
        let start = try #require(
            try self.parser.parse(#"{"event":"start","stream_sid":"top","start":{"stream_sid":"inner"}}"#).start
        )
        #expect(start.streamSid == "inner")
    }

    @Test func startAcceptsCamelCaseSpellings() throws {
        let start = try #require(
            try self.parser.parse(
                #"{"event":"start","start":{"streamSid":"S","callSid":"C","accountSid":"A","customParameters":{"k":"v"}}}"#
            ).start
        )
        #expect(start == StreamStart(streamSid: "S", callSid: "C", accountSid: "A", customParameters: ["k": "v"]))
        let topLevel = try #require(try self.parser.parse(#"{"event":"start","streamSid":"T"}"#).start)
        #expect(topLevel.streamSid == "T")
    }

    @Test func startWithoutStreamSidIsStillAStart() throws {
        // Issue 12: the ingest names such a stream itself rather than losing its audio; a wrong type is still wrong.
        let start = try #require(try self.parser.parse(#"{"event":"start","start":{"call_sid":"CA1"}}"#).start)
        #expect(start.streamSid == nil)
        #expect(start.callSid == "CA1")
    }

    @Test func startWithWronglyTypedFieldsFails() {
        #expect(throws: StreamProtocolError.invalidField(name: "start.stream_sid", reason: "is not a string")) {
            try self.parser.parse(#"{"event":"start","start":{"stream_sid":42}}"#)
        }
        #expect(throws: StreamProtocolError.invalidField(name: "start", reason: "is not an object")) {
            try self.parser.parse(#"{"event":"start","stream_sid":"S","start":"x"}"#)
        }
    }

    @Test func customParametersKeepNonStringValuesAsJSONText() throws {
        let start = try #require(
            try self.parser.parse(
                #"{"event":"start","stream_sid":"S","start":{"custom_parameters":{"a":"x","b":12,"c":true,"d":null,"e":[1, 2],"f":"\u00e9"}}}"#
            ).start
        )
        #expect(start.customParameters == ["a": "x", "b": "12", "c": "true", "e": "[1, 2]", "f": "é"])
    }

    @Test func customParametersMustBeAnObject() {
        #expect(throws: StreamProtocolError.invalidField(name: "start.custom_parameters", reason: "is not an object")) {
            try self.parser.parse(#"{"event":"start","stream_sid":"S","start":{"custom_parameters":"k=v"}}"#)
        }
    }

    @Test func mediaFormatIsLenient() throws {
        // A non-integer sample_rate is "unknown", not an error: the docs conflict on media_format (§1.3).
        let fractional = try #require(
            try self.parser.parse(
                #"{"event":"start","stream_sid":"S","start":{"media_format":{"encoding":"base64","sample_rate":"8k","bit_rate":"128kbps"}}}"#
            ).start
        )
        #expect(fractional.mediaFormat == MediaFormat(encoding: "base64", sampleRate: nil, bitRate: "128kbps"))
        let numeric = try #require(
            try self.parser.parse(
                #"{"event":"start","stream_sid":"S","start":{"media_format":{"sample_rate":16000.5,"bit_rate":16}}}"#
            ).start
        )
        #expect(numeric.mediaFormat == MediaFormat(encoding: nil, sampleRate: nil, bitRate: "16"))
        let notAnObject = try #require(
            try self.parser.parse(#"{"event":"start","stream_sid":"S","start":{"media_format":"pcm"}}"#).start
        )
        #expect(notAnObject.mediaFormat == nil)
    }

    @Test func tracksIgnoreUnknownEntries() throws {
        let start = try #require(
            try self.parser.parse(
                #"{"event":"start","stream_sid":"S","start":{"tracks":["inbound","both",7,"outbound"]}}"#
            ).start
        )
        #expect(start.tracks == [.inbound, .outbound])
        let none = try #require(try self.parser.parse(#"{"event":"start","stream_sid":"S","start":{}}"#).start)
        #expect(none.tracks == nil)
    }

    @Test func startStringsWithEscapesAreUnescaped() throws {
        let start = try #require(
            try self.parser.parse(#"{"event":"start","stream_sid":"S","start":{"from":"+91\t\"x\"\\\/\ud83d\ude00"}}"#)
                .start
        )
        #expect(start.from == "+91\t\"x\"\\/😀")
    }

    // MARK: - stop, dtmf, mark details

    @Test func stopWithoutObjectHasOnlySequenceNumber() throws {
        #expect(
            try self.parser.parse(#"{"event":"stop","sequence_number":"9"}"#) == .stop(StreamStop(sequenceNumber: 9))
        )
    }

    @Test func stopFieldsMustBeStrings() {
        #expect(throws: StreamProtocolError.invalidField(name: "stop.reason", reason: "is not a string")) {
            try self.parser.parse(#"{"event":"stop","stop":{"reason":1}}"#)
        }
    }

    @Test func dtmfNeedsADigit() {
        #expect(throws: StreamProtocolError.invalidField(name: "dtmf.digit", reason: "is missing")) {
            try self.parser.parse(#"{"event":"dtmf","dtmf":{"duration":"100"}}"#)
        }
        #expect(throws: StreamProtocolError.invalidField(name: "dtmf.digit", reason: "is missing")) {
            try self.parser.parse(#"{"event":"dtmf"}"#)
        }
        #expect(throws: StreamProtocolError.invalidField(name: "dtmf.digit", reason: "is not a string")) {
            try self.parser.parse(#"{"event":"dtmf","dtmf":{"digit":["5"]}}"#)
        }
    }

    @Test func markNeedsAName() {
        #expect(throws: StreamProtocolError.invalidField(name: "mark.name", reason: "is missing")) {
            try self.parser.parse(#"{"event":"mark","mark":{}}"#)
        }
        #expect(throws: StreamProtocolError.invalidField(name: "mark", reason: "is not an object")) {
            try self.parser.parse(#"{"event":"mark","mark":[]}"#)
        }
    }

    // MARK: - Unknown and missing events

    @Test func unknownEventIsReturnedByName() throws {
        #expect(try self.parser.parse(#"{"event":"clear","stream_sid":"S"}"#) == .unknown(event: "clear"))
        #expect(try self.parser.parse(#"{"event":"cl\u0065ar"}"#) == .unknown(event: "clear"))
        #expect(try self.parser.parse(#"{"event":""}"#) == .unknown(event: ""))
    }

    @Test(arguments: [
        #"{}"#, #"{"stream_sid":"S"}"#, #"{"event":1}"#, #"{"event":null}"#, #"{"event":{"name":"media"}}"#,
    ])
    func missingEvent(_ text: String) {
        #expect(throws: StreamProtocolError.missingEvent) { try self.parser.parse(text) }
    }

    @Test(arguments: [#"[]"#, #"[{"event":"connected"}]"#, #""connected""#, #"42"#, #"null"#, #" true "#])
    func notAnObject(_ text: String) {
        #expect(throws: StreamProtocolError.notAnObject) { try self.parser.parse(text) }
    }

    // MARK: - Key order, duplicates, escaped keys

    @Test func everyKeyOrderGivesTheSameFrame() throws {
        let top = [#""event":"media""#, #""sequence_number":"3""#, #""stream_sid":"\#(sid)""#]
        let inner = [#""chunk":"2""#, #""timestamp":"200""#, #""payload":"AAECAwQF""#, #""track":"outbound""#]
        var seen = 0
        for innerOrder in permutations(inner) {
            let media = #""media":{"# + innerOrder.joined(separator: ",") + "}"
            for topOrder in permutations(top + [media]) {
                let (frame, pcm) = try self.parser.media("{" + topOrder.joined(separator: ",") + "}")
                #expect(frame.sequenceNumber == 3 && frame.chunk == 2 && frame.timestampMs == 200)
                #expect(frame.track == .outbound)
                #expect(pcm == [0, 1, 2, 3, 4, 5])
                seen += 1
            }
        }
        #expect(seen == 24 * 24)
    }

    @Test func duplicateKeysLastWins() throws {
        let (frame, _) = try self.parser.media(
            #"{"event":"start","media":{"chunk":"x","chunk":"4","payload":"AAAA","payload":"AAECAw=="},"event":"media"}"#
        )
        #expect(frame.chunk == 4)
        #expect(frame.payload.count == 8)
    }

    @Test func escapedKeysAndEventNamesMatch() throws {
        let (frame, pcm) = try self.parser.media(#"{"\u0065vent":"me\u0064ia","media":{"p\u0061yload":"AAE="}}"#)
        #expect(frame.sequenceNumber == nil)
        #expect(pcm == [0, 1])
    }

    @Test func unknownKeysAreSkipped() throws {
        let (frame, pcm) = try self.parser.media(
            #"{"x":[1,{"y":null},true,false,-0.5e+3],"event":"media","media":{"z":{"deep":["a"]},"payload":"AAE=","w":""},"end":{}}"#
        )
        #expect(frame.chunk == nil)
        #expect(pcm == [0, 1])
    }

    /// Objects of other events are validated as JSON but their fields are not judged.
    @Test func otherEventsObjectsAreNotJudged() throws {
        #expect(
            try self.parser.parse(#"{"event":"connected","media":{"chunk":"x"},"start":{"stream_sid":1},"dtmf":5}"#)
                == .connected
        )
        #expect(
            try self.parser.parse(#"{"event":"mark","mark":{"name":"m"},"media":"nope","track":"both"}"#)
                == .mark(MarkEvent(name: "m"))
        )
    }

    // MARK: - Track

    @Test func trackInsideMediaOrAtTopLevel() throws {
        #expect(
            try self.parser.media(#"{"event":"media","media":{"track":"inbound","payload":""}}"#).frame.track
                == .inbound
        )
        #expect(
            try self.parser.media(#"{"event":"media","track":"outbound","media":{"payload":""}}"#).frame.track
                == .outbound
        )
        #expect(
            try self.parser.media(#"{"event":"media","track":"outbound","media":{"track":"inbound","payload":""}}"#)
                .frame.track == .inbound
        )
        #expect(try self.parser.media(#"{"event":"media","media":{"track":null,"payload":""}}"#).frame.track == nil)
    }

    @Test func unknownTrackFails() {
        #expect(
            throws: StreamProtocolError.invalidField(name: "media.track", reason: #"is not "inbound" or "outbound""#)
        ) {
            try self.parser.parse(#"{"event":"media","media":{"track":"both","payload":""}}"#)
        }
        #expect(throws: StreamProtocolError.invalidField(name: "track", reason: #"is not "inbound" or "outbound""#)) {
            try self.parser.parse(#"{"event":"media","track":"both_tracks","media":{"payload":""}}"#)
        }
        #expect(throws: StreamProtocolError.invalidField(name: "media.track", reason: "is not a string")) {
            try self.parser.parse(#"{"event":"media","media":{"track":0,"payload":""}}"#)
        }
    }

    @Test func trackChannels() {
        #expect(Track.inbound.channel == 0)
        #expect(Track.outbound.channel == 1)
    }

    // MARK: - Media without payload

    @Test func mediaWithoutPayloadFails() {
        let missing = StreamProtocolError.invalidField(name: "media.payload", reason: "is missing")
        #expect(throws: missing) { try self.parser.parse(#"{"event":"media","media":{"chunk":"1"}}"#) }
        #expect(throws: missing) { try self.parser.parse(#"{"event":"media","media":{"payload":null}}"#) }
        #expect(throws: missing) { try self.parser.parse(#"{"event":"media"}"#) }
        #expect(throws: missing) { try self.parser.parse(#"{"event":"media","media":null}"#) }
        #expect(throws: StreamProtocolError.invalidField(name: "media.payload", reason: "is not a string")) {
            try self.parser.parse(#"{"event":"media","media":{"payload":["AAAA"]}}"#)
        }
        #expect(throws: StreamProtocolError.invalidField(name: "media", reason: "is not an object")) {
            try self.parser.parse(#"{"event":"media","media":"AAAA"}"#)
        }
    }
}

/// All orderings of `items` (Heap's algorithm would do; this is small and obvious).
func permutations<T>(_ items: [T]) -> [[T]] {
    guard items.count > 1 else { return [items] }
    return items.indices.flatMap { index in
        var rest = items
        let first = rest.remove(at: index)
        return permutations(rest).map { [first] + $0 }
    }
}
