/// Appends JSON text to a byte array: the minimal writer the encoder needs, with exact control over key order
/// and over which scalars are strings.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int) {
        self.bytes.reserveCapacity(capacity)
    }

    /// Appends JSON syntax or a key known to need no escaping.
    mutating func raw(_ text: StaticString) {
        self.bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Appends `"key":`.
    mutating func key(_ key: StaticString) {
        self.bytes.append(ASCII.quote)
        self.raw(key)
        self.bytes.append(ASCII.quote)
        self.bytes.append(ASCII.colon)
    }

    /// Appends `value` as a JSON string, escaping quotes, backslashes and control characters.
    mutating func string(_ value: String) {
        self.bytes.append(ASCII.quote)
        for byte in value.utf8 {
            switch byte {
            case ASCII.quote, ASCII.backslash:
                self.bytes.append(ASCII.backslash)
                self.bytes.append(byte)
            case ASCII.lineFeed:
                self.raw("\\n")
            case ASCII.carriageReturn:
                self.raw("\\r")
            case ASCII.tab:
                self.raw("\\t")
            case 0..<0x20:
                self.raw("\\u00")
                self.bytes.append(Self.hexDigit(byte >> 4))
                self.bytes.append(Self.hexDigit(byte & 0xF))
            default:
                self.bytes.append(byte)
            }
        }
        self.bytes.append(ASCII.quote)
    }

    /// Appends `value` as a JSON number, or as a string of its digits. Writes the digits directly (no `String`),
    /// since the load generator builds thousands of media messages a second.
    mutating func integer(_ value: Int64, quoted: Bool) {
        if quoted { self.bytes.append(ASCII.quote) }
        if value < 0 { self.bytes.append(ASCII.minus) }
        let start = self.bytes.count
        var magnitude = value.magnitude
        repeat {
            self.bytes.append(ASCII.zero + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        self.bytes[start...].reverse()
        if quoted { self.bytes.append(ASCII.quote) }
    }

    /// Appends `"key":"value"` as the next member of an object, preceded by a comma unless it is the first.
    mutating func member(_ key: StaticString, _ value: String, first: inout Bool) {
        if !first { self.bytes.append(ASCII.comma) }
        first = false
        self.key(key)
        self.string(value)
    }

    /// Appends `pcm` as a base64 JSON string, encoding straight into the array.
    mutating func base64String(_ pcm: UnsafeRawBufferPointer) {
        self.bytes.append(ASCII.quote)
        let start = self.bytes.count
        let length = Base64.encodedCount(of: pcm.count)
        self.bytes.append(contentsOf: repeatElement(0, count: length))
        self.bytes.withUnsafeMutableBufferPointer { buffer in
            Base64.encode(pcm, into: buffer.baseAddress! + start)
        }
        self.bytes.append(ASCII.quote)
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? ASCII.zero + value : 0x61 + value - 10
    }
}
