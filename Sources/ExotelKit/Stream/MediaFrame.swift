/// A `media` message parsed without copying: the payload stays base64-encoded inside the message bytes.
///
/// The frame is only meaningful together with the exact bytes it was parsed from; pass both to
/// ``StreamMessageParser/decodePayload(of:in:into:)`` to get the PCM. Keeping the payload as a range is
/// what lets the ingest path parse a 2 KB message without allocating.
public struct MediaFrame: Sendable, Hashable {
    /// The top-level `sequence_number`, for gap detection.
    public var sequenceNumber: Int64?
    /// `media.chunk`: the chunk's index within the stream.
    public var chunk: Int64?
    /// `media.timestamp`: milliseconds since the stream started.
    public var timestampMs: Int64?
    /// `media.track`, else the top-level `track`; nil when the stream is mono.
    public var track: Track?
    /// The byte range of the base64 text inside the message, between the quotes.
    public var payload: Range<Int>
    /// Whether that JSON string contains backslash escapes (such as `\/`), which must be undone before decoding.
    public var payloadHasEscapes: Bool

    public init(
        sequenceNumber: Int64? = nil,
        chunk: Int64? = nil,
        timestampMs: Int64? = nil,
        track: Track? = nil,
        payload: Range<Int>,
        payloadHasEscapes: Bool = false
    ) {
        self.sequenceNumber = sequenceNumber
        self.chunk = chunk
        self.timestampMs = timestampMs
        self.track = track
        self.payload = payload
        self.payloadHasEscapes = payloadHasEscapes
    }
}
