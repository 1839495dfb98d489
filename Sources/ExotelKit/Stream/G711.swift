/// G.711 expansion (ITU-T G.711, μ-law and A-law) to 16-bit linear PCM through 256-entry tables.
///
/// The tables are built once, on first use, from the reference expansion formulas (the ones in Sun's public
/// `g711.c`, which libsndfile, sox and Python's `audioop` use too); the per-frame path is one table load per
/// byte. They live in memory that is written once and only read afterwards, so any thread may use them.
public enum G711 {
    /// Expands `input` (one byte per sample) into `output`, which must hold `input.count` samples.
    @inline(__always)
    public static func expand(
        _ input: UnsafeRawBufferPointer,
        encoding: StreamEncoding,
        into output: UnsafeMutablePointer<Int16>
    ) {
        let table: UnsafePointer<Int16>
        switch encoding {
        case .muLaw: table = Self.muLawTable
        case .aLaw: table = Self.aLawTable
        case .pcm16: preconditionFailure("16-bit PCM is not G.711")
        }
        for (index, byte) in input.enumerated() {
            output[index] = table[Int(byte)]
        }
    }

    /// The 16-bit value of one μ-law byte.
    public static func muLawToLinear(_ byte: UInt8) -> Int16 { Self.muLawTable[Int(byte)] }

    /// The 16-bit value of one A-law byte.
    public static func aLawToLinear(_ byte: UInt8) -> Int16 { Self.aLawTable[Int(byte)] }

    private nonisolated(unsafe) static let muLawTable: UnsafePointer<Int16> = Self.table(Self.expandMuLaw)
    private nonisolated(unsafe) static let aLawTable: UnsafePointer<Int16> = Self.table(Self.expandALaw)

    private static func table(_ expand: (UInt8) -> Int16) -> UnsafePointer<Int16> {
        let table = UnsafeMutablePointer<Int16>.allocate(capacity: 256)
        for byte in 0...255 { table[byte] = expand(UInt8(byte)) }
        return UnsafePointer(table)
    }

    /// μ-law: complement, then (mantissa · 8 + bias 132) shifted by the segment, minus the bias; bit 7 clear is negative.
    static func expandMuLaw(_ byte: UInt8) -> Int16 {
        let u = Int32(~byte)
        var t = ((u & 0x0F) << 3) + 0x84
        t <<= (u & 0x70) >> 4
        return Int16(u & 0x80 != 0 ? 0x84 - t : t - 0x84)
    }

    /// A-law: even bits inverted, then the mantissa placed by the segment; bit 7 set is positive.
    static func expandALaw(_ byte: UInt8) -> Int16 {
        let a = Int32(byte ^ 0x55)
        var t = (a & 0x0F) << 4
        let segment = (a & 0x70) >> 4
        switch segment {
        case 0: t += 8
        case 1: t += 0x108
        default:
            t += 0x108
            t <<= segment - 1
        }
        return Int16(a & 0x80 != 0 ? t : -t)
    }
}
