import Foundation
import Synchronization

/// The built `exorec` binary run as a child process, the way users and the platform see it.
public final class ExorecProcess: Sendable {
    /// `EXOREC_BINARY`, or `.build/debug/exorec` beside the package.
    public static var binaryPath: String {
        if let path = ProcessInfo.processInfo.environment["EXOREC_BINARY"] { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/exorec").path
    }

    /// Text a pipe delivered so far; appended from the pipe's handler thread.
    private final class Collected: Sendable {
        let text = Mutex<String>("")
        /// The pipe reached its end (the writer closed it: the process exited).
        let ended = Mutex(false)
    }

    private let process: Process
    private let output = Collected()
    private let errors = Collected()

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
        self.process = Process()
        self.process.executableURL = URL(fileURLWithPath: executable)
        self.process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        self.process.environment = env
        let out = Pipe()
        let err = Pipe()
        self.process.standardOutput = out
        self.process.standardError = err
        // One reading thread per pipe, blocking until data or the end: readability handlers could report
        // an end early under load and drop the rest of the output.
        Self.collect(out.fileHandleForReading, into: self.output)
        Self.collect(err.fileHandleForReading, into: self.errors)
        try self.process.run()
    }

    private static func collect(_ handle: FileHandle, into collected: Collected) {
        let thread = Thread {
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                collected.text.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
            // Closed here, not left to the handle's deallocation: Foundation's `Process` and `Pipe` outlive
            // the run (a test pass leaked hundreds of pipe ends), and `Process.run` on Linux lists
            // `/proc/self/fd` to close every descriptor in the child: with ~1,400 open it crashed in there
            // (an over-read of a directory entry at the end of its buffer).
            try? handle.close()
            collected.ended.withLock { $0 = true }
        }
        thread.start()
    }

    /// A test that fails before it stops its process must not leave it running (holding ports, and
    /// with signals its test runner blocked, perhaps deaf to SIGTERM): it is killed with the object.
    deinit {
        if self.process.isRunning { kill(self.process.processIdentifier, SIGKILL) }
    }

    public var standardOutput: String { self.output.text.withLock { $0 } }
    public var standardError: String { self.errors.text.withLock { $0 } }
    public var pid: Int32 { self.process.processIdentifier }
    public var isRunning: Bool { self.process.isRunning }

    /// Waits for "platform door on HOST:PORT" (`door` = `platform`) or "internal door on HOST:PORT"
    /// (`internal`) and returns the port.
    public func waitForDoor(_ door: String, timeout: Duration = .seconds(60)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = self.standardOutput.split(separator: "\n").first(where: { $0.contains("\(door) door on") }),
                let port = Int(line.split(separator: ":").last ?? "")
            {
                return port
            }
            guard self.process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("exorec did not open its \(door) door; stderr: \(self.standardError)")
    }

    /// Waits for "listening on HOST:PORT" and returns the port.
    public func waitForListening(timeout: Duration = .seconds(60)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = self.standardOutput.split(separator: "\n").first(where: { $0.contains("listening on") }),
                let port = Int(line.split(separator: ":").last ?? "")
            {
                return port
            }
            guard self.process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("exorec did not start listening; stderr: \(self.standardError)")
    }

    public func signal(_ signal: Int32) { kill(self.process.processIdentifier, signal) }

    /// Waits for the process to exit and returns its status.
    public func waitForExit(timeout: Duration = .seconds(60)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while self.process.isRunning {
            guard ContinuousClock.now < deadline else {
                self.signal(SIGKILL)
                throw TestFailure("exorec did not exit in time; stderr: \(self.standardError)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        // Let the pipe handlers drain what is left: all of it (a loaded machine may take a while to
        // run them), unless a child the process left behind holds a pipe open.
        let drained = ContinuousClock.now + .seconds(10)
        while !(self.output.ended.withLock { $0 } && self.errors.ended.withLock { $0 }), ContinuousClock.now < drained {
            try await Task.sleep(for: .milliseconds(10))
        }
        return self.process.terminationStatus
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
