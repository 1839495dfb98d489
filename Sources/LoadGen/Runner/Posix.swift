import CSystemShims
@preconcurrency import Glibc

/// The few system calls the event loops use, with errno turned into ``LoadGenError`` where a
/// failure ends the run. Calls whose errno the caller interprets (send, recv, connect) stay raw.
enum Posix {
    static func check(_ result: Int32, _ call: String) throws(LoadGenError) -> Int32 {
        guard result >= 0 else { throw .system(call: call, errno: errno) }
        return result
    }

    static func setNonBlocking(_ fd: Int32) throws(LoadGenError) {
        let flags = try check(fcntl(fd, F_GETFL), "fcntl(F_GETFL)")
        _ = try check(fcntl(fd, F_SETFL, flags | O_NONBLOCK), "fcntl(F_SETFL)")
    }

    static func setOption(_ fd: Int32, level: Int32, _ name: Int32, _ value: Int32) {
        var value = value
        setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
    }

    /// The pending error of a socket whose non-blocking connect finished (`SO_ERROR`).
    static func socketError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) == 0 else { return errno }
        return value
    }

    /// Bytes written to a TCP socket that the peer has not acknowledged yet (`SIOCOUTQ`, which
    /// Linux numbers like `TIOCOUTQ`); nil if the socket cannot say.
    static func unacknowledgedBytes(_ fd: Int32) -> Int? {
        var value: Int32 = 0
        guard ioctl(fd, UInt(TIOCOUTQ), &value) == 0 else { return nil }
        return Int(value)
    }

    /// Raises the soft descriptor limit to at least `needed`, up to the hard limit.
    ///
    /// Two thousand streams need two thousand sockets; shells commonly start with a soft limit
    /// of 1024, while the hard limit is far higher.
    static func ensureDescriptors(_ needed: Int) throws(LoadGenError) {
        var limit = rlimit()
        _ = try check(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit), "getrlimit(RLIMIT_NOFILE)")
        guard limit.rlim_cur < rlim_t(needed) else { return }
        guard limit.rlim_max >= rlim_t(needed) else {
            throw .descriptorLimit(needed: needed, hardLimit: Int(limit.rlim_max))
        }
        limit.rlim_cur = limit.rlim_max
        _ = try check(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit), "setrlimit(RLIMIT_NOFILE)")
    }

    /// A `send` that never raises SIGPIPE: a server that closed early is a counted failure, not a crash.
    static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int {
        Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
    }
}

/// Monotonic and per-thread CPU clocks, in nanoseconds.
enum SystemClock {
    static func now() -> UInt64 { self.read(CLOCK_MONOTONIC) }
    /// CPU time the calling thread has used: the generator's own cost, whatever else runs.
    static func threadCPU() -> UInt64 { self.read(CLOCK_THREAD_CPUTIME_ID) }

    private static func read(_ clock: clockid_t) -> UInt64 {
        var spec = timespec()
        clock_gettime(clock, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}

/// An epoll instance; the one readiness mechanism of both the generator and the discard sink.
///
/// Not `Sendable`: it belongs to the thread whose loop waits on it.
final class Epoll {
    let fd: Int32
    private var events: [epoll_event]

    init(capacity: Int = 1024) throws(LoadGenError) {
        self.fd = try Posix.check(epoll_create1(Int32(EPOLL_CLOEXEC)), "epoll_create1")
        self.events = [epoll_event](repeating: epoll_event(), count: capacity)
    }

    deinit { close(self.fd) }

    /// Watches `descriptor` edge-triggered for input, output and hang-up, tagged with `token`.
    ///
    /// Edge-triggered: a socket that stays writable does not wake the loop again; the loop
    /// keeps its own list of sockets it stopped serving before they filled up.
    func add(_ descriptor: Int32, token: UInt64) throws(LoadGenError) {
        var event = epoll_event()
        event.events = Epoll.input | Epoll.output | Epoll.peerHangUp | EPOLLET.rawValue
        event.data.u64 = token
        _ = try Posix.check(epoll_ctl(self.fd, EPOLL_CTL_ADD, descriptor, &event), "epoll_ctl(ADD)")
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever) and calls `handle(token, events)` for each ready descriptor.
    func wait(timeoutMilliseconds: Int32, _ handle: (UInt64, UInt32) throws(LoadGenError) -> Void) throws(LoadGenError)
    {
        let count = self.events.withUnsafeMutableBufferPointer { buffer in
            epoll_wait(self.fd, buffer.baseAddress, Int32(buffer.count), timeoutMilliseconds)
        }
        if count < 0 {
            if errno == EINTR { return }
            throw .system(call: "epoll_wait", errno: errno)
        }
        for i in 0..<Int(count) {
            let event = self.events[i]
            try handle(event.data.u64, event.events)
        }
    }

    static let input = EPOLLIN.rawValue
    static let output = EPOLLOUT.rawValue
    static let error = EPOLLERR.rawValue
    static let hangUp = EPOLLHUP.rawValue
    static let peerHangUp = EPOLLRDHUP.rawValue
}
