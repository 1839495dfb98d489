/// Base64 with the standard alphabet (RFC 4648 §4), as the platform uses for media payloads.
///
/// Encoding always pads. Decoding (internal, used by ``StreamMessageParser/decodePayload(of:in:into:)``) accepts
/// padded and unpadded input and is table-driven, so the per-frame cost stays near a C decoder's.
public enum Base64 {
    /// Encodes `bytes` as padded standard base64 text (ASCII bytes).
    public static func encode(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        let count = Self.encodedCount(of: bytes.count)
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initializedCount in
            if let output = buffer.baseAddress { Self.encode(bytes, into: output) }
            initializedCount = count
        }
    }

    /// The length of the padded encoding of `count` bytes.
    public static func encodedCount(of count: Int) -> Int {
        (count + 2) / 3 * 4
    }

    /// Writes the padded encoding of `bytes` to `output`, which must have room for ``encodedCount(of:)`` bytes.
    ///
    /// Inlinable, so that a caller in another module that patches a few characters into a prepared message per
    /// frame (the load generator, for the header of each media frame) pays no call for it.
    @inlinable
    public static func encode(_ bytes: UnsafeRawBufferPointer, into output: UnsafeMutablePointer<UInt8>) {
        guard let base = bytes.baseAddress else { return }
        let input = base.assumingMemoryBound(to: UInt8.self)
        let alphabet = Self.alphabet.utf8Start
        let count = bytes.count
        var i = 0
        var o = 0
        while count &- i >= 3 {
            let group = UInt32(input[i]) &<< 16 | UInt32(input[i &+ 1]) &<< 8 | UInt32(input[i &+ 2])
            output[o] = alphabet[Int(group &>> 18)]
            output[o &+ 1] = alphabet[Int(group &>> 12 & 0x3F)]
            output[o &+ 2] = alphabet[Int(group &>> 6 & 0x3F)]
            output[o &+ 3] = alphabet[Int(group & 0x3F)]
            i &+= 3
            o &+= 4
        }
        switch count &- i {
        case 1:
            let group = UInt32(input[i]) &<< 16
            output[o] = alphabet[Int(group &>> 18)]
            output[o &+ 1] = alphabet[Int(group &>> 12 & 0x3F)]
            output[o &+ 2] = Self.pad
            output[o &+ 3] = Self.pad
        case 2:
            let group = UInt32(input[i]) &<< 16 | UInt32(input[i &+ 1]) &<< 8
            output[o] = alphabet[Int(group &>> 18)]
            output[o &+ 1] = alphabet[Int(group &>> 12 & 0x3F)]
            output[o &+ 2] = alphabet[Int(group &>> 6 & 0x3F)]
            output[o &+ 3] = Self.pad
        default:
            break
        }
    }

    @usableFromInline
    static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    @usableFromInline
    static let pad = UInt8(ascii: "=")
}
