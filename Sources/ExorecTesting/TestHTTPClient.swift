import Foundation
import Glibc

/// One HTTP response as `TestHTTPClient` read it.
public struct TestHTTPResponse: Sendable {
    public var status: Int
    public var headers: [String: String]  // lowercased names
    public var body: String
}

/// A blocking HTTP/1.1 client over a plain socket, keep-alive: several requests on one connection.
/// Always call it from `onThread`, never on the cooperative pool, which the sink needs. One thread may
/// write (a trickling body) while another reads the answer: a socket allows that, hence `@unchecked`.
public final class TestHTTPClient: @unchecked Sendable {
    private let fd: Int32
    private var buffered: [UInt8] = []
    private var isClosed = false

    public init(port: Int) throws {
        self.fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard self.fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(self.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            Glibc.close(self.fd)
            throw TestFailure("connect to 127.0.0.1:\(port): errno \(errno)")
        }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(self.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { self.close() }

    public func close() {
        guard !self.isClosed else { return }
        self.isClosed = true
        Glibc.close(self.fd)
    }

    /// Drops the connection with a reset (a client that vanished).
    public func abort() {
        guard !self.isClosed else { return }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(self.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        self.close()
    }

    /// Sends a request with `Content-Length` (unless `headers` already has a length or
    /// `Transfer-Encoding`), without waiting for the answer.
    public func send(
        _ method: String,
        _ path: String,
        contentType: String? = nil,
        body: [UInt8] = [],
        headers: [String] = []
    ) throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        let explicit = headers.contains {
            $0.lowercased().hasPrefix("content-length:") || $0.lowercased().hasPrefix("transfer-encoding:")
        }
        if !explicit && (method == "POST" || method == "PUT" || !body.isEmpty) {
            head += "Content-Length: \(body.count)\r\n"
        }
        for header in headers { head += header + "\r\n" }
        head += "\r\n"
        try self.write(Array(head.utf8) + body)
    }

    public func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.send(self.fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw TestFailure("send: errno \(errno)")
            }
            offset += n
        }
    }

    /// Reads one response (head and `Content-Length` body).
    /// Reads one response, waiting at most `timeoutSeconds` for it (then throws); the usual 20 s wait is
    /// restored afterwards.
    public func readResponse(timeoutSeconds: Int) throws -> TestHTTPResponse {
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(self.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        defer {
            var usual = timeval(tv_sec: 20, tv_usec: 0)
            setsockopt(self.fd, SOL_SOCKET, SO_RCVTIMEO, &usual, socklen_t(MemoryLayout<timeval>.size))
        }
        return try self.readResponse()
    }

    public func readResponse() throws -> TestHTTPResponse {
        let separator: [UInt8] = [13, 10, 13, 10]
        var headEnd: Int?
        while true {
            if self.buffered.count >= 4 {
                headEnd = (0...(self.buffered.count - 4)).first { Array(self.buffered[$0..<$0 + 4]) == separator }
                if headEnd != nil { break }
            }
            try self.fill()
        }
        let head = String(decoding: self.buffered[..<headEnd!], as: UTF8.self)
        self.buffered.removeFirst(headEnd! + 4)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusLine = lines.removeFirst()
        let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces
            )
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        while self.buffered.count < length { try self.fill() }
        let body = String(decoding: self.buffered[..<length], as: UTF8.self)
        self.buffered.removeFirst(length)
        return TestHTTPResponse(status: status, headers: headers, body: body)
    }

    /// Sends a request and reads its answer.
    public func request(
        _ method: String,
        _ path: String,
        contentType: String? = nil,
        body: [UInt8] = [],
        headers: [String] = []
    ) throws -> TestHTTPResponse {
        try self.send(method, path, contentType: contentType, body: body, headers: headers)
        return try self.readResponse()
    }

    /// Whether the server has closed the connection (reads until EOF, at most `timeoutSeconds`).
    /// Whether the server has closed the connection, without waiting (data already sent is skipped).
    public func isClosedNow() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT)) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET || errno == EPIPE }
        }
    }

    public func waitForEOF(timeoutSeconds: Int = 5) -> Bool {
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(self.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress!, $0.count, 0) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress!, $0.count, 0) }
        if n < 0, errno == EINTR { return }
        guard n > 0 else { throw TestFailure(n == 0 ? "the server closed the connection" : "recv: errno \(errno)") }
        self.buffered += chunk[0..<n]
    }

    /// One request on a fresh connection.
    public static func request(
        port: Int,
        _ method: String,
        _ path: String,
        contentType: String? = nil,
        body: [UInt8] = [],
        headers: [String] = []
    ) async throws -> TestHTTPResponse {
        try await onThread {
            let client = try TestHTTPClient(port: port)
            defer { client.close() }
            return try client.request(method, path, contentType: contentType, body: body, headers: headers)
        }
    }
}
