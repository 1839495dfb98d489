#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#elseif canImport(Darwin)
internal import Darwin
#endif

/// Turning scanned strings into values. Only rare events (start, stop, dtmf, mark, unknown names) come here;
/// the media path compares keys in place and never builds a `String`.
extension JSONScanner {
    /// Whether the string's value equals `literal`. Compares the raw bytes in place unless the string has escapes.
    @inline(__always)
    func string(_ string: JSONString, equals literal: StaticString) -> Bool {
        guard !string.hasEscapes else {
            let value = self.unescaped(string)
            return value.elementsEqual(UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
        }
        let length = literal.utf8CodeUnitCount
        return string.range.count == length && memcmp(self.bytes + string.range.lowerBound, literal.utf8Start, length) == 0
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
        var i = string.range.lowerBound
        let end = string.range.upperBound
        while i < end {
            let byte = self.bytes[i]
            guard byte == ASCII.backslash else {
                output.append(byte)
                i &+= 1
                continue
            }
            let escaped = self.bytes[i &+ 1]
            switch escaped {
            case 0x62: output.append(0x08)  // \b
            case 0x66: output.append(0x0C)  // \f
            case 0x6E: output.append(0x0A)  // \n
            case 0x72: output.append(0x0D)  // \r
            case 0x74: output.append(0x09)  // \t
            case ASCII.lowerU:
                // Validated already, so the hex digits and any surrogate pair are well formed.
                var scalar = (try? self.hex4(at: i &+ 2, escapeAt: i)) ?? 0xFFFD
                var length = 6
                if (0xD800...0xDBFF).contains(scalar) {
                    let low = (try? self.hex4(at: i &+ 8, escapeAt: i &+ 6)) ?? 0xDC00
                    scalar = 0x10000 &+ ((scalar &- 0xD800) &<< 10) &+ (low &- 0xDC00)
                    length = 12
                }
                Self.appendUTF8(Unicode.Scalar(scalar) ?? "\u{FFFD}", to: &output)
                i &+= length
                continue
            default: output.append(escaped)  // " \ /
            }
            i &+= 2
        }
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

    private static func appendUTF8(_ scalar: Unicode.Scalar, to output: inout [UInt8]) {
        for unit in UTF8.encode(scalar)! {
            output.append(unit)
        }
    }
}
