import ArgumentParser
import Console
import Foundation
import Glibc

/// `exorec console`: the web console's helpers (docs/CONSOLE.md).
struct ConsoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Helpers for the compliance web console (served on the internal door under /console/).",
        discussion: """
            The console's users are listed in the configuration (console.users: name, role, \
            password_hash). This command makes the hash to paste there.

            EXAMPLES:
              exorec console hash-password
              printf '%s' "$PASSWORD" | exorec console hash-password
            """,
        subcommands: [HashPassword.self]
    )

    struct HashPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hash-password",
            abstract:
                "Read a password (from the terminal without echo, or from stdin) and print its salted scrypt hash.",
            discussion: """
                On a terminal the password is asked twice, without echo. Otherwise stdin is read to its \
                end (one trailing newline is dropped). The hash goes to stdout, nothing else does.

                EXIT CODES: 0 printed; 1 could not read or hash; 64 usage error (empty password, mismatch, \
                shorter than 8 characters).

                EXAMPLES:
                  exorec console hash-password
                  printf '%s' "$PASSWORD" | exorec console hash-password
                """
        )

        @Option(
            name: .long,
            help: ArgumentHelp("scrypt cost as log2(N), 10-20 (default 15: 32 MiB, ~0.1 s).", valueName: "n")
        )
        var cost: Int = PasswordHash.defaultLogN

        func validate() throws {
            guard (10...20).contains(self.cost) else { throw ValidationError("--cost must be between 10 and 20.") }
        }

        func run() async throws {
            let password: String
            if isatty(STDIN_FILENO) == 1 {
                guard let first = Self.readHidden(prompt: "Password: "),
                    let second = Self.readHidden(prompt: "Again: ")
                else { throw ExitCode(1) }
                guard first == second else { throw ValidationError("the two passwords differ.") }
                password = first
            } else {
                var text = String(decoding: FileHandle.standardInput.readDataToEndOfFile().prefix(4096), as: UTF8.self)
                if text.hasSuffix("\n") { text.removeLast() }
                if text.hasSuffix("\r") { text.removeLast() }
                password = text
            }
            guard password.count >= 8 else { throw ValidationError("the password must have at least 8 characters.") }
            let hash = try PasswordHash.make(password: password, logN: self.cost)
            print(hash.description)
        }

        /// One line from the terminal with echo off (restored afterwards, also on a signal-free error).
        static func readHidden(prompt: String) -> String? {
            FileHandle.standardError.write(Data(prompt.utf8))
            var saved = termios()
            let hasTerminal = tcgetattr(STDIN_FILENO, &saved) == 0
            if hasTerminal {
                var quiet = saved
                quiet.c_lflag &= ~tcflag_t(ECHO)
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
            }
            defer {
                if hasTerminal { tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved) }
                FileHandle.standardError.write(Data("\n".utf8))
            }
            return readLine(strippingNewline: true)
        }
    }
}
