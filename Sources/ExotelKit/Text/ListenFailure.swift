internal import Glibc

/// The sentence for a server socket that could not listen, naming the door, the address and the setting
/// that moves it, instead of a raw errno string ("bind(descriptor:ptr:bytes:): Address already in use (errno: 98)").
///
/// ```swift
/// ListenFailure.sentence(door: "platform door", address: "127.0.0.1:8081", errno: EADDRINUSE, setting: "callbacks.port or --callbacks-port")
/// // "the platform door cannot listen on 127.0.0.1:8081: the port is already in use (another exorec, or another program); …"
/// ```
public enum ListenFailure {
    public static func sentence(door: String, address: String, errno code: Int32, setting: String) -> String {
        let reason: String
        switch code {
        case EADDRINUSE:
            reason =
                "the port is already in use (another exorec, or another program, listens there); stop it or choose another port with \(setting)"
        case EADDRNOTAVAIL:
            reason = "that is not an address of this machine; choose one of its addresses (127.0.0.1, 0.0.0.0 for all)"
        case EACCES: reason = "ports below 1024 need privileges; choose a port above 1023 with \(setting)"
        default: reason = "\(String(cString: strerror(code))) (errno \(code))"
        }
        return "the \(door) cannot listen on \(address): \(reason)"
    }

    /// Why binding a TCP socket to `host`:`port` fails now (its errno), or nil when it binds: for a library
    /// that does not say why it could not listen (libwebsockets). Port 0 always binds.
    public static func bindErrno(host: String, port: Int) -> Int32? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let lookup = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &list)
        guard lookup == 0, let first = list else { return EADDRNOTAVAIL }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        var yes: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        return bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 ? nil : errno
    }
}
