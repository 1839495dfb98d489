import Testing

@testable import ExotelKit

/// `sequence_number`, `chunk`, `timestamp` and `duration` arrive as JSON numbers or as strings of digits (§1.5).
@Suite struct NumericFieldTests {
    let parser = StreamMessageParser()

    /// A value in JSON, and what an integer field must make of it.
    enum Expected: Sendable, CustomTestStringConvertible {
        case value(Int64?)
        case invalid(String)

        var testDescription: String {
            switch self {
            case .value(let value): "value \(value.map(String.init) ?? "nil")"
            case .invalid(let reason): reason
            }
        }
    }

    static let cases: [(String, Expected)] = [
        (#""3""#, .value(3)),
        ("3", .value(3)),
        ("0", .value(0)),
        (#""0""#, .value(0)),
        (#""007""#, .value(7)),
        (#""\u0034\u0032""#, .value(42)),
        ("9223372036854775807", .value(Int64.max)),
        (#""9223372036854775807""#, .value(Int64.max)),
        ("null", .value(nil)),
        ("9223372036854775808", .invalid("is out of range")),
        (#""9223372036854775808""#, .invalid("is out of range")),
        ("123456789012345678901234567890", .invalid("is out of range")),
        ("1.5", .invalid("is not an integer")),
        ("1.0", .invalid("is not an integer")),
        ("1e3", .invalid("is not an integer")),
        ("2E+1", .invalid("is not an integer")),
        ("-1", .invalid("is negative")),
        ("-0", .invalid("is negative")),
        (#""-1""#, .invalid("is not an integer")),
        (#""""#, .invalid("is not an integer")),
        (#""1.5""#, .invalid("is not an integer")),
        (#"" 1""#, .invalid("is not an integer")),
        (#""+1""#, .invalid("is not an integer")),
        (#""0x10""#, .invalid("is not an integer")),
        ("true", .invalid("is not an integer")),
        ("false", .invalid("is not an integer")),
        ("{}", .invalid("is not an integer")),
        (#"["1"]"#, .invalid("is not an integer")),
    ]

    @Test(arguments: Self.cases)
    func sequenceNumber(_ json: String, _ expected: Expected) throws {
        try self.check(
            #"{"event":"media","sequence_number":\#(json),"media":{"payload":""}}"#,
            "sequence_number",
            expected
        ) {
            $0.mediaFrame?.sequenceNumber
        }
        // The same top-level field feeds start and stop.
        try self.check(#"{"event":"stop","sequence_number":\#(json)}"#, "sequence_number", expected) {
            guard case .stop(let stop) = $0 else { return -1 }
            return stop.sequenceNumber
        }
    }

    @Test(arguments: Self.cases)
    func chunk(_ json: String, _ expected: Expected) throws {
        try self.check(#"{"event":"media","media":{"chunk":\#(json),"payload":""}}"#, "media.chunk", expected) {
            $0.mediaFrame?.chunk
        }
    }

    @Test(arguments: Self.cases)
    func timestamp(_ json: String, _ expected: Expected) throws {
        try self.check(#"{"event":"media","media":{"payload":"","timestamp":\#(json)}}"#, "media.timestamp", expected) {
            $0.mediaFrame?.timestampMs
        }
    }

    @Test(arguments: Self.cases)
    func dtmfDuration(_ json: String, _ expected: Expected) throws {
        try self.check(#"{"event":"dtmf","dtmf":{"digit":"*","duration":\#(json)}}"#, "dtmf.duration", expected) {
            guard case .dtmf(let dtmf) = $0 else { return -1 }
            return dtmf.durationMs
        }
    }

    /// `sample_rate` accepts the same forms, but a bad one means "unknown" instead of an error (§1.3).
    @Test(arguments: Self.cases)
    func sampleRate(_ json: String, _ expected: Expected) throws {
        let message = try self.parser.parse(
            #"{"event":"start","stream_sid":"S","start":{"media_format":{"sample_rate":\#(json)}}}"#
        )
        let rate = try #require(message.start?.mediaFormat).sampleRate
        switch expected {
        case .value(let value): #expect(rate == value.map { Int($0) })
        case .invalid: #expect(rate == nil)
        }
    }

    /// A `sample_rate` given twice, once out of range (found by FuzzStreamMessage): the problem stays and no
    /// rate is kept, whichever comes first, so the ingest refuses the start instead of recording at a rate
    /// the sender also contradicted.
    @Test(arguments: [
        #""sample_rate":"99999999999999999999","sample_rate":"8000""#,
        #""sample_rate":"8000","sample_rate":"99999999999999999999""#,
        #""sample_rate":-1,"sampleRate":16000"#,
    ])
    func aSampleRateGivenTwiceWithOneOutOfRangeKeepsTheProblem(_ members: String) throws {
        let message = try self.parser.parse(
            #"{"event":"start","stream_sid":"S","start":{"media_format":{\#(members)}}}"#
        )
        let format = try #require(message.start?.mediaFormat)
        #expect(format.sampleRateProblem != nil)
        #expect(format.sampleRate == nil)
    }

    @Test func missingNumbersAreNil() throws {
        let frame = try #require(try self.parser.parse(#"{"event":"media","media":{"payload":""}}"#).mediaFrame)
        #expect(frame.sequenceNumber == nil && frame.chunk == nil && frame.timestampMs == nil)
    }

    private func check(
        _ text: String,
        _ field: String,
        _ expected: Expected,
        _ extract: (StreamMessage) -> Int64?
    ) throws {
        switch expected {
        case .value(let value):
            #expect(extract(try self.parser.parse(text)) == value, "\(text)")
        case .invalid(let reason):
            #expect(throws: StreamProtocolError.invalidField(name: field, reason: reason), "\(text)") {
                try self.parser.parse(text)
            }
        }
    }
}
