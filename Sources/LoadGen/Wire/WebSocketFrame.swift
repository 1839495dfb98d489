/// The RFC 6455 frame layer as the load generator needs it: client frame headers and a reader for
/// what the server sends back.
enum WebSocketFrame {
    enum Opcode: UInt8 {
        case continuation = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA
    }

    /// Header bytes of a client frame with a `length`-byte payload.
    static func clientHeaderLength(payload length: Int) -> Int { length < 126 ? 6 : length < 65536 ? 8 : 14 }

    /// Writes a final, masked client frame header; returns its length.
    ///
    /// The masking key is all zeros. RFC 6455 §5.3 requires every client frame to be masked but
    /// not the key to be unpredictable to the server, and a zero key makes the XOR the identity:
    /// the payload goes out as written, with no per-byte pass over it.
    static func writeClientHeader(_ opcode: Opcode, payload length: Int, into out: UnsafeMutablePointer<UInt8>) -> Int {
        out[0] = 0x80 | opcode.rawValue
        var at: Int
        if length < 126 {
            out[1] = 0x80 | UInt8(length)
            at = 2
        } else if length < 65536 {
            out[1] = 0x80 | 126
            out[2] = UInt8(length >> 8)
            out[3] = UInt8(length & 0xFF)
            at = 4
        } else {
            out[1] = 0x80 | 127
            for i in 0..<8 { out[2 + i] = UInt8(truncatingIfNeeded: UInt64(length) >> UInt64(56 - 8 * i)) }
            at = 10
        }
        (out + at).initialize(repeating: 0, count: 4)
        return at + 4
    }

    /// A whole client frame around `payload`.
    static func client(_ opcode: Opcode, payload: [UInt8]) -> [UInt8] {
        let headerLength = self.clientHeaderLength(payload: payload.count)
        return [UInt8](unsafeUninitializedCapacity: headerLength + payload.count) { buffer, initialized in
            let base = buffer.baseAddress!
            let written = self.writeClientHeader(opcode, payload: payload.count, into: base)
            payload.withUnsafeBufferPointer { (base + written).initialize(from: $0.baseAddress!, count: $0.count) }
            initialized = written + payload.count
        }
    }

    /// A close frame with status 1000 (normal closure).
    static let clientNormalClose = Self.client(.close, payload: [0x03, 0xE8])
}

/// Reads the frames a peer sends, keeping only the control frames a peer must act on.
///
/// The generator reads a recording server, which sends little: a close frame at the end and
/// perhaps pings (Python's `websockets` pings every 20 s and drops a peer that does not answer).
/// The discard sink reads the generator's whole stream. Either way data frames are skipped
/// without being stored or unmasked.
struct FrameReader {
    enum Event: Equatable {
        case ping([UInt8])
        case close(code: UInt16?)
    }

    struct ProtocolViolation: Error, Equatable {
        var reason: String
    }

    private var header: [UInt8] = []
    private var opcode: UInt8 = 0
    private var remaining = 0
    private var mask: [UInt8]?
    private var control: [UInt8] = []
    private var maskOffset = 0

    /// Consumes `bytes`, calling `handle` for each complete ping or close frame.
    mutating func consume(_ bytes: UnsafeRawBufferPointer, _ handle: (Event) -> Void) throws(ProtocolViolation) {
        var index = 0
        while index < bytes.count {
            if self.remaining == 0 {
                // Gather a header: 2 bytes, then extended length and mask as announced.
                self.header.append(bytes[index])
                index += 1
                guard let needed = self.headerLength(), self.header.count == needed else { continue }
                try self.startPayload(handle)
                continue
            }
            let take = min(self.remaining, bytes.count - index)
            if self.isControl {
                for i in 0..<take {
                    var byte = bytes[index + i]
                    if let mask = self.mask { byte ^= mask[(self.maskOffset + i) & 3] }
                    self.control.append(byte)
                }
                self.maskOffset += take
            }
            index += take
            self.remaining -= take
            if self.remaining == 0 { self.finishFrame(handle) }
        }
    }

    private var isControl: Bool { self.opcode & 0x8 != 0 }

    /// The full header length once enough of it is known, else nil.
    private func headerLength() -> Int? {
        guard self.header.count >= 2 else { return nil }
        let lengthField = self.header[1] & 0x7F
        let extended = lengthField == 126 ? 2 : lengthField == 127 ? 8 : 0
        return 2 + extended + (self.header[1] & 0x80 != 0 ? 4 : 0)
    }

    private mutating func startPayload(_ handle: (Event) -> Void) throws(ProtocolViolation) {
        let lengthField = Int(self.header[1] & 0x7F)
        var length = lengthField
        var at = 2
        if lengthField == 126 {
            length = Int(self.header[2]) << 8 | Int(self.header[3])
            at = 4
        } else if lengthField == 127 {
            length = self.header[2..<10].reduce(0) { $0 << 8 | Int($1) }
            at = 10
        }
        self.mask = self.header[1] & 0x80 != 0 ? Array(self.header[at..<at + 4]) : nil
        self.opcode = self.header[0] & 0x0F
        self.header.removeAll(keepingCapacity: true)
        if self.isControl && length > 125 {
            throw ProtocolViolation(reason: "control frame of \(length) bytes (limit 125)")
        }
        self.remaining = length
        self.control.removeAll(keepingCapacity: true)
        self.maskOffset = 0
        if length == 0 { self.finishFrame(handle) }
    }

    private mutating func finishFrame(_ handle: (Event) -> Void) {
        switch WebSocketFrame.Opcode(rawValue: self.opcode) {
        case .ping:
            handle(.ping(self.control))
        case .close:
            handle(.close(code: self.control.count >= 2 ? UInt16(self.control[0]) << 8 | UInt16(self.control[1]) : nil))
        default:
            break
        }
    }
}
