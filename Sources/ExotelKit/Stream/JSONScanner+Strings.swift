/// Turning scanned strings into values. Only rare events (start, stop, dtmf, mark, unknown names) come here;
/// the media path compares keys in place and never builds a `String`.
extension JSONScanner {
    /// Whether the string's value equals `literal`. Compares the raw bytes in place (the literal is a compile-time
    /// constant, so the loop unrolls into a few immediate compares) unless the string has escapes.
    @inline(__always)
    func string(_ string: JSONString, equals literal: StaticString) -> Bool {
        guard !string.hasEscapes else {
            let expected = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
            return UnescapedBytes(self, string).elementsEqual(expected)
        }
        let length = literal.utf8CodeUnitCount
        guard string.range.count == length else { return false }
        let text = self.bytes + string.range.lowerBound
        let expected = literal.utf8Start
        var k = 0
        while k < length {
            if text[k] != expected[k] { return false }
            k &+= 1
        }
        return true
    }

    /// The string's value, after checking that it is valid UTF-8.
    func materialize(_ string: JSONString) throws(StreamProtocolError) -> String {
        try self.validateUTF8(string.range)
        if string.hasEscapes {
            return String(decoding: self.unescaped(string), as: UTF8.self)
        }
        return String(decoding: UnsafeBufferPointer(rebasing: self.buffer[string.range]), as: UTF8.self)
    }

    /// The raw text of any value (a number, or a nested object kept as JSON text), checked as UTF-8.
    func text(of range: Range<Int>) throws(StreamProtocolError) -> String {
        try self.validateUTF8(range)
        return String(decoding: UnsafeBufferPointer(rebasing: self.buffer[range]), as: UTF8.self)
    }

    /// The string's bytes with escapes undone (UTF-8). The string must have been validated by ``scanString()``.
    func unescaped(_ string: JSONString) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(string.range.count)
        output.append(contentsOf: UnescapedBytes(self, string))
        return output
    }

    /// Throws at the first byte of `range` that does not start a well-formed UTF-8 sequence (overlong forms,
    /// surrogates and values above U+10FFFF included).
    func validateUTF8(_ range: Range<Int>) throws(StreamProtocolError) {
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            let lead = self.bytes[i]
            if lead < 0x80 {
                i &+= 1
                continue
            }
            let continuation: Int
            var scalar: UInt32
            let minimum: UInt32
            switch lead {
            case 0xC0...0xDF: (continuation, scalar, minimum) = (1, UInt32(lead & 0x1F), 0x80)
            case 0xE0...0xEF: (continuation, scalar, minimum) = (2, UInt32(lead & 0x0F), 0x800)
            case 0xF0...0xF7: (continuation, scalar, minimum) = (3, UInt32(lead & 0x07), 0x10000)
            default: throw Self.invalidUTF8(at: i)
            }
            guard end &- i > continuation else { throw Self.invalidUTF8(at: i) }
            for k in 1...continuation {
                let byte = self.bytes[i &+ k]
                guard byte & 0xC0 == 0x80 else { throw Self.invalidUTF8(at: i) }
                scalar = scalar &<< 6 | UInt32(byte & 0x3F)
            }
            guard scalar >= minimum, scalar <= 0x10FFFF, !(0xD800...0xDFFF).contains(scalar) else {
                throw Self.invalidUTF8(at: i)
            }
            i &+= continuation &+ 1
        }
    }

    private var buffer: UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: self.bytes, count: self.count)
    }

    private static func invalidUTF8(at offset: Int) -> StreamProtocolError {
        .malformedJSON(offset: offset, reason: "invalid UTF-8 in string")
    }
}

/// The UTF-8 bytes of a JSON string's value, with escapes undone on the fly, so that comparing an escaped key
/// with a literal needs no allocation.
///
/// The string must have passed ``JSONScanner/scanString()``; on anything else (a hand-made ``MediaFrame``) it
/// still stops at the string's end and yields garbage rather than reading out of bounds.
struct UnescapedBytes: Sequence, IteratorProtocol {
    private let scanner: JSONScanner
    private var index: Int
    private let end: Int
    /// Bytes of a `\u` escape's UTF-8 encoding not yet returned, lowest first.
    private var pending: UInt32 = 0
    private var pendingCount = 0

    init(_ scanner: JSONScanner, _ string: JSONString) {
        self.scanner = scanner
        self.index = string.range.lowerBound
        self.end = string.range.upperBound
    }

    mutating func next() -> UInt8? {
        if self.pendingCount > 0 {
            let byte = UInt8(truncatingIfNeeded: self.pending)
            self.pending >>= 8
            self.pendingCount -= 1
            return byte
        }
        guard self.index < self.end else { return nil }
        let byte = self.scanner.bytes[self.index]
        guard byte == ASCII.backslash, self.index + 1 < self.end else {
            self.index += 1
            return byte
        }
        let escaped = self.scanner.bytes[self.index + 1]
        switch escaped {
        case 0x62:
            self.index += 2
            return 0x08  // \b
        case 0x66:
            self.index += 2
            return 0x0C  // \f
        case 0x6E:
            self.index += 2
            return 0x0A  // \n
        case 0x72:
            self.index += 2
            return 0x0D  // \r
        case 0x74:
            self.index += 2
            return 0x09  // \t
        case ASCII.lowerU: return self.nextOfUnicodeEscape()
        default:
            self.index += 2
            return escaped  // \" \\ \/
        }
    }

    /// Decodes `\uXXXX` (or a surrogate pair `\uD8xx\uDCxx`), queues its UTF-8 bytes and returns the first.
    private mutating func nextOfUnicodeEscape() -> UInt8? {
        var scalar = (try? self.scanner.hex4(at: self.index + 2, escapeAt: self.index)) ?? 0xFFFD
        self.index += 6
        if (0xD800...0xDBFF).contains(scalar) {
            let low = (try? self.scanner.hex4(at: self.index + 2, escapeAt: self.index)) ?? 0xDC00
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low & 0x3FF)
            self.index += 6
        }
        let encoded = UTF8.encode(Unicode.Scalar(scalar) ?? "\u{FFFD}")!
        for (position, byte) in encoded.dropFirst().enumerated() {
            self.pending |= UInt32(byte) << (8 * position)
        }
        self.pendingCount = encoded.count - 1
        return encoded.first
    }
}
