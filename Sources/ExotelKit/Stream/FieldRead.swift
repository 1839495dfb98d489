/// What one member's value turned out to be, with semantic problems kept apart from JSON syntax errors.
///
/// The whole document is validated before any field is judged, and a field is only judged when the named event
/// uses it. So readers record `invalid` instead of throwing, and the event builder calls ``resolve(_:)`` or
/// ``require(_:)`` with the field's dotted name. Duplicate keys simply overwrite: the last one wins.
enum FieldRead<Value> {
    /// The key was not there, or its value was `null`.
    case absent
    case value(Value)
    /// The value has the wrong type or range.
    case invalid(FieldProblem)

    /// The value, nil when absent, or an ``StreamProtocolError/invalidField(name:reason:)`` naming `name`.
    @inline(__always)
    func resolve(_ name: StaticString) throws(StreamProtocolError) -> Value? {
        switch self {
        case .absent: return nil
        case .value(let value): return value
        case .invalid(let problem): throw .invalidField(name: "\(name)", reason: problem.reason)
        }
    }

    /// Like ``resolve(_:)``, but a missing value is an error too.
    @inline(__always)
    func require(_ name: StaticString) throws(StreamProtocolError) -> Value {
        guard let value = try self.resolve(name) else { throw .invalidField(name: "\(name)", reason: "is missing") }
        return value
    }

    /// The value transformed by `transform`, which may itself fail (materialising a string checks UTF-8).
    @inline(__always)
    func map<T>(_ transform: (Value) throws(StreamProtocolError) -> T) throws(StreamProtocolError) -> FieldRead<T> {
        switch self {
        case .absent: return .absent
        case .value(let value): return .value(try transform(value))
        case .invalid(let problem): return .invalid(problem)
        }
    }

    /// The value if there is a valid one; for lenient fields where a bad value means "unknown".
    var valueOrNil: Value? {
        if case .value(let value) = self { return value }
        return nil
    }
}

/// Why a value does not fit its field. A one-byte code rather than a string, so that the per-frame field records
/// stay small and trivially copyable; the text is only built for an error.
enum FieldProblem: UInt8 {
    case notAnInteger, negative, outOfRange, notAString, notAnObject, notATrack

    /// Completes the sentence "field x …".
    var reason: String {
        switch self {
        case .notAnInteger: "is not an integer"
        case .negative: "is negative"
        case .outOfRange: "is out of range"
        case .notAString: "is not a string"
        case .notAnObject: "is not an object"
        case .notATrack: "is not \"inbound\" or \"outbound\""
        }
    }
}

/// Readers for the value types the protocol uses. Each consumes exactly one value and validates it as JSON, so
/// a wrong type never leaves the scanner in the middle of a value.
extension JSONScanner {
    /// A non-negative integer sent as a JSON number (`3`) or as a string of decimal digits (`"3"`); the protocol
    /// docs disagree on which, so both are accepted.
    @inline(__always)
    mutating func readInteger() throws(StreamProtocolError) -> FieldRead<Int64> {
        switch try self.peek() {
        case ASCII.quote:
            let string = try self.scanString()
            guard !string.hasEscapes else {
                let digits = self.unescaped(string)
                return digits.withUnsafeBufferPointer { Self.integer(digits: $0) }
            }
            return Self.integer(
                digits: UnsafeBufferPointer(start: self.bytes + string.range.lowerBound, count: string.range.count)
            )
        case ASCII.minus, ASCII.zero...ASCII.nine:
            let number = try self.scanNumber()
            if number.isNegative { return .invalid(.negative) }
            if !number.isInteger { return .invalid(.notAnInteger) }
            return Self.integer(
                digits: UnsafeBufferPointer(start: self.bytes + number.range.lowerBound, count: number.range.count)
            )
        case ASCII.lowerN:
            try self.scanLiteral("null")
            return .absent
        default:
            try self.skipValue()
            return .invalid(.notAnInteger)
        }
    }

    /// A string, left in place (no allocation). `null` counts as absent.
    @inline(__always)
    mutating func readStringToken() throws(StreamProtocolError) -> FieldRead<JSONString> {
        switch try self.peek() {
        case ASCII.quote:
            return .value(try self.scanString())
        case ASCII.lowerN:
            try self.scanLiteral("null")
            return .absent
        default:
            try self.skipValue()
            return .invalid(.notAString)
        }
    }

    /// The media payload: like ``readStringToken()`` but scanned with ``scanLongString()``.
    @inline(__always)
    mutating func readPayload() throws(StreamProtocolError) -> FieldRead<JSONString> {
        guard try self.peek() == ASCII.quote else { return try self.readStringToken() }
        return .value(try self.scanLongString())
    }

    /// "inbound" or "outbound".
    @inline(__always)
    mutating func readTrack() throws(StreamProtocolError) -> FieldRead<Track> {
        let string: JSONString
        switch try self.readStringToken() {
        case .absent: return .absent
        case .invalid(let problem): return .invalid(problem)
        case .value(let value): string = value
        }
        if self.string(string, equals: "inbound") { return .value(.inbound) }
        if self.string(string, equals: "outbound") { return .value(.outbound) }
        return .invalid(.notATrack)
    }

    /// A string, materialised (checked as UTF-8).
    mutating func readString() throws(StreamProtocolError) -> FieldRead<String> {
        try self.readStringToken().map { (string) throws(StreamProtocolError) in try self.materialize(string) }
    }

    /// A string, or a number or boolean kept as its JSON text; for fields whose type sources disagree on
    /// (`dtmf.digit`, `media_format.bit_rate`).
    mutating func readText() throws(StreamProtocolError) -> FieldRead<String> {
        switch try self.peek() {
        case ASCII.quote, ASCII.lowerN:
            return try self.readString()
        case ASCII.minus, ASCII.zero...ASCII.nine, ASCII.lowerT, ASCII.lowerF:
            let start = self.index
            try self.skipValue()
            return .value(try self.text(of: start..<self.index))
        default:
            try self.skipValue()
            return .invalid(.notAString)
        }
    }

    /// The offset of an object's `{`, after validating the whole object; the caller parses it later, once it knows
    /// the event needs it.
    mutating func readObjectOffset() throws(StreamProtocolError) -> FieldRead<Int> {
        let byte = try self.peek()
        let start = self.index
        if byte == ASCII.lowerN {
            try self.scanLiteral("null")
            return .absent
        }
        try self.skipValue()
        return byte == ASCII.openBrace ? .value(start) : .invalid(.notAnObject)
    }

    /// Parses decimal digits into a non-negative Int64.
    @inline(__always)
    static func integer(digits: UnsafeBufferPointer<UInt8>) -> FieldRead<Int64> {
        guard !digits.isEmpty else { return .invalid(.notAnInteger) }
        var value: Int64 = 0
        for byte in digits {
            guard ASCII.isDigit(byte) else { return .invalid(.notAnInteger) }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int64(byte &- ASCII.zero))
            guard !overflow1, !overflow2 else { return .invalid(.outOfRange) }
            value = sum
        }
        return .value(value)
    }
}
