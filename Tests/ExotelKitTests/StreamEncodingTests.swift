import Testing

@testable import ExotelKit

/// Issue 12: every start shape seen in the wild is read, `media_format.encoding` is understood, and numbers of
/// `media_format` that cannot be numbers are told apart from the lenient "unknown".
@Suite struct StreamEncodingTests {
    let parser = StreamMessageParser()

    // MARK: - Encoding names

    @Test(arguments: [
        "audio/x-raw", "raw", "linear16", "audio/x-l16", "audio/l16", "slin", "AUDIO/X-RAW", "Linear16",
        "audio/L16;rate=8000", " slin ", "audio/x-raw; rate=16000; channels=1", "base64",
    ])
    func pcmSpellings(name: String) {
        #expect(StreamEncoding(mediaFormatEncoding: name) == .pcm16)
    }

    @Test(arguments: ["audio/x-mulaw", "audio/x-mulaw;rate=8000", "mulaw", "ulaw", "PCMU", "audio/basic", "g711u"])
    func muLawSpellings(name: String) {
        #expect(StreamEncoding(mediaFormatEncoding: name) == .muLaw)
    }

    @Test(arguments: ["audio/x-alaw", "AUDIO/X-ALAW; rate=8000", "alaw", "pcma", "g711a"])
    func aLawSpellings(name: String) {
        #expect(StreamEncoding(mediaFormatEncoding: name) == .aLaw)
    }

    @Test(arguments: [
        "audio/opus", "opus", "audio/x-flac", "", ";rate=8000", "audio/x-raw-but-not", "mu law", "\u{0}raw",
        "audio/mpeg",
    ])
    func otherEncodingsAreNotAccepted(name: String) {
        #expect(StreamEncoding(mediaFormatEncoding: name) == nil)
    }

    @Test func anAbsentEncodingIsPCM() {
        #expect(StreamEncoding(mediaFormatEncoding: nil) == .pcm16)
        #expect(StreamEncoding.pcm16.bytesPerSample == 2)
        #expect(StreamEncoding.muLaw.bytesPerSample == 1)
        #expect(StreamEncoding.aLaw.bytesPerSample == 1)
    }

    // MARK: - G.711 tables (the reference values of ITU-T G.711's tables; checked against audioop in IngestTests)

    @Test func muLawTableHasTheReferenceValues() {
        #expect(G711.muLawToLinear(0x00) == -32124)
        #expect(G711.muLawToLinear(0x80) == 32124)
        #expect(G711.muLawToLinear(0xFF) == 0)
        #expect(G711.muLawToLinear(0x7F) == 0)
        #expect(G711.muLawToLinear(0xFE) == 8)
        #expect(G711.muLawToLinear(0x7E) == -8)
        // Monotonic within each sign: a larger code is a value closer to zero.
        for code in 0..<127 { #expect(G711.muLawToLinear(UInt8(code)) < G711.muLawToLinear(UInt8(code + 1))) }
    }

    @Test func aLawTableHasTheReferenceValues() {
        #expect(G711.aLawToLinear(0x55) == -8)
        #expect(G711.aLawToLinear(0xD5) == 8)
        #expect(G711.aLawToLinear(0x2A) == -32256)
        #expect(G711.aLawToLinear(0xAA) == 32256)
        #expect(G711.aLawToLinear(0x00) == -5504)
        #expect(G711.aLawToLinear(0x80) == 5504)
        for code in 0...255 { #expect(G711.aLawToLinear(UInt8(code)) == -G711.aLawToLinear(UInt8(code ^ 0x80))) }
    }

    @Test func expandWritesOneSamplePerByte() {
        let bytes: [UInt8] = [0x00, 0xFF, 0x80, 0x55]
        var out = [Int16](repeating: 1, count: 5)
        bytes.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { G711.expand(raw, encoding: .muLaw, into: $0.baseAddress!) }
        }
        #expect(out == [-32124, 0, 32124, G711.muLawToLinear(0x55), 1])
    }

    // MARK: - Thin starts

    @Test func startWithoutTheNestedObject() throws {
        // What the platform's public test client sends: a top-level stream_sid and nothing else.
        let start = try #require(
            try self.parser.parse(#"{"event":"start","sequence_number":"1","stream_sid":"thin"}"#).start
        )
        #expect(start.streamSid == "thin")
        #expect(start.callSid == nil)
        #expect(start.accountSid == nil)
        #expect(start.mediaFormat == nil)
        #expect(start.sequenceNumber == 1)
    }

    @Test func startWithNoIdAtAll() throws {
        let start = try #require(try self.parser.parse(#"{"event":"start"}"#).start)
        #expect(start == StreamStart(streamSid: nil))
        let nestedOnly = try #require(try self.parser.parse(#"{"event":"start","start":{"account_sid":"acc"}}"#).start)
        #expect(nestedOnly.streamSid == nil)
        #expect(nestedOnly.accountSid == "acc")
    }

    @Test func encoderWritesAThinStartTheParserReadsBack() throws {
        for start in [
            StreamStart(streamSid: nil), StreamStart(streamSid: "S"), StreamStart(streamSid: nil, callSid: "C"),
        ] {
            let bytes = StreamMessageEncoder().start(start, sequenceNumber: 1)
            var parsed = try #require(try bytes.withUnsafeBytes { try self.parser.parse($0) }.start)
            parsed.sequenceNumber = nil
            #expect(parsed == start)
        }
    }

    // MARK: - Numbers of media_format

    @Test(arguments: [
        (#""sample_rate":"99999999999999999999""#, "media_format.sample_rate is out of range"),
        (#""sample_rate":99999999999999999999"#, "media_format.sample_rate is out of range"),
        (#""sample_rate":9223372036854775808"#, "media_format.sample_rate is out of range"),
        (#""sample_rate":-8000"#, "media_format.sample_rate is negative"),
        (#""bit_rate":"99999999999999999999kbps""#, "media_format.bit_rate is out of range"),
        (#""bit_rate":123456789012345678901234567890"#, "media_format.bit_rate is out of range"),
        (#""bit_rate":"-16""#, "media_format.bit_rate is negative"),
    ])
    func numbersThatCannotBeNumbersAreInvalid(member: String, reason: String) throws {
        let start = try #require(
            try self.parser.parse(
                #"{"event":"start","stream_sid":"S","start":{"media_format":{"encoding":"raw",\#(member)}}}"#
            ).start
        )
        let format = try #require(start.mediaFormat)
        #expect(format.invalidReason == reason)
        #expect(format.sampleRate == nil)
    }

    @Test func usableNumbersAreValid() throws {
        let start = try #require(
            try self.parser.parse(
                #"{"event":"start","stream_sid":"S","start":{"media_format":{"encoding":"audio/x-mulaw","sample_rate":"9223372036854775807","bit_rate":"128kbps"}}}"#
            ).start
        )
        #expect(start.mediaFormat == MediaFormat(encoding: "audio/x-mulaw", sampleRate: Int.max, bitRate: "128kbps"))
    }
}
