import ExotelKit

/// One WebSocket text message, as the ingest's per-frame path sees it: parsed, and a media
/// payload decoded into a buffer of exactly `maxDecodedSize` bytes (ASan catches a write past it).
private let parser = StreamMessageParser()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStreamMessage(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let message = UnsafeRawBufferPointer(start: data, count: size)
    guard case .media(let frame) = try? parser.parse(message) else { return 0 }
    precondition(frame.payload.lowerBound >= 0 && frame.payload.upperBound <= size, "payload range outside the message")
    if let chunk = frame.chunk { precondition(chunk >= 0, "negative chunk passed the parser") }
    if let timestamp = frame.timestampMs { precondition(timestamp >= 0, "negative timestamp passed the parser") }
    if let sequence = frame.sequenceNumber { precondition(sequence >= 0, "negative sequence_number passed the parser") }
    let capacity = StreamMessageParser.maxDecodedSize(of: frame)
    let output = UnsafeMutableRawBufferPointer.allocate(byteCount: max(capacity, 1), alignment: 16)
    defer { output.deallocate() }
    if let count = try? parser.decodePayload(of: frame, in: message, into: UnsafeMutableRawBufferPointer(rebasing: output[0..<capacity])) {
        precondition(count >= 0 && count <= capacity && count & 1 == 0, "decoded \(count) bytes into \(capacity)")
    }
    return 0
}
