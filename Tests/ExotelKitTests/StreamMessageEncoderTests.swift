import Testing

@testable import ExotelKit

/// The encoder writes what the platform writes, and the parser reads back exactly what the encoder wrote.
@Suite struct StreamMessageEncoderTests {
    let parser = StreamMessageParser()

    private func text(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    // MARK: - Exact shapes (S1: every scalar a string)

    @Test func connectedShape() {
        #expect(self.text(StreamMessageEncoder().connected()) == #"{"event":"connected"}"#)
    }

    @Test func startShape() {
        let start = StreamStart(
            streamSid: sid,
            callSid: "CA1",
            accountSid: "acc",
            from: "+919876543210",
            to: "+918047491899",
            customParameters: ["key2": "v2", "key1": "value1"],
            mediaFormat: MediaFormat(encoding: "audio/x-raw", sampleRate: 8000, bitRate: "16")
        )
        let expected =
            #"{"event":"start","sequence_number":"1","stream_sid":"\#(sid)","start":{"stream_sid":"\#(sid)","call_sid":"CA1","account_sid":"acc","from":"+919876543210","to":"+918047491899","custom_parameters":{"key1":"value1","key2":"v2"},"media_format":{"encoding":"audio/x-raw","sample_rate":"8000","bit_rate":"16"}}}"#
        #expect(self.text(StreamMessageEncoder().start(start, sequenceNumber: 1)) == expected)
    }

    @Test func startShapeWithOnlyTheSid() {
        let expected =
            #"{"event":"start","sequence_number":1,"stream_sid":"S","start":{"stream_sid":"S","custom_parameters":{}}}"#
        #expect(
            self.text(StreamMessageEncoder(numberStyle: .numbers).start(StreamStart(streamSid: "S"), sequenceNumber: 1))
                == expected
        )
    }

    @Test func mediaShape() {
        let pcm: [UInt8] = [0, 1, 2, 3]
        let strings = pcm.withUnsafeBytes {
            StreamMessageEncoder().media(
                streamSid: sid,
                sequenceNumber: 3,
                chunk: 2,
                timestampMs: 200,
                track: nil,
                pcm: $0
            )
        }
        #expect(
            self.text(strings)
                == #"{"event":"media","sequence_number":"3","stream_sid":"\#(sid)","media":{"chunk":"2","timestamp":"200","payload":"AAECAw=="}}"#
        )
        let numbers = pcm.withUnsafeBytes {
            StreamMessageEncoder(numberStyle: .numbers).media(
                streamSid: sid,
                sequenceNumber: 3,
                chunk: 2,
                timestampMs: 200,
                track: .outbound,
                pcm: $0
            )
        }
        #expect(
            self.text(numbers)
                == #"{"event":"media","sequence_number":3,"stream_sid":"\#(sid)","media":{"chunk":2,"timestamp":"200","track":"outbound","payload":"AAECAw=="}}"#
        )
    }

    @Test func dtmfMarkStopShapes() {
        let encoder = StreamMessageEncoder()
        #expect(
            self.text(encoder.dtmf(streamSid: sid, sequenceNumber: 7, digit: "5", durationMs: 100))
                == #"{"event":"dtmf","sequence_number":"7","stream_sid":"\#(sid)","dtmf":{"digit":"5","duration":"100"}}"#
        )
        #expect(
            self.text(encoder.mark(streamSid: sid, sequenceNumber: 15, name: "my-label"))
                == #"{"event":"mark","sequence_number":"15","stream_sid":"\#(sid)","mark":{"name":"my-label"}}"#
        )
        #expect(
            self.text(
                encoder.stop(streamSid: sid, sequenceNumber: 20, callSid: "CA1", accountSid: "acc", reason: "callended")
            )
                == #"{"event":"stop","sequence_number":"20","stream_sid":"\#(sid)","stop":{"call_sid":"CA1","account_sid":"acc","reason":"callended"}}"#
        )
    }

    @Test func stringsAreEscaped() throws {
        let name = "a\"b\\c/d\ne\u{1}é"
        let bytes = StreamMessageEncoder().mark(streamSid: "S", sequenceNumber: 1, name: name)
        #expect(self.text(bytes).contains(#""name":"a\"b\\c/d\ne\u0001é""#))
        #expect(try self.parser.parse(bytes: bytes) == .mark(MarkEvent(name: name)))
    }

    // MARK: - Round trips

    static let styles: [StreamMessageEncoder.NumberStyle] = [.strings, .numbers]

    /// 100 ms of random PCM at each platform rate, with and without a track, in both number styles.
    @Test(arguments: [8000, 16000, 24000], [Track?.none, .inbound, .outbound])
    func mediaRoundTrip(rate: Int, track: Track?) throws {
        for style in Self.styles {
            var generator = SplitMix64(seed: UInt64(rate) ^ UInt64(track?.channel ?? 7))
            let pcm = randomBytes(rate / 10 * 2, using: &generator)
            let sequence = Int64.random(in: 0...Int64.max, using: &generator)
            let chunk = Int64.random(in: 0...1_000_000, using: &generator)
            let timestamp = Int64.random(in: 0...86_400_000, using: &generator)
            let bytes = pcm.withUnsafeBytes {
                StreamMessageEncoder(numberStyle: style).media(
                    streamSid: sid,
                    sequenceNumber: sequence,
                    chunk: chunk,
                    timestampMs: timestamp,
                    track: track,
                    pcm: $0
                )
            }
            let (frame, decoded) = try self.parser.media(bytes)
            #expect(frame.sequenceNumber == sequence)
            #expect(frame.chunk == chunk)
            #expect(frame.timestampMs == timestamp)
            #expect(frame.track == track)
            #expect(!frame.payloadHasEscapes)
            #expect(decoded == pcm)
        }
    }

    @Test(arguments: Self.styles)
    func startRoundTrip(style: StreamMessageEncoder.NumberStyle) throws {
        let start = StreamStart(
            streamSid: sid,
            callSid: "CA\u{1F600}",
            accountSid: "acc",
            from: "+91 98765",
            to: "0804",
            customParameters: ["a": "1", "quote\"key": "line\nbreak", "empty": ""],
            mediaFormat: MediaFormat(encoding: "audio/x-raw", sampleRate: 24000, bitRate: nil),
            tracks: [.inbound, .outbound],
            sequenceNumber: 1
        )
        let parsed = try self.parser.parse(
            bytes: StreamMessageEncoder(numberStyle: style).start(start, sequenceNumber: 1)
        )
        #expect(parsed == .start(start))
    }

    @Test(arguments: Self.styles)
    func controlEventsRoundTrip(style: StreamMessageEncoder.NumberStyle) throws {
        let encoder = StreamMessageEncoder(numberStyle: style)
        #expect(try self.parser.parse(bytes: encoder.connected()) == .connected)
        #expect(
            try self.parser.parse(bytes: encoder.dtmf(streamSid: sid, sequenceNumber: 7, digit: "#", durationMs: 250))
                == .dtmf(DTMFEvent(digit: "#", durationMs: 250))
        )
        #expect(
            try self.parser.parse(bytes: encoder.mark(streamSid: sid, sequenceNumber: 8, name: "turn-3-end"))
                == .mark(MarkEvent(name: "turn-3-end"))
        )
        #expect(
            try self.parser.parse(
                bytes: encoder.stop(
                    streamSid: sid,
                    sequenceNumber: 9,
                    callSid: "CA1",
                    accountSid: "acc",
                    reason: "stopped"
                )
            )
                == .stop(StreamStop(callSid: "CA1", accountSid: "acc", reason: "stopped", sequenceNumber: 9))
        )
    }
}
