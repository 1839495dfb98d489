import Testing

@testable import ExotelKit

/// Locating the payload in place and decoding it with ``StreamMessageParser/decodePayload(of:in:into:)``.
@Suite struct MediaPayloadTests {
    let parser = StreamMessageParser()

    private func message(payload: String) -> String {
        #"{"event":"media","sequence_number":"3","stream_sid":"\#(sid)","media":{"chunk":"2","timestamp":"200","payload":"\#(payload)"}}"#
    }

    @Test func payloadRangeIsTheTextBetweenTheQuotes() throws {
        let text = self.message(payload: "AAECAwQFBgc=")
        let frame = try #require(try self.parser.parse(text).mediaFrame)
        let bytes = Array(text.utf8)
        #expect(String(decoding: bytes[frame.payload], as: UTF8.self) == "AAECAwQFBgc=")
        #expect(bytes[frame.payload.lowerBound - 1] == UInt8(ascii: "\""))
        #expect(bytes[frame.payload.upperBound] == UInt8(ascii: "\""))
        #expect(StreamMessageParser.maxDecodedSize(of: frame) == 9)
    }

    @Test func emptyPayloadDecodesToNothing() throws {
        let (frame, pcm) = try self.parser.media(self.message(payload: ""))
        #expect(frame.payload.isEmpty)
        #expect(pcm.isEmpty)
    }

    // MARK: - Escapes

    /// Some JSON encoders (PHP, some Java) write `/` as `\/`; the payload must still decode.
    @Test func escapedSlashesAreUndone() throws {
        let pcm: [UInt8] = [0xFF, 0xFF, 0xFB, 0xEF, 0xBF, 0xFC, 0x00, 0x3F]  // base64 "///77778AD8=" has slashes
        let encoded = String(decoding: pcm.withUnsafeBytes { Base64.encode($0) }, as: UTF8.self)
        #expect(encoded.contains("/"))
        let escaped = encoded.replacingAll("/", with: #"\/"#)
        let (frame, decoded) = try self.parser.media(self.message(payload: escaped))
        #expect(frame.payloadHasEscapes)
        #expect(frame.payload.count == escaped.utf8.count)
        #expect(decoded == pcm)
    }

    @Test func unicodeEscapesInPayloadAreUndone() throws {
        let (frame, pcm) = try self.parser.media(self.message(payload: #"\u0041AECAw\u003d\u003D"#))
        #expect(frame.payloadHasEscapes)
        #expect(pcm == [0, 1, 2, 3])
    }

    @Test func unescapedPayloadHasNoEscapesFlag() throws {
        let frame = try #require(try self.parser.parse(self.message(payload: "AAECAw==")).mediaFrame)
        #expect(!frame.payloadHasEscapes)
    }

    /// An escaped quote must not end the string early; once undone it is not base64.
    @Test func escapedQuoteInPayloadIsFoundAndRejected() throws {
        let text = self.message(payload: #"AAEC\"AAA"#)
        let frame = try #require(try self.parser.parse(text).mediaFrame)
        #expect(frame.payloadHasEscapes)
        #expect(frame.payload.count == 9)  // AAEC \" AAA
        #expect(throws: StreamProtocolError.invalidBase64(offset: 4)) { try self.parser.media(text) }
    }

    /// The payload string is not checked byte by byte when parsed (the decoder's alphabet check covers it), so a
    /// raw control character fails at decoding, at its offset.
    @Test func rawControlCharacterInPayloadFailsAsBase64() throws {
        var bytes = Array(self.message(payload: "AAECAwQF").utf8)
        let frame = try #require(try self.parser.parse(bytes: bytes).mediaFrame)
        bytes[frame.payload.lowerBound + 5] = 0x01
        #expect(throws: StreamProtocolError.invalidBase64(offset: 5)) { try self.parser.media(bytes) }
    }

    // MARK: - Invalid base64

    static let invalidPayloads: [(String, Int)] = [
        ("AA*A", 2),  // not in the alphabet
        ("AAE-", 3),  // URL-safe alphabet is not the platform's
        ("AAE_", 3),
        ("AA A", 2),  // whitespace
        ("AAEC AwQF", 4),
        ("AAE=AAAA", 3),  // padding in the middle
        ("AA==AAAA", 2),  // data after padding
        ("AA=A", 2),  // '=' not at the end
        ("A===", 1),  // too much padding
        ("====", 0),
        ("AAECA", 4),  // length 4n + 1
        ("A", 0),
        ("AAECAwQFB", 8),
        ("AA=", 2),  // padding without a whole quad
        ("AAE==", 3),
    ]

    @Test(arguments: Self.invalidPayloads)
    func rejectsInvalidBase64(_ payload: String, _ offset: Int) {
        #expect(throws: StreamProtocolError.invalidBase64(offset: offset)) {
            try self.parser.media(self.message(payload: payload))
        }
    }

    /// A bad character deep in a realistic payload (inside the 8-character fast loop) is found at its offset.
    @Test(arguments: [0, 1, 7, 8, 100, 1001, 2127, 2128, 2133, 2134])
    func rejectsBadCharacterAnywhereInALongPayload(_ position: Int) {
        var generator = SplitMix64(seed: UInt64(position))
        let pcm = randomBytes(1600, using: &generator)
        var text = Array(String(decoding: pcm.withUnsafeBytes { Base64.encode($0) }, as: UTF8.self).utf8)
        #expect(text.count == 2136)
        text[position] = UInt8(ascii: "!")
        let payload = String(decoding: text, as: UTF8.self)
        #expect(throws: StreamProtocolError.invalidBase64(offset: position)) {
            try self.parser.media(self.message(payload: payload))
        }
    }

    @Test(arguments: ["AAE", "AA", "AAECAwQ", "AAECAwQF"])
    func acceptsUnpaddedPayloads(_ payload: String) throws {
        let padded = payload + String(repeating: "=", count: (4 - payload.count % 4) % 4)
        #expect(try decodeBase64(payload) == decodeBase64(padded))
    }

    // MARK: - Odd byte counts

    @Test(arguments: [("AA==", 1), ("AAEC", 3), ("AAECAwQ=", 5), ("AAECAwQFBg", 7)])
    func oddByteCountIsNotPCM(_ payload: String, _ count: Int) throws {
        #expect(try decodeBase64(payload).count == count)
        #expect(throws: StreamProtocolError.oddPCMByteCount(count)) {
            try self.parser.media(self.message(payload: payload))
        }
    }
}

extension String {
    fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
        self.reduce(into: "") { result, character in
            if character == target { result += replacement } else { result.append(character) }
        }
    }
}
