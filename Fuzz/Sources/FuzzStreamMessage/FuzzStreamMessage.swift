import ExotelKit

/// One WebSocket text message, as the ingest's per-frame path sees it: parsed, and a media
/// payload decoded into a buffer of exactly `maxDecodedSize` bytes (ASan catches a write past it).
private let parser = StreamMessageParser()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStreamMessage(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let message = UnsafeRawBufferPointer(start: data, count: size)
    let parsed = try? parser.parse(message)
    if case .start(let start) = parsed {
        // Any encoding name is either one of the three or refused; a format with a problem has no usable rate.
        _ = StreamEncoding(mediaFormatEncoding: start.mediaFormat?.encoding)
        if let format = start.mediaFormat, format.sampleRateProblem != nil {
            precondition(format.sampleRate == nil, "an invalid sample_rate kept a value")
        }
        return 0
    }
    guard case .media(let frame) = parsed else { return 0 }
    precondition(frame.payload.lowerBound >= 0 && frame.payload.upperBound <= size, "payload range outside the message")
    if let chunk = frame.chunk { precondition(chunk >= 0, "negative chunk passed the parser") }
    if let timestamp = frame.timestampMs { precondition(timestamp >= 0, "negative timestamp passed the parser") }
    if let sequence = frame.sequenceNumber { precondition(sequence >= 0, "negative sequence_number passed the parser") }
    let capacity = StreamMessageParser.maxDecodedSize(of: frame)
    let output = UnsafeMutableRawBufferPointer.allocate(byteCount: max(capacity, 1), alignment: 16)
    defer { output.deallocate() }
    if let count = try? parser.decodePayload(
        of: frame,
        in: message,
        into: UnsafeMutableRawBufferPointer(rebasing: output[0..<capacity])
    ) {
        precondition(count >= 0 && count <= capacity && count & 1 == 0, "decoded \(count) bytes into \(capacity)")
    }
    // G.711: the bytes as they are, expanded into exactly one sample per byte.
    if let count = try? parser.decodePayloadBytes(
        of: frame,
        in: message,
        into: UnsafeMutableRawBufferPointer(rebasing: output[0..<capacity])
    ) {
        precondition(count >= 0 && count <= capacity, "decoded \(count) bytes into \(capacity)")
        let samples = UnsafeMutablePointer<Int16>.allocate(capacity: max(count, 1))
        defer { samples.deallocate() }
        G711.expand(
            UnsafeRawBufferPointer(rebasing: output[0..<count]),
            encoding: count & 1 == 0 ? .muLaw : .aLaw,
            into: samples
        )
    }
    return 0
}
