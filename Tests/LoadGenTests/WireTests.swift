import Foundation
import Testing

@testable import LoadGen

@Suite struct WireTests {
    /// RFC 6455 §1.3's worked example, and the key as the base64 of the nonce.
    @Test func acceptKeyFollowsRFC6455() {
        #expect(WebSocketHandshake.accept(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        let nonce = [UInt8](0..<16)
        #expect(WebSocketHandshake(nonce: nonce).key == Data(nonce).base64EncodedString())
    }

    @Test func handshakeRequestCarriesBasicAuthFromTheURL() throws {
        let endpoint = try StreamEndpoint(parsing: "ws://bench:bench-secret@127.0.0.1:9000/v1/streams").requesting(
            sampleRate: 16000
        )
        let handshake = WebSocketHandshake(nonce: Array(0..<16))
        let request = String(decoding: handshake.request(for: endpoint), as: UTF8.self)
        #expect(request.hasPrefix("GET /v1/streams?sample-rate=16000 HTTP/1.1\r\n"))
        #expect(request.contains("\r\nHost: 127.0.0.1:9000\r\n"))
        #expect(
            request.contains("\r\nAuthorization: Basic \(Data("bench:bench-secret".utf8).base64EncodedString())\r\n")
        )
        #expect(request.hasSuffix("\r\n\r\n"))

        let anonymous = try StreamEndpoint(parsing: "ws://127.0.0.1:9000/v1/streams?sample-rate=8000&x=1")
        #expect(anonymous.authorization == nil)
        #expect(anonymous.sampleRate == 8000)
        #expect(anonymous.requesting(sampleRate: 8000).requestTarget == "/v1/streams?sample-rate=8000&x=1")
        #expect(!String(decoding: handshake.request(for: anonymous), as: UTF8.self).contains("Authorization"))
    }

    @Test func unusableURLsAreRefused() {
        #expect(throws: LoadGenError.self) { try StreamEndpoint(parsing: "wss://127.0.0.1/v1/streams") }
        #expect(throws: LoadGenError.self) { try StreamEndpoint(parsing: "http://127.0.0.1/v1/streams") }
        #expect(throws: LoadGenError.self) { try StreamEndpoint(parsing: "ws:///v1/streams") }
        #expect(throws: LoadGenError.self) { try StreamEndpoint(parsing: "ws://127.0.0.1/?sample-rate=fast") }
    }

    @Test func handshakeResponseIsChecked() {
        let handshake = WebSocketHandshake(nonce: Array(0..<16))
        let good =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nsec-websocket-accept: \(handshake.expectedAccept)\r\n\r\n"
        #expect(handshake.parse(Array((good + "\u{81}").utf8)) == .upgraded(headerLength: good.utf8.count))
        #expect(handshake.parse(Array(good.dropLast(2).utf8)) == nil)
        #expect(
            handshake.parse(Array("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n".utf8))
                == .refused(status: 401)
        )
        #expect(handshake.parse(Array("HTTP/1.1 503 Busy\r\n\r\n".utf8)) == .refused(status: 503))
        if case .malformed = handshake.parse(Array("HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: nope\r\n\r\n".utf8)) {
        } else {
            Issue.record("a wrong accept key must not pass")
        }
        if case .malformed = handshake.parse(Array("SSH-2.0-OpenSSH\r\n\r\n".utf8)) {} else { Issue.record("not HTTP") }
    }

    /// Server frames split at every possible point still yield the ping and the close, and data frames are skipped.
    @Test func frameReaderHandlesAnySplit() throws {
        let text = [UInt8]([0x81, 126, 0x01, 0x00]) + [UInt8](repeating: 0x41, count: 256)
        let ping: [UInt8] = [0x89, 0x03, 1, 2, 3]
        let maskedClose: [UInt8] = [0x88, 0x82, 0x10, 0x20, 0x30, 0x40, 0x03 ^ 0x10, 0xE9 ^ 0x20]
        let stream = text + ping + maskedClose
        for split in 0...stream.count {
            var reader = FrameReader()
            var events: [FrameReader.Event] = []
            try stream[..<split].withUnsafeBytes { try reader.consume($0) { events.append($0) } }
            try stream[split...].withUnsafeBytes { try reader.consume($0) { events.append($0) } }
            #expect(events == [.ping([1, 2, 3]), .close(code: 1001)])
        }
    }

    @Test func oversizedControlFrameIsAViolation() {
        var reader = FrameReader()
        let bad: [UInt8] = [0x89, 126, 0x00, 0x80]
        #expect(throws: FrameReader.ProtocolViolation.self) {
            try bad.withUnsafeBytes { try reader.consume($0) { _ in } }
        }
    }

    @Test func byteQueueCompactsAndRefusesWhatDoesNotFit() {
        // ByteQueue is non-copyable, which #expect cannot capture: results go through locals.
        var queue = ByteQueue(capacity: 10)
        let first = queue.append([1, 2, 3, 4, 5, 6, 7, 8])
        queue.consume(6)
        let second = queue.append([9, 10, 11, 12, 13, 14])
        let pending = Array(queue.readable)
        let third = queue.append([0, 0, 0])
        queue.consume(8)
        let empty = queue.isEmpty
        #expect(first && second && !third && empty)
        #expect(pending == [7, 8, 9, 10, 11, 12, 13, 14])
    }
}
