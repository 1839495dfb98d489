import Testing

@testable import ExotelKit

@Suite struct StreamProtocolErrorTests {
    static let all: [StreamProtocolError] = [
        .malformedJSON(offset: 12, reason: "unterminated string"), .notAnObject, .missingEvent,
        .invalidField(name: "media.timestamp", reason: "is not an integer"), .invalidBase64(offset: 40),
        .oddPCMByteCount(3),
    ]

    /// Codes are stable metric labels: distinct, and free of the associated values.
    @Test func codesAreStableAndValueFree() {
        #expect(Self.all.map(\.code) == ["json", "not-object", "missing-event", "field", "base64", "odd-pcm"])
        #expect(
            StreamProtocolError.invalidField(name: "a", reason: "b").code
                == StreamProtocolError.invalidField(name: "c", reason: "d").code
        )
    }

    /// Descriptions name what is wrong and where.
    @Test func descriptionsNameTheFieldAndOffset() {
        #expect(Self.all[0].description == "stream message is not valid JSON: unterminated string at byte 12")
        #expect(Self.all[3].description == #"stream message field "media.timestamp" is not an integer"#)
        #expect(Self.all[4].description.contains("character 40"))
        #expect(Self.all[5].description.contains("3 bytes"))
        #expect(Self.all[1].description.contains("not an object"))
        #expect(Self.all[2].description.contains(#""event""#))
    }
}
