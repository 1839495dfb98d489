@preconcurrency import Glibc

/// A WebSocket server that accepts every upgrade and throws the data away: the far end of
/// `exorec loadgen --sink`, which measures the generator's own ceiling.
///
/// It does the least a server can: one large `recv` per wakeup and a walk over the frame
/// headers to find the close frame, which it answers. No unmasking, no JSON, no files.
///
/// ```swift
/// let sink = try DiscardServer()
/// async let served: Void = sink.serve(cpu: 0)
/// let report = try await LoadRunner.run(plan(for: sink.port), cpu: 1)
/// sink.stop()
/// try await served
/// ```
///
/// `@unchecked Sendable`: all connection state lives inside ``serve(cpu:)`` on the sink's own
/// thread; from other threads only ``port`` (immutable) and ``stop()`` (a write to a pipe)
/// are used.
public final class DiscardServer: @unchecked Sendable {
    private final class Connection {
        let fd: Int32
        var head: [UInt8] = []
        var upgraded = false
        var reader = FrameReader()
        init(fd: Int32) { self.fd = fd }
    }

    private static let listenerToken = UInt64.max
    private static let wakeToken = UInt64.max - 1
    private static let readBufferBytes = 256 * 1024

    /// The loopback port it listens on.
    public let port: Int
    private let listener: Int32
    /// A pipe whose read end is in the loop's epoll set; ``stop()`` writes a byte to it.
    private let wake: (read: Int32, write: Int32)

    /// Binds 127.0.0.1 on a free port.
    public init() throws(LoadGenError) {
        let listener = try Posix.check(
            socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0),
            "socket"
        )
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(listener, 4096) == 0 else {
            let code = errno
            close(listener)
            throw .system(call: "bind/listen 127.0.0.1", errno: code)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(listener, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: address.sin_port))
        self.listener = listener
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            let code = errno
            close(listener)
            throw .system(call: "pipe", errno: code)
        }
        self.wake = (ends[0], ends[1])
    }

    deinit {
        close(self.listener)
        close(self.wake.read)
        close(self.wake.write)
    }

    /// Serves on a dedicated thread (pinned to `cpu` if given) until ``stop()``.
    public func serve(cpu: Int? = nil) async throws(LoadGenError) {
        let result = try await DedicatedThread.run(name: "loadgen-sink", cpu: cpu) {
            Result { () throws(LoadGenError) in try self.loop() }
        }
        try result.get()
    }

    /// Makes ``serve(cpu:)`` return; safe from any thread.
    public func stop() {
        var byte: UInt8 = 1
        _ = write(self.wake.write, &byte, 1)
    }

    private func loop() throws(LoadGenError) {
        let epoll = try Epoll()
        try epoll.add(self.listener, token: Self.listenerToken)
        try epoll.add(self.wake.read, token: Self.wakeToken)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readBufferBytes, alignment: 16)
        var connections: [Int32: Connection] = [:]
        defer {
            buffer.deallocate()
            for fd in connections.keys { close(fd) }
        }
        var running = true
        while running {
            try epoll.wait(timeoutMilliseconds: -1) { (token: UInt64, _: UInt32) throws(LoadGenError) in
                switch token {
                case Self.wakeToken:
                    running = false
                case Self.listenerToken:
                    while true {
                        let fd = accept(self.listener, nil, nil)
                        guard fd >= 0 else { break }
                        try Posix.setNonBlocking(fd)
                        connections[fd] = Connection(fd: fd)
                        try epoll.add(fd, token: UInt64(fd))
                    }
                default:
                    let fd = Int32(token)
                    guard let connection = connections[fd] else { return }
                    if !self.drain(connection, buffer) {
                        close(fd)
                        connections[fd] = nil
                    }
                }
            }
        }
    }

    /// Reads everything available; false once the connection is over.
    private func drain(_ connection: Connection, _ buffer: UnsafeMutableRawBufferPointer) -> Bool {
        while true {
            let count = recv(connection.fd, buffer.baseAddress, buffer.count, 0)
            if count == 0 { return false }
            if count < 0 {
                if errno == EINTR { continue }
                return errno == EAGAIN || errno == EWOULDBLOCK
            }
            var bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
            if !connection.upgraded {
                connection.head.append(contentsOf: bytes)
                guard let end = WebSocketHandshake.headEnd(in: connection.head) else { continue }
                guard let response = Self.upgradeResponse(connection.head[..<end]) else { return false }
                response.withUnsafeBytes { _ = Posix.send(connection.fd, $0) }
                connection.upgraded = true
                bytes = UnsafeRawBufferPointer(rebasing: bytes[(end + 4 - (connection.head.count - count))...])
                connection.head = []
            }
            var closed = false
            do {
                try connection.reader.consume(bytes) { event in
                    if case .close = event { closed = true }
                }
            } catch {
                return false
            }
            if closed {
                [UInt8]([0x88, 0x02, 0x03, 0xE8]).withUnsafeBytes { _ = Posix.send(connection.fd, $0) }
                return false
            }
        }
    }

    /// The 101 answer to an upgrade request head, or nil when it carries no key.
    private static func upgradeResponse(_ head: ArraySlice<UInt8>) -> [UInt8]? {
        let text = String(decoding: head, as: UTF8.self)
        let key = text.split(separator: "\r\n").lazy.compactMap { line -> String? in
            guard let colon = line.firstIndex(of: ":"), line[..<colon].lowercased() == "sec-websocket-key" else {
                return nil
            }
            return String(line[line.index(after: colon)...].filter { $0 != " " && $0 != "\t" })
        }.first
        guard let key else { return nil }
        let accept = WebSocketHandshake.accept(forKey: key)
        return Array(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept)\r\n\r\n"
                .utf8
        )
    }
}
