import Foundation
import Glibc

/// A deliberately plain, blocking WebSocket client for tests: it can send what a correct client
/// would never send (binary frames, fragments, oversized or malformed messages) and reports the
/// server's close code exactly.
// Unchecked: a test uses a client from one task at a time; `closed` only moves the blocking read to a
// thread while that task waits for it.
public final class TestWebSocketClient: @unchecked Sendable {
    public enum ClientError: Error, CustomStringConvertible {
        case connect(String)
        case handshake(status: Int, text: String)
        case io(String)

        public var description: String {
            switch self {
            case .connect(let s): "connect: \(s)"
            case .handshake(let status, let text): "handshake refused with HTTP \(status): \(text)"
            case .io(let s): "io: \(s)"
            }
        }
    }

    private let fd: Int32
    private var closed = false

    /// Opens a TCP connection and completes the upgrade for `path` (which may carry a query).
    public init(
        port: Int,
        path: String = "/v1/streams",
        credentials: (String, String)? = ("test", "test-secret"),
        extraHeaders: [String] = []
    ) throws {
        self.fd = try Self.connect(port: port)
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        if let (user, password) = credentials {
            request += "Authorization: Basic \(Data("\(user):\(password)".utf8).base64EncodedString())\r\n"
        }
        for header in extraHeaders { request += header + "\r\n" }
        request += "\r\n"
        try self.sendRaw(Array(request.utf8))
        let response = try self.readHTTPHead()
        let status = Int(response.split(separator: " ").dropFirst().first ?? "") ?? 0
        guard status == 101 else {
            Glibc.close(self.fd)
            self.closed = true
            throw ClientError.handshake(status: status, text: response)
        }
    }

    private init(connectedSocket fd: Int32) {
        self.fd = fd
    }

    deinit {
        if !self.closed { Glibc.close(self.fd) }
    }

    /// The HTTP status with which the server refused an upgrade, or nil if it accepted it (the
    /// accepted connection is closed again).
    public static func refusal(
        port: Int,
        path: String = "/v1/streams",
        credentials: (String, String)? = ("test", "test-secret")
    ) throws -> Int? {
        do {
            let client = try TestWebSocketClient(port: port, path: path, credentials: credentials)
            client.close()
            return nil
        } catch ClientError.handshake(let status, _) {
            return status
        }
    }

    /// A TCP connection with no handshake at all, for tests of clients that never finish one.
    public static func rawConnection(port: Int) throws -> TestWebSocketClient {
        TestWebSocketClient(connectedSocket: try connect(port: port))
    }

    /// Waits until the server closes the connection; false if it is still open after the timeout.
    public func waitForEOF(timeoutSeconds: Int) throws -> Bool {
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(self.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(self.fd, &buffer, buffer.count, 0)
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    /// A connected TCP socket to 127.0.0.1:`port`, from the loopback address `source` when given
    /// (any of 127.0.0.0/8: a different client as far as the server can tell).
    public static func connect(port: Int, source: String? = nil) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ClientError.connect("socket: errno \(errno)") }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else {
                Glibc.close(fd)
                throw ClientError.connect("bind to \(source): errno \(errno)")
            }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            Glibc.close(fd)
            throw ClientError.connect("connect to 127.0.0.1:\(port): errno \(errno)")
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// Sends one complete text message.
    public func sendText(_ text: String) throws {
        try self.sendFrame(opcode: 1, payload: Array(text.utf8), final: true)
    }

    public func sendText(_ bytes: [UInt8]) throws { try self.sendFrame(opcode: 1, payload: bytes, final: true) }

    public func sendBinary(_ bytes: [UInt8]) throws { try self.sendFrame(opcode: 2, payload: bytes, final: true) }

    /// Sends a text message split into WebSocket continuation frames of `pieceSize` bytes.
    public func sendFragmented(_ text: String, pieceSize: Int) throws {
        let bytes = Array(text.utf8)
        var offset = 0
        var first = true
        while offset < bytes.count {
            let end = min(offset + pieceSize, bytes.count)
            try self.sendFrame(opcode: first ? 1 : 0, payload: Array(bytes[offset..<end]), final: end == bytes.count)
            first = false
            offset = end
        }
    }

    /// Sends a close frame with `code`.
    public func sendClose(code: UInt16 = 1000) throws {
        try self.sendFrame(opcode: 8, payload: [UInt8(code >> 8), UInt8(code & 0xff)], final: true)
    }

    /// Drops the TCP connection without a close frame (a client that vanished).
    public func abort() {
        guard !self.closed else { return }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(self.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        Glibc.close(self.fd)
        self.closed = true
    }

    /// ``awaitClose(timeoutSeconds:)`` for async tests: it blocks a thread of its own, not one of the
    /// cooperative pool's.
    public func closed(timeoutSeconds: Int = 30) async throws -> (code: UInt16, reason: String)? {
        try await onThread { try self.awaitClose(timeoutSeconds: timeoutSeconds) }
    }

    /// Waits for the server's close frame; returns its code (nil if the connection ended without one).
    public func awaitClose(timeoutSeconds: Int = 30) throws -> (code: UInt16, reason: String)? {
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(self.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        while true {
            guard let header = try self.readExactly(2) else { return nil }
            let opcode = header[0] & 0x0f
            var length = Int(header[1] & 0x7f)
            if length == 126 {
                guard let ext = try self.readExactly(2) else { return nil }
                length = Int(ext[0]) << 8 | Int(ext[1])
            } else if length == 127 {
                guard let ext = try self.readExactly(8) else { return nil }
                length = ext.reduce(0) { $0 << 8 | Int($1) }
            }
            guard let payload = try self.readExactly(length) else { return nil }
            if opcode == 8 {
                guard payload.count >= 2 else { return (1005, "") }
                return (
                    UInt16(payload[0]) << 8 | UInt16(payload[1]), String(decoding: payload.dropFirst(2), as: UTF8.self)
                )
            }
        }
    }

    public func close() {
        guard !self.closed else { return }
        Glibc.close(self.fd)
        self.closed = true
    }

    // MARK: - Frames

    private func sendFrame(opcode: UInt8, payload: [UInt8], final: Bool) throws {
        var frame: [UInt8] = [(final ? 0x80 : 0) | opcode]
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else if payload.count < 65536 {
            frame.append(0x80 | 126)
            frame += [UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        } else {
            frame.append(0x80 | 127)
            frame += (0..<8).reversed().map { UInt8((payload.count >> (8 * $0)) & 0xff) }
        }
        frame += mask
        frame.reserveCapacity(frame.count + payload.count)
        for (i, byte) in payload.enumerated() { frame.append(byte ^ mask[i & 3]) }
        try self.sendRaw(frame)
    }

    public func sendRaw(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes {
                send(self.fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw ClientError.io("send: errno \(errno)")
            }
            offset += n
        }
    }

    private func readHTTPHead() throws -> String {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while bytes.count < 16384 {
            let n = recv(self.fd, &byte, 1, 0)
            if n <= 0 { break }
            bytes.append(byte)
            if bytes.suffix(4) == [13, 10, 13, 10] { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func readExactly(_ count: Int) throws -> [UInt8]? {
        var result = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = result.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress! + got, count - got, 0) }
            if n == 0 { return nil }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == ECONNRESET { return nil }
                throw ClientError.io("recv: errno \(errno)")
            }
            got += n
        }
        return result
    }
}
