import Foundation
import Glibc
import Synchronization

/// Unbuffered writes to standard output: a parent process waiting for "listening on" sees the line
/// at once, even through a pipe (Glibc's `stdout` is a C global Swift 6 will not touch).
enum StandardOutput {
    static func line(_ text: String) {
        writeLine(text, to: 1)
    }

    /// `value` as one line of JSON with sorted keys: what every command's `--json` prints.
    static func json(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        line(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}

/// Unbuffered lines on standard error: progress and problems, kept apart from results on standard output.
enum StandardError {
    static func line(_ text: String) {
        writeLine(text, to: 2)
    }

    /// `text` as it is, without a newline (a progress bar redrawn with `\r`).
    static func write(_ text: String) {
        writeAll(text, to: 2)
    }
}

/// Writes `text` and a newline to `descriptor`, all of it (a pipe may take it in pieces).
private func writeLine(_ text: String, to descriptor: Int32) {
    writeAll(text + "\n", to: descriptor)
}

private func writeAll(_ text: String, to descriptor: Int32) {
    let bytes = Array(text.utf8)
    bytes.withUnsafeBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let n = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            if n <= 0 { return }
            offset += n
        }
    }
}

/// `[#####.....] 12/40 files, 1.2/3.4 MB` on standard error, redrawn in place at most every 100 ms (and
/// always at the end): the progress of `verify`, `export` and `retention apply`. Draws only when standard
/// error is a terminal and the user did not ask for quiet; otherwise every call does nothing.
final class TerminalProgressBar: Sendable {
    private let enabled: Bool
    private let lastDraw = Mutex<ContinuousClock.Instant?>(nil)

    init(unlessQuiet quiet: Bool) {
        self.enabled = !quiet && isatty(2) == 1
    }

    /// Runs `body`, then ends the bar's line on every path, so that what is printed next starts on its own line.
    func running<R>(_ body: () async throws -> R) async throws -> R {
        defer { if self.enabled { StandardError.write("\n") } }
        return try await body()
    }

    /// Draws `done` of `total`, then `detail` (built only when the bar is drawn).
    func show(done: Int, of total: Int, _ detail: @autoclosure () -> String) {
        guard self.enabled else { return }
        let now = ContinuousClock.now
        let due = self.lastDraw.withLock { last in
            guard done == total || last.map({ now - $0 >= .milliseconds(100) }) ?? true else { return false }
            last = now
            return true
        }
        guard due else { return }
        let width = 30
        let filled = total == 0 ? width : Int(Double(done) / Double(total) * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        StandardError.write("\r[\(bar)] \(done)/\(total) \(detail())")
    }

    /// Files done of the total, with their sizes: `12/40 files, 1.2/3.4 MB`.
    func show(files done: Int, of total: Int, bytes bytesDone: Int64, of bytesTotal: Int64) {
        self.show(done: done, of: total, "files, \(Self.megabytes(bytesDone))/\(Self.megabytes(bytesTotal)) MB")
    }

    private static func megabytes(_ bytes: Int64) -> String { String(format: "%.1f", Double(bytes) / 1_000_000) }
}
