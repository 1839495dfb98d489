@testable import ExotelKit

extension StreamMessageParser {
    /// Parses `text` as one message.
    func parse(_ text: String) throws(StreamProtocolError) -> StreamMessage {
        try self.parse(bytes: Array(text.utf8))
    }

    /// Parses raw bytes (for invalid UTF-8 and control characters).
    func parse(bytes: [UInt8]) throws(StreamProtocolError) -> StreamMessage {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(StreamProtocolError) in try self.parse(raw) }
        }
        return try result.get()
    }

    /// Parses a media message and decodes its payload.
    func media(_ bytes: [UInt8]) throws(StreamProtocolError) -> (frame: MediaFrame, pcm: [UInt8]) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(StreamProtocolError) -> (MediaFrame, [UInt8]) in
                guard case .media(let frame) = try self.parse(raw) else {
                    throw .invalidField(name: "test", reason: "expected a media message")
                }
                // Exactly the advertised size, followed by guard bytes that must survive the decode.
                let size = StreamMessageParser.maxDecodedSize(of: frame)
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size + 16, alignment: 1)
                defer { buffer.deallocate() }
                buffer.initializeMemory(as: UInt8.self, repeating: 0xEE)
                let count = try self.decodePayload(
                    of: frame,
                    in: raw,
                    into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<size])
                )
                precondition(buffer[size...].allSatisfy { $0 == 0xEE }, "decodePayload wrote past the output buffer")
                return (frame, Array(buffer[..<count]))
            }
        }
        return try result.get()
    }

    func media(_ text: String) throws(StreamProtocolError) -> (frame: MediaFrame, pcm: [UInt8]) {
        try self.media(Array(text.utf8))
    }

    /// The `malformedJSON` error for `text`, or nil if it parsed or failed otherwise.
    func jsonError(_ text: String) -> (offset: Int, reason: String)? {
        self.jsonError(bytes: Array(text.utf8))
    }

    func jsonError(bytes: [UInt8]) -> (offset: Int, reason: String)? {
        do {
            _ = try self.parse(bytes: bytes)
            return nil
        } catch {
            guard case .malformedJSON(let offset, let reason) = error else { return nil }
            return (offset, reason)
        }
    }
}

/// Decodes base64 text with the internal decoder, as the parser does.
func decodeBase64(_ text: [UInt8]) throws(StreamProtocolError) -> [UInt8] {
    let size = Base64.maxDecodedCount(ofEncoded: text.count)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size + 16, alignment: 1)
    defer { buffer.deallocate() }
    buffer.initializeMemory(as: UInt8.self, repeating: 0xEE)
    let result = text.withUnsafeBytes { input in
        Result { () throws(StreamProtocolError) in
            try Base64.decode(input, into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<size]))
        }
    }
    let count = try result.get()
    precondition(buffer[size...].allSatisfy { $0 == 0xEE }, "Base64.decode wrote past the output buffer")
    return Array(buffer[..<count])
}

func decodeBase64(_ text: String) throws(StreamProtocolError) -> [UInt8] {
    try decodeBase64(Array(text.utf8))
}

/// A small deterministic generator, so a failing random case can be reproduced.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func randomBytes(_ count: Int, using generator: inout SplitMix64) -> [UInt8] {
    (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
}

extension StreamMessage {
    var mediaFrame: MediaFrame? {
        if case .media(let frame) = self { return frame }
        return nil
    }

    var start: StreamStart? {
        if case .start(let start) = self { return start }
        return nil
    }
}

/// A 32-hex stream sid as the platform sends it.
let sid = "6f048d2e897a0d2d4029560f3f541947"
