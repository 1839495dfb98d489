#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#elseif canImport(Darwin)
internal import Darwin
#endif

/// The bytes the scanner reacts to, named so the grammar reads like the RFC.
enum ASCII {
    static let quote: UInt8 = 0x22  // "
    static let backslash: UInt8 = 0x5C  // \
    static let slash: UInt8 = 0x2F  // /
    static let comma: UInt8 = 0x2C  // ,
    static let colon: UInt8 = 0x3A  // :
    static let openBrace: UInt8 = 0x7B  // {
    static let closeBrace: UInt8 = 0x7D  // }
    static let openBracket: UInt8 = 0x5B  // [
    static let closeBracket: UInt8 = 0x5D  // ]
    static let minus: UInt8 = 0x2D  // -
    static let plus: UInt8 = 0x2B  // +
    static let dot: UInt8 = 0x2E  // .
    static let zero: UInt8 = 0x30  // 0
    static let nine: UInt8 = 0x39  // 9
    static let lowerE: UInt8 = 0x65  // e
    static let upperE: UInt8 = 0x45  // E
    static let lowerU: UInt8 = 0x75  // u
    static let lowerT: UInt8 = 0x74  // t
    static let lowerF: UInt8 = 0x66  // f
    static let lowerN: UInt8 = 0x6E  // n
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let lineFeed: UInt8 = 0x0A
    static let carriageReturn: UInt8 = 0x0D

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool { byte &- ASCII.zero < 10 }
}

/// A JSON string inside the message: the bytes between its quotes, still escaped.
struct JSONString {
    /// Byte offsets of the string's contents, without the quotes.
    var range: Range<Int>
    /// True if the contents contain a backslash escape, so the raw bytes differ from the string's value.
    var hasEscapes: Bool
}

/// A JSON number inside the message, already checked against the RFC 8259 grammar.
struct JSONNumber {
    /// Byte offsets of the number's text.
    var range: Range<Int>
    /// True if the text has a leading minus sign.
    var isNegative: Bool
    /// True if the text has no fraction and no exponent.
    var isInteger: Bool
}

/// A cursor that validates JSON strictly (RFC 8259) over one message's bytes, without allocating.
///
/// Strings come back as ``JSONString`` byte ranges and numbers as ``JSONNumber`` ranges; the caller decides what to
/// materialise, which is what keeps the media path allocation-free. Nesting is bounded by `maxDepth`, so a
/// hostile message cannot exhaust the stack of the recursive ``skipValue()``.
///
/// Errors are always ``StreamProtocolError/malformedJSON(offset:reason:)`` with the offset of the offending byte.
struct JSONScanner {
    /// The message; valid for the scanner's whole life (the caller's buffer).
    let bytes: UnsafePointer<UInt8>
    let count: Int
    let maxDepth: Int
    /// The next byte to read.
    var index = 0
    /// How many objects and arrays enclose `index`.
    var depth = 0

    init(bytes: UnsafePointer<UInt8>, count: Int, maxDepth: Int) {
        self.bytes = bytes
        self.count = count
        self.maxDepth = maxDepth
    }

    // MARK: - Whitespace and punctuation

    /// Skips whitespace and returns the next byte without consuming it.
    @inline(__always)
    mutating func peek() throws(StreamProtocolError) -> UInt8 {
        while self.index < self.count {
            let byte = self.bytes[self.index]
            switch byte {
            case ASCII.space, ASCII.lineFeed, ASCII.carriageReturn, ASCII.tab:
                self.index &+= 1
            default:
                return byte
            }
        }
        throw self.endOfInput()
    }

    /// Checks that only whitespace follows the top-level value.
    mutating func expectEnd() throws(StreamProtocolError) {
        while self.index < self.count {
            switch self.bytes[self.index] {
            case ASCII.space, ASCII.lineFeed, ASCII.carriageReturn, ASCII.tab:
                self.index &+= 1
            default:
                throw self.unexpected("the end of the message after the top-level value")
            }
        }
    }

    /// Consumes `{` (the caller has peeked it) and reports whether the object has any members.
    @inline(__always)
    mutating func enterObject() throws(StreamProtocolError) -> Bool {
        try self.enterContainer()
        if try self.peek() == ASCII.closeBrace {
            self.index &+= 1
            self.depth &-= 1
            return false
        }
        return true
    }

    /// Reads `"key" :` and leaves the scanner in front of the member's value.
    @inline(__always)
    mutating func readKey() throws(StreamProtocolError) -> JSONString {
        guard try self.peek() == ASCII.quote else { throw self.unexpected("a string key") }
        let key = try self.scanString()
        guard try self.peek() == ASCII.colon else { throw self.unexpected("':' after an object key") }
        self.index &+= 1
        return key
    }

    /// After a member's value, consumes `,` (returns true: another member follows) or `}` (returns false).
    @inline(__always)
    mutating func nextMember() throws(StreamProtocolError) -> Bool {
        switch try self.peek() {
        case ASCII.comma:
            self.index &+= 1
            return true
        case ASCII.closeBrace:
            self.index &+= 1
            self.depth &-= 1
            return false
        default:
            throw self.unexpected("',' or '}' after an object member")
        }
    }

    /// Consumes `[` (the caller has peeked it) and reports whether the array has any elements.
    mutating func enterArray() throws(StreamProtocolError) -> Bool {
        try self.enterContainer()
        if try self.peek() == ASCII.closeBracket {
            self.index &+= 1
            self.depth &-= 1
            return false
        }
        return true
    }

    /// After an element, consumes `,` (returns true: another element follows) or `]` (returns false).
    mutating func nextElement() throws(StreamProtocolError) -> Bool {
        switch try self.peek() {
        case ASCII.comma:
            self.index &+= 1
            return true
        case ASCII.closeBracket:
            self.index &+= 1
            self.depth &-= 1
            return false
        default:
            throw self.unexpected("',' or ']' after an array element")
        }
    }

    @inline(__always)
    private mutating func enterContainer() throws(StreamProtocolError) {
        guard self.depth < self.maxDepth else {
            throw .malformedJSON(offset: self.index, reason: "nesting deeper than \(self.maxDepth) levels")
        }
        self.depth &+= 1
        self.index &+= 1
    }

    // MARK: - Values

    /// Validates one value of any type and moves past it.
    mutating func skipValue() throws(StreamProtocolError) {
        switch try self.peek() {
        case ASCII.quote:
            _ = try self.scanString()
        case ASCII.openBrace:
            guard try self.enterObject() else { return }
            repeat {
                _ = try self.readKey()
                try self.skipValue()
            } while try self.nextMember()
        case ASCII.openBracket:
            guard try self.enterArray() else { return }
            repeat {
                try self.skipValue()
            } while try self.nextElement()
        case ASCII.minus, ASCII.zero...ASCII.nine:
            _ = try self.scanNumber()
        case ASCII.lowerT:
            try self.scanLiteral("true")
        case ASCII.lowerF:
            try self.scanLiteral("false")
        case ASCII.lowerN:
            try self.scanLiteral("null")
        default:
            throw self.unexpected("a value")
        }
    }

    /// Consumes `literal` (true, false or null) at `index`.
    mutating func scanLiteral(_ literal: StaticString) throws(StreamProtocolError) {
        let length = literal.utf8CodeUnitCount
        guard self.count &- self.index >= length, memcmp(self.bytes + self.index, literal.utf8Start, length) == 0 else {
            throw .malformedJSON(offset: self.index, reason: "invalid literal (expected \(literal))")
        }
        self.index &+= length
    }

    /// Consumes a number at `index`, enforcing the RFC grammar: no leading zeros, no bare `.`, no `+`, digits after
    /// `.` and `e`. NaN and Infinity are not numbers in JSON and never reach here.
    mutating func scanNumber() throws(StreamProtocolError) -> JSONNumber {
        let start = self.index
        var i = start
        let isNegative = self.bytes[i] == ASCII.minus
        if isNegative { i &+= 1 }
        guard i < self.count, ASCII.isDigit(self.bytes[i]) else {
            throw .malformedJSON(offset: i, reason: "invalid number (expected a digit)")
        }
        if self.bytes[i] == ASCII.zero {
            i &+= 1
            if i < self.count, ASCII.isDigit(self.bytes[i]) {
                throw .malformedJSON(offset: i, reason: "invalid number (leading zero)")
            }
        } else {
            i = self.skipDigits(from: i)
        }
        var isInteger = true
        if i < self.count, self.bytes[i] == ASCII.dot {
            isInteger = false
            i &+= 1
            guard i < self.count, ASCII.isDigit(self.bytes[i]) else {
                throw .malformedJSON(offset: i, reason: "invalid number (expected a digit after '.')")
            }
            i = self.skipDigits(from: i)
        }
        if i < self.count, self.bytes[i] == ASCII.lowerE || self.bytes[i] == ASCII.upperE {
            isInteger = false
            i &+= 1
            if i < self.count, self.bytes[i] == ASCII.plus || self.bytes[i] == ASCII.minus { i &+= 1 }
            guard i < self.count, ASCII.isDigit(self.bytes[i]) else {
                throw .malformedJSON(offset: i, reason: "invalid number (expected a digit in the exponent)")
            }
            i = self.skipDigits(from: i)
        }
        self.index = i
        return JSONNumber(range: start..<i, isNegative: isNegative, isInteger: isInteger)
    }

    @inline(__always)
    private func skipDigits(from start: Int) -> Int {
        var i = start
        while i < self.count, ASCII.isDigit(self.bytes[i]) { i &+= 1 }
        return i
    }

    // MARK: - Strings

    /// Consumes a string whose opening quote is at `index`, checking every byte: no raw control characters,
    /// only the escapes RFC 8259 allows, and `\u` surrogates in proper pairs. UTF-8 is checked later, and only
    /// for strings that are materialised.
    mutating func scanString() throws(StreamProtocolError) -> JSONString {
        let open = self.index
        var i = open &+ 1
        var hasEscapes = false
        while true {
            i = self.firstSpecialStringByte(from: i)
            guard i < self.count else { throw .malformedJSON(offset: open, reason: "unterminated string") }
            let byte = self.bytes[i]
            if byte == ASCII.quote { break }
            if byte == ASCII.backslash {
                i = try self.validateEscape(at: i, stringStart: open)
                hasEscapes = true
            } else {
                throw .malformedJSON(offset: i, reason: "unescaped control character \(Self.describe(byte)) in string")
            }
        }
        self.index = i &+ 1
        return JSONString(range: (open &+ 1)..<i, hasEscapes: hasEscapes)
    }

    /// The offset of the first quote, backslash or control character at or after `start`, or `count` if none.
    ///
    /// Looks at eight bytes per step (SWAR): for each test, `(x - 0x01…) & ~x & 0x80…` flags the bytes of `x` that
    /// are zero (or, with `0x20…`, below 0x20). A borrow can only produce false flags above a true one, so the
    /// lowest flag is exact. This makes keys and sids cost about a third of a byte-by-byte loop.
    @inline(__always)
    func firstSpecialStringByte(from start: Int) -> Int {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highBits: UInt64 = 0x8080_8080_8080_8080
        var i = start
        while self.count &- i >= 8 {
            let word = UnsafeRawPointer(self.bytes + i).loadUnaligned(as: UInt64.self).littleEndian
            let quotes = word ^ (ones &* UInt64(ASCII.quote))
            let backslashes = word ^ (ones &* UInt64(ASCII.backslash))
            let flags =
                ((quotes &- ones) & ~quotes | (backslashes &- ones) & ~backslashes | (word &- ones &* 0x20) & ~word)
                & highBits
            if flags != 0 { return i &+ flags.trailingZeroBitCount &>> 3 }
            i &+= 8
        }
        while i < self.count {
            let byte = self.bytes[i]
            if byte == ASCII.quote || byte == ASCII.backslash || byte < 0x20 { return i }
            i &+= 1
        }
        return i
    }

    /// Consumes a long string (the media payload) using `memchr`, which is many times faster than a byte loop.
    ///
    /// Without a backslash before the first quote, that quote is the real end and there are no escapes; otherwise
    /// this falls back to ``scanString()``. Raw control characters are not looked for here: the only long string
    /// is the payload, and the base64 decoder rejects any byte outside its alphabet anyway.
    @inline(__always)
    mutating func scanLongString() throws(StreamProtocolError) -> JSONString {
        let open = self.index
        let start = open &+ 1
        let length = self.count &- start
        guard length > 0, let quote = memchr(self.bytes + start, Int32(ASCII.quote), length) else {
            throw .malformedJSON(offset: open, reason: "unterminated string")
        }
        let close = UnsafeRawPointer(self.bytes).distance(to: UnsafeRawPointer(quote))
        guard memchr(self.bytes + start, Int32(ASCII.backslash), close &- start) == nil else {
            return try self.scanString()
        }
        self.index = close &+ 1
        return JSONString(range: start..<close, hasEscapes: false)
    }

    /// Checks the escape whose backslash is at `i` and returns the offset just past it.
    private func validateEscape(at i: Int, stringStart: Int) throws(StreamProtocolError) -> Int {
        guard i &+ 1 < self.count else { throw .malformedJSON(offset: stringStart, reason: "unterminated string") }
        switch self.bytes[i &+ 1] {
        case ASCII.quote, ASCII.backslash, ASCII.slash, 0x62, 0x66, 0x6E, 0x72, 0x74:  // " \ / b f n r t
            return i &+ 2
        case ASCII.lowerU:
            let unit = try self.hex4(at: i &+ 2, escapeAt: i)
            switch unit {
            case 0xD800...0xDBFF:
                guard i &+ 7 < self.count, self.bytes[i &+ 6] == ASCII.backslash, self.bytes[i &+ 7] == ASCII.lowerU,
                    case 0xDC00...0xDFFF = try self.hex4(at: i &+ 8, escapeAt: i &+ 6)
                else {
                    throw .malformedJSON(
                        offset: i,
                        reason: "invalid \\u escape (high surrogate without a low surrogate)"
                    )
                }
                return i &+ 12
            case 0xDC00...0xDFFF:
                throw .malformedJSON(offset: i, reason: "invalid \\u escape (low surrogate without a high surrogate)")
            default:
                return i &+ 6
            }
        default:
            throw .malformedJSON(offset: i, reason: "invalid escape '\\\(Self.describeCharacter(self.bytes[i &+ 1]))'")
        }
    }

    /// The value of the four hex digits at `i` (part of the `\u` escape at `escapeAt`).
    func hex4(at i: Int, escapeAt: Int) throws(StreamProtocolError) -> UInt32 {
        guard i &+ 4 <= self.count else {
            throw .malformedJSON(offset: escapeAt, reason: "invalid \\u escape (expected 4 hex digits)")
        }
        var value: UInt32 = 0
        for k in 0..<4 {
            let byte = self.bytes[i &+ k]
            let digit: UInt32
            switch byte {
            case ASCII.zero...ASCII.nine: digit = UInt32(byte &- ASCII.zero)
            case 0x41...0x46: digit = UInt32(byte &- 0x41 &+ 10)  // A-F
            case 0x61...0x66: digit = UInt32(byte &- 0x61 &+ 10)  // a-f
            default: throw .malformedJSON(offset: escapeAt, reason: "invalid \\u escape (expected 4 hex digits)")
            }
            value = value &<< 4 | digit
        }
        return value
    }

    // MARK: - Errors

    /// "expected X but found Y" at `index`, or "unexpected end of input".
    func unexpected(_ expected: String) -> StreamProtocolError {
        guard self.index < self.count else { return self.endOfInput() }
        let found = Self.describe(self.bytes[self.index])
        return .malformedJSON(offset: self.index, reason: "expected \(expected) but found \(found)")
    }

    func endOfInput() -> StreamProtocolError {
        .malformedJSON(offset: self.count, reason: "unexpected end of input")
    }

    /// A byte as a reader wants to see it in an error: `'x'` if printable ASCII, else `byte 0x1F`.
    static func describe(_ byte: UInt8) -> String {
        (0x20..<0x7F).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(Self.hex(byte))"
    }

    private static func describeCharacter(_ byte: UInt8) -> String {
        (0x20..<0x7F).contains(byte) ? String(Character(Unicode.Scalar(byte))) : "(byte 0x\(Self.hex(byte)))"
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }
}
