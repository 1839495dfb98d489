@preconcurrency import Glibc

/// A resolved address to connect to, IPv4 or IPv6.
struct SocketAddress {
    private var storage = sockaddr_storage()
    private(set) var length: socklen_t = 0
    var family: Int32 { Int32(self.storage.ss_family) }

    /// Resolves `host` once, before the run: a run opens thousands of connections to one address.
    static func resolve(host: String, port: Int) throws(LoadGenError) -> SocketAddress {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw .cannotResolve(host: host, reason: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(list) }
        var address = SocketAddress()
        withUnsafeMutableBytes(of: &address.storage) { target in
            target.copyMemory(
                from: UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen))
            )
        }
        address.length = first.pointee.ai_addrlen
        return address
    }

    /// Starts a non-blocking connect; returns 0 or the errno (`EINPROGRESS` is the normal case).
    func connect(_ fd: Int32) -> Int32 {
        var storage = self.storage
        let result = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, self.length) }
        }
        return result == 0 ? 0 : errno
    }
}
