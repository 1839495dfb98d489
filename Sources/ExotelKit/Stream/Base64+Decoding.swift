/// The decoder: four lookup tables, as in modp_b64 and the C floor server.
///
/// `d0[a] | d1[b] | d2[c] | d3[d]` is the three decoded bytes of the quad `abcd`, little-endian in the low 24
/// bits. Every character outside the alphabet (including `=` and `"`) maps to a value with bits 24 and up set in
/// all four tables, so a single test per group finds any bad character, and the loop needs no per-byte branch.
extension Base64 {
    /// The most bytes `count` characters of base64 can decode to.
    static func maxDecodedCount(ofEncoded count: Int) -> Int {
        (count + 3) / 4 * 3
    }

    /// Decodes standard base64 `input` into `output` and returns the number of bytes written.
    ///
    /// Accepts padded and unpadded text. Rejects, with the offset of the first offending character: any character
    /// outside the alphabet, `=` anywhere but as one or two final characters of a whole number of quads, and a
    /// length that leaves a single character over (4n + 1). Bits left over in the last character are ignored, as
    /// most decoders (and Foundation) do.
    ///
    /// - Precondition: `output.count >= maxDecodedCount(ofEncoded: input.count)`.
    static func decode(
        _ input: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(StreamProtocolError) -> Int {
        let count = input.count
        guard count > 0, let inputBase = input.baseAddress else { return 0 }
        precondition(
            output.count >= Self.maxDecodedCount(ofEncoded: count),
            "base64 output buffer holds \(output.count) bytes; \(Self.maxDecodedCount(ofEncoded: count)) needed"
        )
        let s = inputBase.assumingMemoryBound(to: UInt8.self)
        let o = output.baseAddress!
        let outputCount = output.count
        let table = Base64DecodeTables.shared.base

        var end = count
        if count & 3 == 0, s[count &- 1] == Self.pad {
            end &-= 1
            if s[count &- 2] == Self.pad { end &-= 1 }
        }

        // 16 characters -> 12 bytes per step with one validity test and two 8-byte stores. The stores write two
        // bytes past the 12, so the step count leaves that slack inside `output`. A step that meets a bad character
        // stops the loop, and the quad loop below finds and reports it.
        var i = 0
        var n = 0
        var steps = outputCount >= 14 ? min(end / 16, (outputCount - 14) / 12 + 1) : 0
        while steps > 0 {
            let p = s + i
            let a = Self.quad(p, table)
            let b = Self.quad(p + 4, table)
            let c = Self.quad(p + 8, table)
            let d = Self.quad(p + 12, table)
            if (a | b | c | d) & 0xFF00_0000 != 0 { break }
            (o + n).storeBytes(of: (UInt64(a) | UInt64(b) &<< 24).littleEndian, as: UInt64.self)
            (o + (n &+ 6)).storeBytes(of: (UInt64(c) | UInt64(d) &<< 24).littleEndian, as: UInt64.self)
            i &+= 16
            n &+= 12
            steps &-= 1
        }
        while end &- i >= 4 {
            let x = Self.quad(s + i, table)
            if x & 0xFF00_0000 != 0 { throw .invalidBase64(offset: Self.firstInvalid(s, from: i, table)) }
            o.storeBytes(of: UInt8(truncatingIfNeeded: x), toByteOffset: n, as: UInt8.self)
            o.storeBytes(of: UInt8(truncatingIfNeeded: x &>> 8), toByteOffset: n &+ 1, as: UInt8.self)
            o.storeBytes(of: UInt8(truncatingIfNeeded: x &>> 16), toByteOffset: n &+ 2, as: UInt8.self)
            i &+= 4
            n &+= 3
        }
        switch end &- i {
        case 1:
            // A lone character carries only 6 bits, not a whole byte.
            throw .invalidBase64(offset: i)
        case 2:
            let x = table[Int(s[i])] | table[256 &+ Int(s[i &+ 1])]
            if x & 0xFF00_0000 != 0 { throw .invalidBase64(offset: Self.firstInvalid(s, from: i, table)) }
            o.storeBytes(of: UInt8(truncatingIfNeeded: x), toByteOffset: n, as: UInt8.self)
            n &+= 1
        case 3:
            let x = table[Int(s[i])] | table[256 &+ Int(s[i &+ 1])] | table[512 &+ Int(s[i &+ 2])]
            if x & 0xFF00_0000 != 0 { throw .invalidBase64(offset: Self.firstInvalid(s, from: i, table)) }
            o.storeBytes(of: UInt8(truncatingIfNeeded: x), toByteOffset: n, as: UInt8.self)
            o.storeBytes(of: UInt8(truncatingIfNeeded: x &>> 8), toByteOffset: n &+ 1, as: UInt8.self)
            n &+= 2
        default:
            break
        }
        return n
    }

    /// Decodes the four characters at `p` into the low 24 bits (bits 24 and up are set if any is invalid).
    @inline(__always)
    private static func quad(_ p: UnsafePointer<UInt8>, _ table: UnsafePointer<UInt32>) -> UInt32 {
        table[Int(p[0])] | table[256 &+ Int(p[1])] | table[512 &+ Int(p[2])] | table[768 &+ Int(p[3])]
    }

    /// The offset of the first character at or after `start` that is not in the alphabet. Only called once a group
    /// is known to contain one, so it never runs past the input.
    private static func firstInvalid(_ s: UnsafePointer<UInt8>, from start: Int, _ table: UnsafePointer<UInt32>) -> Int
    {
        var i = start
        while table[Int(s[i])] & 0xFF00_0000 == 0 { i &+= 1 }
        return i
    }
}

/// The decoder's four 256-entry tables, built once and never freed.
///
/// `@unchecked Sendable`: the memory is written only in `init`, before `shared` is published (Swift initialises
/// a static `let` exactly once, thread-safely), and is read-only afterwards.
struct Base64DecodeTables: @unchecked Sendable {
    /// `d0`, `d1`, `d2`, `d3` back to back: entry `k * 256 + byte` is table `k`'s value for `byte`.
    let base: UnsafePointer<UInt32>

    static let shared = Base64DecodeTables()

    /// Marks an invalid character: bit 24 and up are set, and the low bits are irrelevant.
    static let invalid: UInt32 = 0x01FF_FFFF

    private init() {
        let tables = UnsafeMutablePointer<UInt32>.allocate(capacity: 1024)
        tables.initialize(repeating: Self.invalid, count: 1024)
        let alphabet = Base64.alphabet.utf8Start
        for value in UInt32(0)..<64 {
            let character = Int(alphabet[Int(value)])
            tables[character] = value &<< 2
            tables[256 + character] = value &>> 4 | (value & 0xF) &<< 12
            tables[512 + character] = (value &>> 2) &<< 8 | (value & 0x3) &<< 22
            tables[768 + character] = value &<< 16
        }
        self.base = UnsafePointer(tables)
    }
}
