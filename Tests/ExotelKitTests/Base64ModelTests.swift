import Foundation
import Testing

@testable import ExotelKit

/// ``Base64/decode(_:into:)`` against a plain, character-by-character statement of its rules, on random text that
/// mixes the alphabet, `=`, and bytes outside it at random lengths; and against Foundation wherever Foundation is
/// strict enough to compare with. The table decoder's 16-character steps, its 8-byte stores and its tail cases must
/// all agree with the model, on acceptance, on the offset of the first bad character and on the bytes.
@Suite struct Base64ModelTests {
    /// The rules of `Base64.decode`, one character at a time: `=` may only end a whole number of quads (one or two
    /// of them); the first character outside the alphabet before that padding is the error; a single character
    /// left over (4n + 1) cannot carry a byte; bits left over in the last character are ignored.
    static func model(_ text: [UInt8]) -> Result<[UInt8], StreamProtocolError> {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var end = text.count
        if end > 0, end % 4 == 0, text[end - 1] == UInt8(ascii: "=") {
            end -= 1
            if text[end - 1] == UInt8(ascii: "=") { end -= 1 }
        }
        var values: [UInt32] = []
        for index in 0..<end {
            guard let value = alphabet.firstIndex(of: text[index]) else {
                return .failure(.invalidBase64(offset: index))
            }
            values.append(UInt32(value))
        }
        if end % 4 == 1 { return .failure(.invalidBase64(offset: end - 1)) }
        var bytes: [UInt8] = []
        var bits: UInt32 = 0
        var bitCount = 0
        for value in values {
            bits = bits << 6 | value
            bitCount += 6
            if bitCount >= 8 {
                bitCount -= 8
                bytes.append(UInt8(truncatingIfNeeded: bits >> UInt32(bitCount)))
            }
        }
        return .success(bytes)
    }

    static func decoded(_ text: [UInt8]) -> Result<[UInt8], StreamProtocolError> {
        Result { () throws(StreamProtocolError) in try decodeBase64(text) }
    }

    /// A real encoding of 0–90 random bytes, sometimes cut short, with up to three characters changed to `=`, to
    /// any byte or to another letter of the alphabet, or `=` inserted.
    static func randomText(using generator: inout SplitMix64) -> [UInt8] {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        let length = Int.random(in: 0...90, using: &generator)
        var text = Array(Data(randomBytes(length, using: &generator)).base64EncodedString().utf8)
        if Bool.random(using: &generator) {
            // Unpadded, or cut anywhere.
            let cut = Int.random(in: 0...text.count, using: &generator)
            text.removeLast(text.count - cut)
        }
        let changes = Int.random(in: 0...3, using: &generator)
        for _ in 0..<changes where !text.isEmpty {
            let position = Int.random(in: 0..<text.count, using: &generator)
            switch Int.random(in: 0..<4, using: &generator) {
            case 0: text[position] = UInt8(ascii: "=")
            case 1: text[position] = UInt8.random(in: 0...255, using: &generator)
            case 2: text[position] = alphabet.randomElement(using: &generator)!
            default: text.insert(UInt8(ascii: "="), at: position)
            }
        }
        return text
    }

    @Test func agreesWithTheModelOnRandomText() {
        var generator = SplitMix64(seed: 20_261_205)
        var accepted = 0
        var rejected = 0
        for _ in 0..<20_000 {
            let text = Self.randomText(using: &generator)
            let expected = Self.model(text)
            let actual = Self.decoded(text)
            #expect(actual == expected, "\(String(decoding: text, as: UTF8.self).debugDescription)")
            if case .success = expected { accepted += 1 } else { rejected += 1 }
        }
        // The generator must exercise both outcomes in earnest, or the comparison proves little.
        #expect(accepted > 2_000 && rejected > 2_000, "accepted \(accepted), rejected \(rejected)")
    }

    /// Long texts take the 16-character steps; a bad character or misplaced `=` anywhere, once or twice.
    @Test(arguments: [1596, 1600, 2136, 3200, 4800])
    func agreesWithTheModelOnLongText(_ size: Int) {
        var generator = SplitMix64(seed: UInt64(size) &* 31)
        for _ in 0..<200 {
            var text = Array(Data(randomBytes(size, using: &generator)).base64EncodedString().utf8)
            for _ in 0..<Int.random(in: 1...2, using: &generator) {
                let position = Int.random(in: 0..<text.count, using: &generator)
                text[position] = Bool.random(using: &generator) ? UInt8(ascii: "=") : 0x22  // '=' or '"'
            }
            #expect(Self.decoded(text) == Self.model(text))
        }
    }

    /// Where both accept padded text, the bytes are Foundation's; where Foundation rejects a text that keeps to
    /// the padding rules, so do we. (Foundation on Linux accepts some misplaced `=`, and requires padding; the
    /// model tests above pin our stricter rules there.)
    @Test func agreesWithFoundationOnPaddedText() {
        var generator = SplitMix64(seed: 4_242)
        var compared = 0
        for _ in 0..<20_000 {
            let text = Self.randomText(using: &generator)
            let padding = text.reversed().prefix { $0 == UInt8(ascii: "=") }.count
            guard text.count % 4 == 0, padding <= 2, !text.dropLast(padding).contains(UInt8(ascii: "=")) else {
                continue
            }
            let foundation = Data(base64Encoded: Data(text)).map { Array($0) }
            let ours = try? Self.decoded(text).get()
            #expect(ours == foundation, "\(String(decoding: text, as: UTF8.self).debugDescription)")
            compared += 1
        }
        #expect(compared > 1_000, "only \(compared) padded texts compared")
    }
}
