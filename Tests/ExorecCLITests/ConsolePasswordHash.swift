import ExorecTesting
import Foundation
import Testing

/// `exorec console hash-password`, the password piped on standard input as a user would, for the console's
/// command tests and for the `console.users` of the process tests' configurations.
enum ConsolePasswordHash {
    /// Runs the command with `stdin` and `arguments` (by default a quick `--cost 10`).
    static func run(
        stdin: String,
        _ arguments: [String] = ["--cost", "10"]
    ) async throws -> (status: Int32, output: String, errors: String) {
        try await ExorecProcess.runTool(
            "/bin/bash",
            [
                "-c", "printf '%s' \"$1\" | \"$2\" console hash-password \"${@:3}\"", "sh", stdin,
                ExorecProcess.binaryPath,
            ]
                + arguments
        )
    }

    /// The hash of `password`, for a configuration's `password_hash`.
    static func of(_ password: String) async throws -> String {
        let result = try await Self.run(stdin: password)
        #expect(result.status == 0, "hash-password: \(result.errors)")
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
