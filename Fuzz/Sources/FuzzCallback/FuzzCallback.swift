import ExotelKit

/// A status callback body. The first byte picks the declared content type (JSON, multipart,
/// urlencoded, or none: sniffed); for multipart the first line of the rest is the Content-Type
/// header (so the boundary parser is fuzzed too) and the remainder the body. The form decoders are
/// also run on their own.
private func isPlainName(_ name: String) -> Bool {
    !name.isEmpty
        && name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "."):
                true
            default: false
            }
        }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCallback(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    switch data[0] % 4 {
    case 0:
        _ = try? StatusCallback.parse(body: bytes, contentType: "application/json")
    case 1:
        let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
        let contentType = String(decoding: bytes[..<newline], as: UTF8.self)
        let body = Array(bytes[min(newline + 1, bytes.endIndex)...])
        _ = try? StatusCallback.parse(body: body, contentType: contentType)
        if let fields = try? MultipartForm.decode(body, contentType: contentType),
            fields.allSatisfy({ isPlainName($0.name) })
        {
            // What was decoded encodes and decodes back to the same fields (for names such as the
            // platform sends: the encoder does not quote-escape, as the simulator needs no more).
            let boundary = "fuzzboundary7MA4YWxkTrZu0gW"
            let again = try? MultipartForm.decode(
                MultipartForm.encode(fields, boundary: boundary),
                contentType: MultipartForm.contentType(boundary: boundary)
            )
            precondition(again.map { Array($0) == Array(fields) } ?? false, "multipart round trip changed the fields")
        }
    case 2:
        _ = try? StatusCallback.parse(body: bytes, contentType: "application/x-www-form-urlencoded")
        if let fields = try? URLEncodedForm.decode(bytes) {
            let again = try? URLEncodedForm.decode(Array(URLEncodedForm.encode(fields).utf8))
            precondition(again.map { Array($0) == Array(fields) } ?? false, "urlencoded round trip changed the fields")
        }
    default:
        _ = try? StatusCallback.parse(body: bytes, contentType: "")
    }
    return 0
}
