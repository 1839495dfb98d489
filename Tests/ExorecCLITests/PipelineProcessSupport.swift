import ExorecTesting
import Foundation
import Glibc

/// Helpers of the multi-process pipeline tests: ports, plain HTTP, the catalog read with the `sqlite3` tool and
/// files hashed with `sha256sum` (readers that are not exorec's code).
enum PipelineProcess {
    /// A port that was free a moment ago on 127.0.0.1 (the server that needs it is started at once).
    static func freeLoopbackPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw TestFailure("bind: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw TestFailure("getsockname: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// `GET path` on 127.0.0.1:`port` (HTTP/1.1, `Connection: close`); returns the status and the body.
    static func get(port: Int, path: String, user: String, password: String) throws -> (status: Int, body: String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw TestFailure("connect to 127.0.0.1:\(port): errno \(errno)") }
        let credentials = Data("\(user):\(password)".utf8).base64EncodedString()
        let request = Array(
            "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAuthorization: Basic \(credentials)\r\nConnection: close\r\n\r\n"
                .utf8
        )
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if count <= 0 { break }
            response += chunk[0..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return (status, body)
    }

    /// The full path of `name` on PATH, or nil.
    static func locate(_ name: String) -> String? {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs a tool to completion and returns its standard output (throws on a non-zero exit). The wait polls, and
    /// does not block one of the few threads Swift concurrency shares with every other test.
    static func run(_ tool: String, _ arguments: [String]) async throws -> String {
        guard let path = Self.locate(tool) else { throw TestFailure("\(tool) is not installed") }
        let process = try ChildProcess(executable: path, arguments: arguments)
        let status = try await process.waitForExit(timeout: .seconds(600))
        guard status == 0 else {
            throw TestFailure("\(tool) \(arguments) exited \(status): \(process.standardError)")
        }
        return process.standardOutput
    }

    /// Rows of a query on a SQLite file, read by the `sqlite3` tool (read-only), cells split on `|`.
    static func query(_ database: String, _ sql: String) async throws -> [[String]] {
        try await Self.run("sqlite3", ["-readonly", "-separator", "|", database, sql])
            .split(separator: "\n", omittingEmptySubsequences: true)
            .map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
    }

    /// The SHA-256 of a file as `sha256sum` computes it.
    static func sha256(_ path: String) async throws -> String {
        String(try await Self.run("sha256sum", [path]).prefix(64))
    }

    static func isReadOnly(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        return info.st_mode & 0o222 == 0
    }

    /// Polls `condition` until it holds; throws after `timeout` (a bound on a hang, not on speed).
    static func eventually(
        _ what: @autoclosure () -> String,
        timeout: Duration = .seconds(120),
        _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            if try await condition() { return }
            guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting for \(what())") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// `call=<sid>` values of the log lines that contain `message`.
    static func loggedCallSids(_ log: String, message: String) -> [String] {
        log.split(separator: "\n").filter { $0.contains(message) }.compactMap { line in
            guard let range = line.range(of: "call=") else { return nil }
            return String(line[range.upperBound...].prefix { $0.isLetter || $0.isNumber })
        }
    }
}
