import ExorecTesting
import Foundation
import Glibc
import Testing

/// ``ChildProcess``, the tests' one way to start a program: output, status, descriptors, errors, cleanup.
@Suite(.timeLimit(.minutes(1))) struct ChildProcessTests {
    /// Opens `/dev/null` `count` times without close-on-exec (a child must not get them all the same),
    /// runs `body`, and closes them.
    static func withOpenDescriptors<T>(_ count: Int, _ body: () async throws -> T) async throws -> T {
        var descriptors: [Int32] = []
        defer { descriptors.forEach { close($0) } }
        for _ in 0..<count {
            let descriptor = open("/dev/null", O_RDONLY)
            try #require(descriptor >= 0, "open /dev/null: \(String(cString: strerror(errno)))")
            descriptors.append(descriptor)
        }
        return try await body()
    }

    /// The descriptors `ls /proc/self/fd` lists in a child: its own, plus the one ls reads the folder with.
    static func childDescriptors() async throws -> [String] {
        let ls = try ChildProcess(executable: "/bin/ls", arguments: ["/proc/self/fd"])
        #expect(try await ls.waitForExit() == 0, "\(ls.standardError)")
        return ls.standardOutput.split(separator: "\n").map(String.init)
    }

    /// Standard output, standard error and the exit code come back.
    @Test func outputAndExitStatusAreCaptured() async throws {
        let child = try ChildProcess(
            executable: "/bin/sh",
            arguments: ["-c", "printf 'out\\n'; printf 'err\\n' >&2; exit 3"]
        )
        #expect(try await child.waitForExit() == 3)
        #expect(child.terminationReason == .exit)
        #expect(!child.isRunning)
        #expect(child.standardOutput == "out\n")
        #expect(child.standardError == "err\n")
    }

    /// A blocking wait gives the same, and more output than a pipe holds (64 KiB) is read whole.
    @Test func aBlockingWaitReadsLargeOutputWhole() async throws {
        let child = try ChildProcess(executable: "/usr/bin/head", arguments: ["-c", "300000", "/dev/zero"])
        let status = try await onThread { child.waitUntilExit() }
        #expect(status == 0)
        #expect(child.standardOutput.utf8.count == 300_000)
    }

    /// Standard input can be a file; by default it is /dev/null.
    @Test func standardInputIsAFileOrNothing() async throws {
        let path = makeTemporaryDirectory("child-input") + "/input.txt"
        try "line one\nline two\n".write(toFile: path, atomically: true, encoding: .utf8)
        let cat = try ChildProcess(executable: "/bin/cat", arguments: [], standardInput: .file(path))
        #expect(try await cat.waitForExit() == 0)
        #expect(cat.standardOutput == "line one\nline two\n")
        let empty = try ChildProcess(executable: "/bin/cat", arguments: [])
        #expect(try await empty.waitForExit() == 0)
        #expect(empty.standardOutput == "")
    }

    /// The child gets exactly the environment given.
    @Test func theEnvironmentIsTheOneGiven() async throws {
        let child = try ChildProcess(executable: "/usr/bin/env", arguments: [], environment: ["ONLY": "this"])
        #expect(try await child.waitForExit() == 0)
        #expect(child.standardOutput == "ONLY=this\n")
    }

    /// A child a signal ended reports the signal; SIGTERM reaches it even when the test runner blocks SIGTERM.
    @Test func aSignalledChildReportsItsSignal() async throws {
        let child = try ChildProcess(executable: "/bin/sleep", arguments: ["30"])
        #expect(child.isRunning)
        child.signal(SIGTERM)
        #expect(try await child.waitForExit(timeout: .seconds(10)) == SIGTERM)
        #expect(child.terminationReason == .uncaughtSignal)
        child.signal(SIGKILL)  // reaped: nothing is sent
        #expect(child.terminationStatus == SIGTERM)
    }

    /// A child still running at the timeout is killed, and the wait throws.
    @Test func aChildStillRunningAtTheTimeoutIsKilled() async throws {
        let child = try ChildProcess(executable: "/bin/sleep", arguments: ["30"])
        await #expect(throws: ChildProcessError.self) { try await child.waitForExit(timeout: .milliseconds(200)) }
        #expect(try await child.waitForExit(timeout: .seconds(10)) == SIGKILL)
        #expect(child.terminationReason == .uncaughtSignal)
    }

    /// The child sees no descriptor of this process beyond 0-2, though 50 more are open here without
    /// close-on-exec.
    @Test func theChildInheritsNoOtherDescriptor() async throws {
        let seen = try await Self.withOpenDescriptors(50) { try await Self.childDescriptors() }
        #expect(Set(seen).isSubset(of: ["0", "1", "2", "3"]), "the child had \(seen)")
        #expect(Set(["0", "1", "2"]).isSubset(of: Set(seen)))
    }

    /// With 2,000 more descriptors open here a child starts as usual: Foundation's `Process` crashed in
    /// that case, listing `/proc/self/fd` (an over-read at the end of `readdir`'s buffer).
    @Test func aChildStartsWithTwoThousandDescriptorsOpen() async throws {
        var limit = rlimit()
        try #require(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0)
        let needed = rlim_t(4_096 + 2_000)
        if limit.rlim_cur < needed {
            try #require(limit.rlim_max >= needed, "the hard RLIMIT_NOFILE (\(limit.rlim_max)) is below \(needed)")
            limit.rlim_cur = needed
            try #require(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0)
        }
        let seen = try await Self.withOpenDescriptors(2_000) {
            for _ in 0..<5 {
                let child = try ChildProcess(executable: "/bin/true", arguments: [])
                #expect(try await child.waitForExit() == 0)
            }
            return try await Self.childDescriptors()
        }
        #expect(Set(seen).isSubset(of: ["0", "1", "2", "3"]), "the child had \(seen)")
    }

    /// A missing executable is an error that names it and says why.
    @Test func aMissingExecutableIsAClearError() throws {
        let path = "/nonexistent/exorec-no-such-program"
        let error = try #require(throws: ChildProcessError.self) {
            try ChildProcess(executable: path, arguments: [])
        }
        #expect(error.description.contains(path))
        #expect(error.description.contains(String(cString: strerror(ENOENT))))
    }

    /// A child still running when its object goes is killed and reaped: no process, no zombie.
    @Test func releasingARunningChildKillsAndReapsIt() throws {
        var pid: pid_t = 0
        do {
            let child = try ChildProcess(executable: "/bin/sleep", arguments: ["30"])
            pid = child.pid
            #expect(child.isRunning)
        }
        #expect(!FileManager.default.fileExists(atPath: "/proc/\(pid)/stat"), "pid \(pid) is still there")
        var status: Int32 = 0
        #expect(waitpid(pid, &status, WNOHANG) == -1 && errno == ECHILD)
    }
}
