import Doors

/// A `Range` header resolved against a file length: the first 8 bytes are the length (any
/// non-negative Int64), the rest the header's text.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzByteRange(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 8 else { return 0 }
    var raw: UInt64 = 0
    for i in 0..<8 { raw = raw << 8 | UInt64(data[i]) }
    // Small lengths are the interesting ones; keep both ends of the range reachable.
    let length = raw & 0x8000_0000_0000_0000 != 0 ? Int64(raw & 0x7fff_ffff_ffff_ffff) : Int64(raw & 0xffff)
    let header = String(decoding: UnsafeBufferPointer(start: data + 8, count: size - 8), as: UTF8.self)
    switch ByteRange.resolve(header, length: length) {
    case .whole:
        break
    case .unsatisfiable:
        break
    case .partial(let range):
        precondition(
            range.first >= 0 && range.first <= range.last && range.last < length,
            "\(range) outside 0..<\(length)"
        )
        precondition(range.count > 0 && range.count <= length)
    }
    return 0
}
