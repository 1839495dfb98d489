/// Standard base64 (RFC 4648 §4, with padding), written straight into caller-owned memory.
///
/// Foundation's encoder returns a fresh `String`; the sender instead patches sixteen characters
/// into a frame that is already in its output buffer, so it needs an encoder that writes in place.
enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encodedLength(of count: Int) -> Int { (count + 2) / 3 * 4 }

    /// Encodes `bytes` into `output`, which must have room for ``encodedLength(of:)`` bytes; returns that length.
    @discardableResult
    static func encode(_ bytes: UnsafeRawBufferPointer, into output: UnsafeMutablePointer<UInt8>) -> Int {
        self.alphabet.withUnsafeBufferPointer { table in
            var out = output
            var index = 0
            let count = bytes.count
            while index + 3 <= count {
                let group = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
                out[0] = table[Int(group >> 18)]
                out[1] = table[Int(group >> 12 & 0x3F)]
                out[2] = table[Int(group >> 6 & 0x3F)]
                out[3] = table[Int(group & 0x3F)]
                out += 4
                index += 3
            }
            let rest = count - index
            if rest > 0 {
                let second = rest == 2 ? UInt32(bytes[index + 1]) : 0
                let group = UInt32(bytes[index]) << 16 | second << 8
                out[0] = table[Int(group >> 18)]
                out[1] = table[Int(group >> 12 & 0x3F)]
                out[2] = rest == 2 ? table[Int(group >> 6 & 0x3F)] : UInt8(ascii: "=")
                out[3] = UInt8(ascii: "=")
                out += 4
            }
            return out - output
        }
    }

    static func encode(_ bytes: some Collection<UInt8>) -> [UInt8] {
        let input = Array(bytes)
        return [UInt8](unsafeUninitializedCapacity: self.encodedLength(of: input.count)) { buffer, initialized in
            initialized = input.withUnsafeBytes { self.encode($0, into: buffer.baseAddress!) }
        }
    }

    static func encodeToString(_ bytes: some Collection<UInt8>) -> String {
        String(decoding: self.encode(bytes), as: UTF8.self)
    }
}
