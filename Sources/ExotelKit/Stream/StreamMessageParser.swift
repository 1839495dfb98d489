/// Parses the text messages of an AgentStream WebSocket into ``StreamMessage`` values.
///
/// The parser is the per-frame hot path of ingest, so `media` messages are parsed without allocating: keys are
/// compared in place, the payload is located with `memchr` and returned as a byte range, and the PCM is decoded
/// only when the caller asks, straight into the caller's buffer. The JSON is still validated strictly
/// (RFC 8259), and fields that sources disagree on (numbers sent as strings, `stream_sid` spellings) are accepted
/// in every documented form.
///
/// ```swift
/// let parser = StreamMessageParser()
/// let message = try parser.parse(bytes)
/// if case .media(let frame) = message {
///     let count = try parser.decodePayload(of: frame, in: bytes, into: pcmBuffer)
/// }
/// ```
public struct StreamMessageParser: Sendable {
    /// The deepest nesting of objects and arrays accepted; the message's own object is level 1.
    public let maxDepth: Int

    /// - Parameter maxDepth: the deepest nesting accepted. It bounds the recursion used to validate unknown values,
    ///   so a hostile message cannot exhaust the stack.
    public init(maxDepth: Int = 32) {
        precondition(maxDepth > 0, "maxDepth must be at least 1 (the message itself is an object)")
        self.maxDepth = maxDepth
    }

    /// Parses one complete text message, validating the whole JSON document.
    ///
    /// - Parameter message: the message's bytes (UTF-8). A `media` result refers to them by offset, so keep them
    ///   for ``decodePayload(of:in:into:)``.
    /// - Throws: `malformedJSON`, `notAnObject`, `missingEvent`, or `invalidField` for the named event's fields;
    ///   in that order of priority.
    public func parse(_ message: UnsafeRawBufferPointer) throws(StreamProtocolError) -> StreamMessage {
        guard let base = message.baseAddress, message.count > 0 else {
            throw .malformedJSON(offset: 0, reason: "the message is empty")
        }
        var scanner = JSONScanner(
            bytes: base.assumingMemoryBound(to: UInt8.self),
            count: message.count,
            maxDepth: self.maxDepth
        )
        let envelope = try StreamEnvelope(scanning: &scanner)
        return try envelope.message(scanner)
    }

    /// The most bytes the frame's payload can decode to: the size to give ``decodePayload(of:in:into:)``.
    public static func maxDecodedSize(of frame: MediaFrame) -> Int {
        // Undoing escapes only ever shortens the text, so the raw length bounds the escaped case too.
        Base64.maxDecodedCount(ofEncoded: frame.payload.count)
    }

    /// Decodes the frame's base64 payload into `output` as 16-bit little-endian PCM bytes.
    ///
    /// Allocates nothing, unless the payload string contains JSON escapes (rare: some encoders write `\/`); then
    /// the escapes are undone in a scratch copy first.
    ///
    /// - Parameters:
    ///   - frame: a frame returned by ``parse(_:)`` for `message`.
    ///   - message: the same bytes that were parsed.
    ///   - output: at least ``maxDecodedSize(of:)`` bytes.
    /// - Returns: the number of bytes written (always even).
    /// - Throws: `invalidBase64` with the offset of the bad character within the payload text, or
    ///   `oddPCMByteCount` if the bytes cannot be whole 16-bit samples.
    public func decodePayload(
        of frame: MediaFrame,
        in message: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(StreamProtocolError) -> Int {
        let count = try self.decodePayloadBytes(of: frame, in: message, into: output)
        guard count & 1 == 0 else { throw .oddPCMByteCount(count) }
        return count
    }

    /// Decodes the frame's base64 payload into `output` as it is, whatever its sample size (one byte per
    /// sample for G.711); ``decodePayload(of:in:into:)`` is this plus the check that 16-bit PCM needs.
    ///
    /// - Returns: the number of bytes written.
    /// - Throws: `invalidBase64` with the offset of the bad character within the payload text.
    public func decodePayloadBytes(
        of frame: MediaFrame,
        in message: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(StreamProtocolError) -> Int {
        precondition(
            frame.payload.lowerBound >= 0 && frame.payload.upperBound <= message.count,
            "frame.payload \(frame.payload) lies outside the \(message.count)-byte message; pass the parsed bytes"
        )
        if frame.payloadHasEscapes {
            return try Self.decodeEscaped(frame.payload, in: message, into: output)
        }
        return try Base64.decode(UnsafeRawBufferPointer(rebasing: message[frame.payload]), into: output)
    }

    /// The rare path: undo the JSON escapes into a scratch array, then decode that.
    private static func decodeEscaped(
        _ payload: Range<Int>,
        in message: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(StreamProtocolError) -> Int {
        guard let base = message.baseAddress, !payload.isEmpty else { return 0 }
        let scanner = JSONScanner(
            bytes: base.assumingMemoryBound(to: UInt8.self),
            count: message.count,
            maxDepth: 1
        )
        let text = scanner.unescaped(JSONString(range: payload, hasEscapes: true))
        // `withUnsafeBytes` rethrows untyped errors, so carry the typed one out in a `Result`.
        let result = text.withUnsafeBytes { bytes in
            Result { () throws(StreamProtocolError) in try Base64.decode(bytes, into: output) }
        }
        return try result.get()
    }
}
