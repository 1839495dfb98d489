internal import CSystemShims
import Foundation
import Glibc
import Synchronization

/// A program started with `posix_spawn`: the only code in exorec that spawns a process.
///
/// Foundation's `Process` is not used: on Linux it lists `/proc/self/fd` to close every inherited
/// descriptor in the child, and that listing copies a whole directory entry past the end of
/// `readdir`'s buffer; with ~1,300 descriptors open in a test pass it crashed (SIGSEGV in `memcpy`
/// under `Process.run()`). Here the child closes everything above 2 itself
/// (`posix_spawn_file_actions_addclosefrom_np`), and this process's own pipe ends are close-on-exec,
/// so a child spawned by another thread meanwhile does not inherit them either.
///
/// The child starts in a process group of its own (a test runner's Ctrl-C does not reach it), with
/// no signal blocked and SIGTERM, SIGINT, SIGHUP and SIGQUIT at their defaults, as from a shell:
/// the test runner blocks SIGTERM, and a blocked signal would otherwise be inherited.
///
/// Captured output is read by one thread per pipe until the end, whatever the caller does, so a
/// child never blocks on a full pipe; the reading end is closed there. The child is reaped once
/// (`waitpid` under a lock, its status kept); a child still running when the object goes is killed
/// (SIGKILL) and reaped, so a failed test leaves neither a running program nor a zombie behind.
///
/// ```swift
/// let child = try ChildProcess(executable: "/usr/bin/sqlite3", arguments: [path, "SELECT 1;"])
/// let status = try await child.waitForExit()
/// #expect(status == 0 && child.standardOutput == "1\n")
/// ```
public final class ChildProcess: Sendable {
    /// What the child reads as its standard input.
    public enum Input: Sendable, Hashable {
        /// `/dev/null` (what Foundation's `Process` gave when none was set).
        case nullDevice
        /// A file, opened for reading in the child.
        case file(String)
    }

    /// Where the child's standard output or error goes.
    public enum Output: Sendable, Hashable {
        /// A pipe read into ``standardOutput`` or ``standardError``.
        case capture
        /// `/dev/null`.
        case nullDevice
    }

    /// How the child ended, as Foundation's `Process.TerminationReason`.
    public enum TerminationReason: Sendable, Hashable {
        case exit
        case uncaughtSignal
    }

    /// The executable's path, as given.
    public let executable: String
    /// The child's process id (also its process group's).
    public let pid: Int32
    /// The raw `waitpid` status once the child is reaped; read and set only under the lock, so the
    /// child is reaped once and never signalled after (its pid may then belong to another process).
    private let waitStatus = Mutex<Int32?>(nil)
    private let output: CapturedOutput?
    private let errors: CapturedOutput?

    /// Starts `executable` (a path; no search of PATH) with `arguments` (not including the program's
    /// name) and exactly `environment`.
    ///
    /// - Throws: ``ChildProcessError`` naming the executable and the failed call with errno's text,
    ///   for example when the executable does not exist.
    public init(
        executable: String,
        arguments: [String],
        environment: [String: String] = ProcessInfo.processInfo.environment,
        standardInput: Input = .nullDevice,
        standardOutput: Output = .capture,
        standardError: Output = .capture
    ) throws {
        self.executable = executable
        var pipes: [Int32: (read: Int32, write: Int32)] = [:]
        // Every descriptor this initializer opened is closed on every path out of it but the
        // reading ends, which the reading threads own once the child runs.
        var handedOver = false
        defer {
            for pipe in pipes.values {
                close(pipe.write)
                if !handedOver { close(pipe.read) }
            }
        }
        for (target, output) in [(STDOUT_FILENO, standardOutput), (STDERR_FILENO, standardError)]
        where output == .capture {
            var ends: [Int32] = [-1, -1]
            guard pipe2(&ends, O_CLOEXEC) == 0 else {
                throw ChildProcessError(executable: executable, call: "pipe2", code: errno)
            }
            pipes[target] = (ends[0], ends[1])
        }

        var actions = posix_spawn_file_actions_t()
        try Self.check(posix_spawn_file_actions_init(&actions), "posix_spawn_file_actions_init", executable)
        defer { posix_spawn_file_actions_destroy(&actions) }
        switch standardInput {
        case .nullDevice:
            try Self.check(
                posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0),
                "posix_spawn_file_actions_addopen",
                executable
            )
        case .file(let path):
            try Self.check(
                posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, path, O_RDONLY, 0),
                "posix_spawn_file_actions_addopen",
                executable
            )
        }
        for target in [STDOUT_FILENO, STDERR_FILENO] {
            if let pipe = pipes[target] {
                // dup2 clears close-on-exec on the child's copy.
                try Self.check(
                    posix_spawn_file_actions_adddup2(&actions, pipe.write, target),
                    "posix_spawn_file_actions_adddup2",
                    executable
                )
            } else {
                try Self.check(
                    posix_spawn_file_actions_addopen(&actions, target, "/dev/null", O_WRONLY, 0),
                    "posix_spawn_file_actions_addopen",
                    executable
                )
            }
        }
        try Self.check(
            posix_spawn_file_actions_addclosefrom_np(&actions, 3),
            "posix_spawn_file_actions_addclosefrom_np",
            executable
        )

        var attributes = posix_spawnattr_t()
        try Self.check(posix_spawnattr_init(&attributes), "posix_spawnattr_init", executable)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT] { sigaddset(&defaultSignals, signal) }
        try Self.check(posix_spawnattr_setsigmask(&attributes, &noSignals), "posix_spawnattr_setsigmask", executable)
        try Self.check(
            posix_spawnattr_setsigdefault(&attributes, &defaultSignals),
            "posix_spawnattr_setsigdefault",
            executable
        )
        try Self.check(posix_spawnattr_setpgroup(&attributes, 0), "posix_spawnattr_setpgroup", executable)
        try Self.check(
            posix_spawnattr_setflags(
                &attributes,
                Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
            ),
            "posix_spawnattr_setflags",
            executable
        )

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        // glibc reports a failed exec (a missing executable) from posix_spawn itself.
        try Self.check(posix_spawn(&pid, executable, &actions, &attributes, argv, envp), "posix_spawn", executable)
        self.pid = pid
        handedOver = true
        self.output = pipes[STDOUT_FILENO].map { CapturedOutput(reading: $0.read) }
        self.errors = pipes[STDERR_FILENO].map { CapturedOutput(reading: $0.read) }
    }

    private static func check(_ result: Int32, _ call: String, _ executable: String) throws {
        guard result == 0 else { throw ChildProcessError(executable: executable, call: call, code: result) }
    }

    /// A child still running is killed and reaped: no test leaves a program holding ports, or a zombie.
    deinit {
        if self.reap() == nil {
            kill(self.pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(self.pid, &status, 0) == -1 && errno == EINTR {}
        }
    }

    /// Reaps the child if it has exited (without waiting); returns its raw wait status, or nil while it runs.
    private func reap() -> Int32? {
        self.waitStatus.withLock { waitStatus in
            if let waitStatus { return waitStatus }
            var status: Int32 = 0
            while true {
                let result = waitpid(self.pid, &status, WNOHANG)
                if result == self.pid {
                    waitStatus = status
                    return status
                }
                if result == 0 { return nil }
                guard errno == EINTR else {
                    // ECHILD: something else reaped our child (or SIGCHLD is ignored); its status is lost.
                    preconditionFailure(
                        "waitpid(\(self.pid)) for \(self.executable): \(String(cString: strerror(errno)))"
                    )
                }
            }
        }
    }

    /// Whether the child has not exited yet (reaps it when it has).
    public var isRunning: Bool { self.reap() == nil }

    /// The exit code, or for a child a signal ended, the signal's number (see ``terminationReason``).
    /// - Precondition: the child has exited (``isRunning`` is false, or a wait returned).
    public var terminationStatus: Int32 {
        let status = self.exitedStatus()
        return Self.signalNumber(status) == 0 ? (status >> 8) & 0xff : Self.signalNumber(status)
    }

    /// Whether the child exited or a signal ended it.
    /// - Precondition: the child has exited.
    public var terminationReason: TerminationReason {
        Self.signalNumber(self.exitedStatus()) == 0 ? .exit : .uncaughtSignal
    }

    private func exitedStatus() -> Int32 {
        guard let status = self.reap() else {
            preconditionFailure("\(self.executable) (pid \(self.pid)) is still running")
        }
        return status
    }

    /// WTERMSIG: the signal that ended the child, 0 if it exited (stopped children are not waited for).
    private static func signalNumber(_ status: Int32) -> Int32 { status & 0x7f }

    /// Sends `signal` to the child, if it has not been reaped (its pid could be another process's by then).
    public func signal(_ signal: Int32) {
        self.waitStatus.withLock { waitStatus in
            if waitStatus == nil { kill(self.pid, signal) }
        }
    }

    /// What the child wrote to its standard output so far ("" unless it is captured).
    public var standardOutput: String { self.output?.text ?? "" }
    /// What the child wrote to its standard error so far ("" unless it is captured).
    public var standardError: String { self.errors?.text ?? "" }

    /// Waits without blocking a thread (polling every 20 ms) for the child to exit, then for its captured
    /// output to reach its end, and returns ``terminationStatus``.
    ///
    /// The output gets up to 10 s more: a loaded machine may take a while to run the reading threads,
    /// and a grandchild the child left behind may hold a pipe open.
    ///
    /// - Throws: ``ChildProcessError`` when the child is still running after `timeout`; it is then
    ///   killed (SIGKILL). `CancellationError` when the task is cancelled (the child keeps running).
    public func waitForExit(timeout: Duration = .seconds(60)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while self.isRunning {
            guard ContinuousClock.now < deadline else {
                self.signal(SIGKILL)
                throw ChildProcessError(executable: self.executable, timedOutAfter: timeout)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let drained = ContinuousClock.now + .seconds(10)
        while !self.outputEnded, ContinuousClock.now < drained {
            try await Task.sleep(for: .milliseconds(10))
        }
        return self.terminationStatus
    }

    /// Blocks the calling thread until the child exits and its captured output ends (up to 10 s more,
    /// as ``waitForExit(timeout:)``); returns ``terminationStatus``. For code already on a thread of its
    /// own, never on Swift concurrency's few shared threads.
    @discardableResult
    public func waitUntilExit() -> Int32 {
        // WNOWAIT: block until the child has exited without reaping it, so the pid stays the child's
        // and the one reap happens under the lock.
        var info = siginfo_t()
        while waitid(P_PID, id_t(self.pid), &info, WEXITED | WNOWAIT) == -1 && errno == EINTR {}
        let drained = ContinuousClock.now + .seconds(10)
        while !self.outputEnded, ContinuousClock.now < drained { usleep(10_000) }
        return self.terminationStatus
    }

    private var outputEnded: Bool { (self.output?.ended ?? true) && (self.errors?.ended ?? true) }
}

/// A pipe's reading end and what came through it, read by a thread of its own until the end.
private final class CapturedOutput: Sendable {
    private let bytes = Mutex<[UInt8]>([])
    private let atEnd = Atomic<Bool>(false)

    /// Starts the reading thread, which owns `descriptor` and closes it at the end (or on an error).
    init(reading descriptor: Int32) {
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count > 0 {
                    self.bytes.withLock { $0 += buffer[0..<count] }
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            close(descriptor)
            self.atEnd.store(true, ordering: .releasing)
        }
        thread.start()
    }

    /// The bytes so far as UTF-8 (decoded as a whole, so a character split between reads stays whole).
    var text: String { self.bytes.withLock { String(decoding: $0, as: UTF8.self) } }
    /// The writing end closed (the child and any child of its that held it exited).
    var ended: Bool { self.atEnd.load(ordering: .acquiring) }
}

/// A child could not be started, or did not exit in time.
public struct ChildProcessError: Error, CustomStringConvertible {
    public let description: String

    init(executable: String, call: String, code: Int32) {
        self.description = "cannot start \(executable): \(String(cString: strerror(code))) (\(call), errno \(code))"
    }

    init(executable: String, timedOutAfter timeout: Duration) {
        self.description = "\(executable) did not exit within \(timeout); it was killed"
    }
}
