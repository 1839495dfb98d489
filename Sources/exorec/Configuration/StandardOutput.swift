import Glibc

/// Unbuffered writes to standard output: a parent process waiting for "listening on" sees the line
/// at once, even through a pipe (Glibc's `stdout` is a C global Swift 6 will not touch).
enum StandardOutput {
    static func line(_ text: String) {
        writeLine(text, to: 1)
    }
}

/// Unbuffered lines on standard error: progress and problems, kept apart from results on standard output.
enum StandardError {
    static func line(_ text: String) {
        writeLine(text, to: 2)
    }
}

/// Writes `text` and a newline to `descriptor`, all of it (a pipe may take it in pieces).
private func writeLine(_ text: String, to descriptor: Int32) {
    let bytes = Array((text + "\n").utf8)
    bytes.withUnsafeBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let n = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            if n <= 0 { return }
            offset += n
        }
    }
}
