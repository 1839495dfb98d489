import Foundation

/// The built `exorec` binary run as a child process, the way users and the platform see it.
public final class ExorecProcess: Sendable {
    /// `EXOREC_BINARY`, or `.build/debug/exorec` beside the package.
    public static var binaryPath: String {
        if let path = ProcessInfo.processInfo.environment["EXOREC_BINARY"] { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/exorec").path
    }

    private let child: ChildProcess

    /// Starts `exorec` with `arguments`.
    ///
    /// - Parameter descriptorLimit: the soft and hard `RLIMIT_NOFILE` the process starts with (set
    ///   by `prlimit`, which then executes `exorec` in the same process).
    public convenience init(
        _ arguments: [String],
        environment: [String: String] = [:],
        descriptorLimit: Int? = nil
    ) throws {
        if let descriptorLimit {
            try self.init(
                executable: "/usr/bin/prlimit",
                ["--nofile=\(descriptorLimit):\(descriptorLimit)", Self.binaryPath] + arguments,
                environment: environment
            )
        } else {
            try self.init(executable: Self.binaryPath, arguments, environment: environment)
        }
    }

    /// Starts another program (curl, openssl) the same way, its output collected alike.
    public init(executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        // A test that fails before it stops its process does not leave it running (holding ports): the
        // child is killed with this object.
        self.child = try ChildProcess(executable: executable, arguments: arguments, environment: env)
    }

    public var standardOutput: String { self.child.standardOutput }
    public var standardError: String { self.child.standardError }
    public var pid: Int32 { self.child.pid }
    public var isRunning: Bool { self.child.isRunning }

    /// Waits for "platform door on HOST:PORT" (`door` = `platform`) or "internal door on HOST:PORT"
    /// (`internal`) and returns the port.
    public func waitForDoor(_ door: String, timeout: Duration = .seconds(60)) async throws -> Int {
        try await self.waitForPort(logged: "\(door) door on", timeout: timeout, what: "open its \(door) door")
    }

    /// Waits for "listening on HOST:PORT" and returns the port.
    public func waitForListening(timeout: Duration = .seconds(60)) async throws -> Int {
        try await self.waitForPort(logged: "listening on", timeout: timeout, what: "start listening")
    }

    /// The port at the end of the first output line containing `marker`, once it is there.
    private func waitForPort(logged marker: String, timeout: Duration, what: String) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = self.standardOutput.split(separator: "\n").first(where: { $0.contains(marker) }),
                let port = Int(line.split(separator: ":").last ?? "")
            {
                return port
            }
            guard self.child.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("exorec did not \(what); stderr: \(self.standardError)")
    }

    public func signal(_ signal: Int32) { self.child.signal(signal) }

    /// Waits for the process to exit and returns its status.
    public func waitForExit(timeout: Duration = .seconds(60)) async throws -> Int32 {
        do {
            return try await self.child.waitForExit(timeout: timeout)
        } catch is ChildProcessError {
            throw TestFailure("exorec did not exit in time; stderr: \(self.standardError)")
        }
    }

    /// Runs `exorec` to completion; returns (status, stdout, stderr).
    public static func run(
        _ arguments: [String],
        environment: [String: String] = [:]
    ) async throws -> (status: Int32, output: String, errors: String) {
        let process = try ExorecProcess(arguments, environment: environment)
        let status = try await process.waitForExit()
        return (status, process.standardOutput, process.standardError)
    }

    /// Runs another program (`/usr/bin/curl`, `/usr/bin/openssl`) to its end.
    public static func runTool(
        _ executable: String,
        _ arguments: [String]
    ) async throws -> (status: Int32, output: String, errors: String) {
        let process = try ExorecProcess(executable: executable, arguments)
        let status = try await process.waitForExit()
        return (status, process.standardOutput, process.standardError)
    }
}
