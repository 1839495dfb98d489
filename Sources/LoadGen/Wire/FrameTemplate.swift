import ExotelKit

/// The complete WebSocket frames of the stream protocol, with the expensive parts done once per run.
///
/// Every body block of the ``PCMPattern`` pool is base64-encoded when the template is built. A
/// `media` frame is then assembled from constant pieces: the few decimal digits of its
/// `sequence_number`, `chunk` and `timestamp`, the stream's sid, sixteen freshly encoded header
/// characters and one pre-encoded body. Messages follow the platform's shapes (exotel-platform.md
/// §1.3, every scalar a string):
///
/// ```
/// {"event":"media","sequence_number":"3","stream_sid":"…","media":{"chunk":"2","timestamp":"100","payload":"…"}}
/// ```
///
/// with `"track":"inbound"` / `"track":"outbound"` first inside `media` for dual streams. The `connected`, `start`
/// and `stop` messages, one per stream each, are built by ExotelKit's `StreamMessageEncoder`.
public struct FrameTemplate: Sendable {
    public let pattern: PCMPattern
    public let dual: Bool
    /// The base64 of each pool block, in pool order.
    let bodies: [[UInt8]]
    /// Length of the base64 of a body.
    let bodyLength: Int
    /// The largest `media` frame (header included) any sequence number can produce.
    public let maxMediaFrameBytes: Int

    static let sidLength = 32
    private static let mediaOpen = Array(#"{"event":"media","sequence_number":""#.utf8)
    private static let sidOpen = Array(#"","stream_sid":""#.utf8)
    private static let chunkOpen = [
        Array(#"","media":{"chunk":""#.utf8),
        Array(#"","media":{"track":"inbound","chunk":""#.utf8),
        Array(#"","media":{"track":"outbound","chunk":""#.utf8),
    ]
    private static let timestampOpen = Array(#"","timestamp":""#.utf8)
    private static let payloadOpen = Array(#"","payload":""#.utf8)
    private static let mediaClose = Array(#""}}"#.utf8)
    private static let headerCharacters = Base64.encodedCount(of: PCMPattern.headerSamples * 2)

    public init(sampleRate: Int, dual: Bool) {
        self.pattern = PCMPattern(sampleRate: sampleRate)
        self.dual = dual
        self.bodies = self.pattern.pool.map { block in block.withUnsafeBytes { Base64.encode($0) } }
        self.bodyLength = self.bodies[0].count
        let fixed =
            Self.mediaOpen.count + Self.sidOpen.count + Self.sidLength + Self.chunkOpen[2].count
            + Self.timestampOpen.count + Self.payloadOpen.count + Self.mediaClose.count
            + Self.headerCharacters + self.bodyLength
        // Three decimal fields of up to 19 digits each (Int.max) bound every message.
        let largest = fixed + 3 * 19
        self.maxMediaFrameBytes = WebSocketFrame.clientHeaderLength(payload: largest) + largest
    }

    /// Bytes of one 100 ms step at most: one `media` frame, or two for a dual stream.
    public var maxStepBytes: Int { self.maxMediaFrameBytes * (self.dual ? 2 : 1) }

    /// Writes the `media` frame of `frame` (0-based; `chunk` is `frame + 1`) on `channel` into
    /// `out`, which must have room for ``maxMediaFrameBytes``; returns the bytes written.
    ///
    /// - Parameter sid: the stream's 32-character `stream_sid`.
    func writeMedia(
        stream: Int,
        sid: UnsafePointer<UInt8>,
        channel: Int,
        frame: Int,
        sequence: Int,
        into out: UnsafeMutablePointer<UInt8>
    ) -> Int {
        let chunk = frame + 1
        let timestamp = frame * LoadPlan.frameMilliseconds
        let chunkOpen = Self.chunkOpen[self.dual ? 1 + channel : 0]
        let payloadLength =
            Self.mediaOpen.count + Self.sidOpen.count + Self.sidLength + chunkOpen.count
            + Self.timestampOpen.count + Self.payloadOpen.count + Self.mediaClose.count
            + Self.headerCharacters + self.bodyLength
            + Self.decimalLength(sequence) + Self.decimalLength(chunk) + Self.decimalLength(timestamp)

        var at = out + WebSocketFrame.writeClientHeader(.text, payload: payloadLength, into: out)
        at = Self.put(Self.mediaOpen, at)
        at = Self.putDecimal(sequence, at)
        at = Self.put(Self.sidOpen, at)
        at.update(from: sid, count: Self.sidLength)
        at += Self.sidLength
        at = Self.put(chunkOpen, at)
        at = Self.putDecimal(chunk, at)
        at = Self.put(Self.timestampOpen, at)
        at = Self.putDecimal(timestamp, at)
        at = Self.put(Self.payloadOpen, at)
        var header: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &header) { raw in
            self.pattern.writeHeader(stream: stream, channel: channel, frame: frame, into: raw.baseAddress!)
            Base64.encode(UnsafeRawBufferPointer(rebasing: raw[0..<PCMPattern.headerSamples * 2]), into: at)
        }
        at += Self.headerCharacters
        at = Self.put(self.bodies[self.pattern.blockIndex(stream: stream, channel: channel, frame: frame)], at)
        at = Self.put(Self.mediaClose, at)
        return at - out
    }

    /// `{"event":"connected"}`, the first message of every stream.
    public func connectedFrame() -> [UInt8] {
        WebSocketFrame.client(.text, payload: StreamMessageEncoder().connected())
    }

    /// The `start` message; its `sequence_number` is 1.
    public func startFrame(streamSid: String, callSid: String, runID: RunID) -> [UInt8] {
        let start = StreamStart(
            streamSid: streamSid,
            callSid: callSid,
            accountSid: LoadPlan.accountSid,
            from: "+919800000001",
            to: "+918000000001",
            customParameters: ["run": runID.description],
            mediaFormat: MediaFormat(encoding: "audio/x-raw", sampleRate: self.pattern.sampleRate, bitRate: "16")
        )
        return WebSocketFrame.client(.text, payload: StreamMessageEncoder().start(start, sequenceNumber: 1))
    }

    /// The `stop` message that ends a stream.
    public func stopFrame(streamSid: String, callSid: String, sequence: Int) -> [UInt8] {
        let stop = StreamMessageEncoder().stop(
            streamSid: streamSid,
            sequenceNumber: Int64(sequence),
            callSid: callSid,
            accountSid: LoadPlan.accountSid,
            reason: "callended"
        )
        return WebSocketFrame.client(.text, payload: stop)
    }

    /// A `media` frame as a fresh array: for tests and for checking the hot path against.
    public func mediaFrame(stream: Int, streamSid: String, channel: Int, frame: Int, sequence: Int) -> [UInt8] {
        let sid = Array(streamSid.utf8)
        precondition(sid.count == Self.sidLength, "stream_sid must be \(Self.sidLength) characters")
        return [UInt8](unsafeUninitializedCapacity: self.maxMediaFrameBytes) { buffer, initialized in
            initialized = self.writeMedia(
                stream: stream,
                sid: sid,
                channel: channel,
                frame: frame,
                sequence: sequence,
                into: buffer.baseAddress!
            )
        }
    }

    @inline(__always)
    private static func put(_ bytes: [UInt8], _ at: UnsafeMutablePointer<UInt8>) -> UnsafeMutablePointer<UInt8> {
        bytes.withUnsafeBufferPointer { at.update(from: $0.baseAddress!, count: $0.count) }
        return at + bytes.count
    }

    static func decimalLength(_ value: Int) -> Int {
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        return digits
    }

    private static func putDecimal(_ value: Int, _ at: UnsafeMutablePointer<UInt8>) -> UnsafeMutablePointer<UInt8> {
        let digits = self.decimalLength(value)
        var rest = value
        for i in stride(from: digits - 1, through: 0, by: -1) {
            at[i] = UInt8(truncatingIfNeeded: 48 + rest % 10)
            rest /= 10
        }
        return at + digits
    }
}
