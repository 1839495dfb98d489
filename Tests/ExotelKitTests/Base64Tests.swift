import Foundation
import Testing

@testable import ExotelKit

/// ``Base64`` must agree with Foundation's implementation, the reference most callers know.
@Suite struct Base64Tests {
    @Test func knownVectors() throws {
        // RFC 4648 §10.
        let vectors = [
            "": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=",
            "foobar": "Zm9vYmFy",
        ]
        for (plain, encoded) in vectors {
            #expect(String(decoding: Array(plain.utf8).withUnsafeBytes { Base64.encode($0) }, as: UTF8.self) == encoded)
            #expect(try decodeBase64(encoded) == Array(plain.utf8))
        }
    }

    @Test func everyByteValueRoundTrips() throws {
        let bytes = (0...255).map { UInt8($0) }
        let encoded = bytes.withUnsafeBytes { Base64.encode($0) }
        #expect(String(decoding: encoded, as: UTF8.self) == Data(bytes).base64EncodedString())
        #expect(try decodeBase64(encoded) == bytes)
    }

    @Test(arguments: 0...300)
    func agreesWithFoundation(_ length: Int) throws {
        var generator = SplitMix64(seed: UInt64(length) &* 7919)
        let bytes = randomBytes(length, using: &generator)
        let ours = bytes.withUnsafeBytes { Base64.encode($0) }
        let foundation = Data(bytes).base64EncodedString()

        #expect(String(decoding: ours, as: UTF8.self) == foundation)
        #expect(Data(base64Encoded: Data(ours)).map { Array($0) } == bytes)
        #expect(try decodeBase64(foundation) == bytes)

        // Unpadded text (Foundation requires padding, so compare with the padded decode).
        let unpadded = Array(foundation.utf8.filter { $0 != UInt8(ascii: "=") })
        #expect(try decodeBase64(unpadded) == bytes)
    }

    /// Corrupting one character must be accepted or rejected exactly as Foundation does. `=` is left out: on Linux
    /// Foundation accepts some misplaced padding ("QQ=A" decodes to two bytes), which the padding tests pin for us.
    @Test(arguments: 1...300)
    func corruptionAgreesWithFoundation(_ length: Int) throws {
        var generator = SplitMix64(seed: UInt64(length) &* 104_729)
        let bytes = randomBytes(length, using: &generator)
        var text = Array(Data(bytes).base64EncodedString().utf8)
        let dataCount = text.count - text.reversed().prefix { $0 == UInt8(ascii: "=") }.count
        let position = Int.random(in: 0..<dataCount, using: &generator)
        let candidates = Array("AZaz09+/!-_ .\"\\\n".utf8) + [0x00, 0x80, 0xFF]
        text[position] = candidates.randomElement(using: &generator)!

        let reference = Data(base64Encoded: Data(text)).map { Array($0) }
        let result = Result { () throws(StreamProtocolError) in try decodeBase64(text) }
        switch result {
        case .success(let decoded):
            #expect(decoded == reference, "\(String(decoding: text, as: UTF8.self))")
        case .failure(let error):
            #expect(reference == nil, "\(String(decoding: text, as: UTF8.self))")
            #expect(error == .invalidBase64(offset: position))
        }
    }

    @Test(arguments: [1600, 3200, 4800])
    func decodesRealisticFrames(_ size: Int) throws {
        var generator = SplitMix64(seed: UInt64(size))
        let pcm = randomBytes(size, using: &generator)
        let encoded = Array(Data(pcm).base64EncodedString().utf8)
        #expect(try decodeBase64(encoded) == pcm)
        #expect(Base64.maxDecodedCount(ofEncoded: encoded.count) >= size)
    }

    @Test func paddingRules() throws {
        #expect(try decodeBase64("QQ==") == [0x41])
        #expect(try decodeBase64("QUI=") == [0x41, 0x42])
        #expect(try decodeBase64("QQ") == [0x41])
        #expect(try decodeBase64("QUI") == [0x41, 0x42])
        // Leftover bits in the last character are ignored, as Foundation does.
        #expect(try decodeBase64("QR==") == [0x41])
        #expect(throws: StreamProtocolError.invalidBase64(offset: 2)) { try decodeBase64("QQ=A") }
        #expect(throws: StreamProtocolError.invalidBase64(offset: 0)) { try decodeBase64("====") }
        #expect(throws: StreamProtocolError.invalidBase64(offset: 2)) { try decodeBase64("QQ=") }
        #expect(throws: StreamProtocolError.invalidBase64(offset: 1)) { try decodeBase64("Q===") }
        #expect(throws: StreamProtocolError.invalidBase64(offset: 4)) { try decodeBase64("QUJDR") }
        #expect(throws: StreamProtocolError.invalidBase64(offset: 2)) { try decodeBase64("QQ==QUJD") }
    }
}
