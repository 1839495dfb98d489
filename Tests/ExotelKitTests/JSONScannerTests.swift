import Testing

@testable import ExotelKit

/// The parser validates the whole document strictly (RFC 8259), wherever the problem is.
@Suite struct JSONScannerTests {
    let parser = StreamMessageParser()

    /// Malformed documents, the byte offset the error must point at, and a word the reason must contain.
    static let malformed: [(String, Int, String)] = [
        // Trailing commas.
        (#"{"event":"connected",}"#, 21, "expected a string key but found '}'"),
        (#"{"event":"connected","a":[1,2,]}"#, 30, "expected a value but found ']'"),
        (#"{"event":"connected","a":{"b":1,}}"#, 32, "expected a string key"),
        // Single quotes and bare words.
        (#"{'event':'connected'}"#, 1, "expected a string key but found '''"),
        (#"{"event":'connected'}"#, 9, "expected a value"),
        (#"{"event":"connected","a":NaN}"#, 25, "expected a value but found 'N'"),
        (#"{"event":"connected","a":Infinity}"#, 25, "expected a value"),
        (#"{"event":"connected","a":tru}"#, 25, "invalid literal (expected true)"),
        (#"{"event":"connected","a":nul}"#, 25, "invalid literal (expected null)"),
        (#"{"event":"connected","a":True}"#, 25, "expected a value"),
        // Numbers.
        (#"{"event":"connected","a":01}"#, 26, "leading zero"),
        (#"{"event":"connected","a":-01}"#, 27, "leading zero"),
        (#"{"event":"connected","a":"1","b":00}"#, 34, "leading zero"),
        (#"{"event":"connected","a":+1}"#, 25, "expected a value"),
        (#"{"event":"connected","a":.5}"#, 25, "expected a value"),
        (#"{"event":"connected","a":1.}"#, 27, "expected a digit after '.'"),
        (#"{"event":"connected","a":1e}"#, 27, "expected a digit in the exponent"),
        (#"{"event":"connected","a":1e+}"#, 28, "expected a digit in the exponent"),
        (#"{"event":"connected","a":-}"#, 26, "expected a digit"),
        (#"{"event":"connected","a":0x1F}"#, 26, "expected ',' or '}'"),
        // Strings: escapes.
        (#"{"event":"connected","a":"\x"}"#, 26, #"invalid escape '\x'"#),
        (#"{"event":"connected","a":"\'"}"#, 26, "invalid escape"),
        (#"{"event":"connected","a":"\u12G4"}"#, 26, "expected 4 hex digits"),
        (#"{"event":"connected","a":"\u123"}"#, 26, "expected 4 hex digits"),
        (#"{"event":"connected","a":"\uD800"}"#, 26, "high surrogate without a low surrogate"),
        (#"{"event":"connected","a":"\uD800\u0041"}"#, 26, "high surrogate without a low surrogate"),
        (#"{"event":"connected","a":"\uDC00"}"#, 26, "low surrogate without a high surrogate"),
        (#"{"event":"connected","a":"\"#, 25, "unterminated string"),
        // Strings: termination.
        (#"{"event":"conn"#, 9, "unterminated string"),
        (#"{"event":"media","media":{"payload":"AAAA"#, 36, "unterminated string"),
        (#"{"event":"media","media":{"payload":"AA\"AA"#, 36, "unterminated string"),
        // Structure.
        (#"{"event" "connected"}"#, 9, "expected ':' after an object key"),
        (#"{"event":"connected" "a":1}"#, 21, "expected ',' or '}'"),
        (#"{"event":"connected","a":[1 2]}"#, 28, "expected ',' or ']'"),
        (#"{"event":"connected""#, 20, "unexpected end of input"),
        (#"{"event":"connected","a":[1,"#, 28, "unexpected end of input"),
        (#"{"event":"connected"}}"#, 21, "expected the end of the message"),
        (#"{"event":"connected"} x"#, 22, "expected the end of the message"),
        (#"{"event":"connected"}{}"#, 21, "expected the end of the message"),
        (#"{"event":"connected"},"#, 21, "expected the end of the message"),
        (#"{1:2}"#, 1, "expected a string key"),
        ("", 0, "the message is empty"),
        ("  \n\t ", 5, "unexpected end of input"),
        ("\u{FEFF}{\"event\":\"connected\"}", 0, "expected a value"),
        // Errors in parts of the document that no event needs are still errors.
        (#"{"event":"connected","media":{"chunk":01}}"#, 39, "leading zero"),
        (#"{"event":"media","media":{"payload":"AAAA","x":[tru]}}"#, 48, "invalid literal"),
        (#"{"x":{"y":[1,{"z":"\q"}]},"event":"connected"}"#, 19, "invalid escape"),
        (#"["a",]"#, 5, "expected a value"),
    ]

    @Test(arguments: Self.malformed)
    func rejectsMalformedJSON(_ json: String, _ offset: Int, _ reason: String) throws {
        let error = try #require(self.parser.jsonError(json), "\(json) was accepted or failed otherwise")
        #expect(error.offset == offset)
        #expect(error.reason.contains(reason), "reason was: \(error.reason)")
    }

    @Test(arguments: Array(UInt8(0)..<0x20))
    func rejectsRawControlCharacterInStrings(_ byte: UInt8) throws {
        var bytes = Array(#"{"event":"connected","a":"x_y"}"#.utf8)
        bytes[27] = byte
        let error = try #require(self.parser.jsonError(bytes: bytes))
        #expect(error.offset == 27)
        #expect(error.reason.contains("unescaped control character"))
        // In a key as well.
        var key = Array(#"{"e_ent":"connected"}"#.utf8)
        key[3] = byte
        #expect(self.parser.jsonError(bytes: key)?.offset == 3)
    }

    @Test func acceptsEveryValidEscape() throws {
        let message = try self.parser.parse(#"{"event":"x\"\\\/\b\f\n\r\t\u0041\u00e9\u20ac\ud83d\ude00"}"#)
        #expect(message == .unknown(event: "x\"\\/\u{8}\u{C}\n\r\tAé€😀"))
    }

    @Test func acceptsWhitespaceEverywhereAllowed() throws {
        let json =
            " \t\r\n{ \"event\" :\n\"media\" , \"media\" : { \"payload\" : \"AAE=\" , \"chunk\" : 5 } , \"a\" : [ 1 , { } , [ ] ] } \n"
        let (frame, pcm) = try self.parser.media(json)
        #expect(frame.chunk == 5)
        #expect(pcm == [0, 1])
    }

    @Test func acceptsValidNumbersInUnknownFields() throws {
        let json = #"{"event":"connected","n":[0,-0,1,-1,10,0.5,-0.5,1e9,1E-9,1.5e+3,123456789012345678901234567890]}"#
        #expect(try self.parser.parse(json) == .connected)
    }

    // MARK: - Depth

    @Test func nestingUpToMaxDepthIsAccepted() throws {
        // The message object is level 1, so 31 nested arrays reach the default limit of 32.
        let json =
            #"{"event":"connected","a":"# + String(repeating: "[", count: 31) + String(repeating: "]", count: 31) + "}"
        #expect(try self.parser.parse(json) == .connected)
    }

    @Test func nestingBeyondMaxDepthIsRejected() throws {
        let json =
            #"{"event":"connected","a":"# + String(repeating: "[", count: 32) + String(repeating: "]", count: 32) + "}"
        let error = try #require(self.parser.jsonError(json))
        #expect(error.offset == 25 + 31)
        #expect(error.reason == "nesting deeper than 32 levels")
    }

    @Test func deepNestingDoesNotExhaustTheStack() throws {
        let json = #"{"a":"# + String(repeating: #"{"a":["#, count: 100_000)
        #expect(self.parser.jsonError(json)?.reason == "nesting deeper than 32 levels")
    }

    @Test func customMaxDepth() throws {
        let shallow = StreamMessageParser(maxDepth: 2)
        #expect(try shallow.media(#"{"event":"media","media":{"payload":"AAE="}}"#).pcm == [0, 1])
        #expect(shallow.jsonError(#"{"event":"connected","a":{"b":{}}}"#)?.reason == "nesting deeper than 2 levels")
        #expect(StreamMessageParser(maxDepth: 1).jsonError(#"{"event":"connected","a":[]}"#) != nil)
    }

    // MARK: - UTF-8

    /// Byte sequences that are not UTF-8: a stray continuation byte, an overlong '/', an encoded surrogate, a code
    /// point above U+10FFFF, a truncated sequence, and 0xFF.
    static let invalidUTF8: [[UInt8]] = [
        [0x80], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0xFF],
    ]

    @Test(arguments: Self.invalidUTF8)
    func rejectsInvalidUTF8InMaterialisedStrings(_ sequence: [UInt8]) throws {
        let unknownEvent = Array(#"{"event":"ab"#.utf8) + sequence + Array(#""}"#.utf8)
        let eventError = try #require(self.parser.jsonError(bytes: unknownEvent))
        #expect(eventError.offset == 12)
        #expect(eventError.reason == "invalid UTF-8 in string")

        let callSid =
            Array(#"{"event":"start","stream_sid":"S","start":{"call_sid":""#.utf8) + sequence + Array(#""}}"#.utf8)
        #expect(self.parser.jsonError(bytes: callSid)?.reason == "invalid UTF-8 in string")
    }

    @Test func acceptsMultibyteUTF8() throws {
        let start = try #require(
            try self.parser.parse(#"{"event":"start","stream_sid":"S","start":{"from":"ñ€😀"}}"#).start
        )
        #expect(start.from == "ñ€😀")
    }
}
