import Glibc

/// Unbuffered writes to standard output: a parent process waiting for "listening on" sees the line
/// at once, even through a pipe (Glibc's `stdout` is a C global Swift 6 will not touch).
enum StandardOutput {
    static func line(_ text: String) {
        let bytes = Array((text + "\n").utf8)
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(1, buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 { return }
                offset += n
            }
        }
    }
}

/// Unbuffered lines on standard error: progress and problems, kept apart from results on standard output.
enum StandardError {
    static func line(_ text: String) {
        let bytes = Array((text + "\n").utf8)
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 { return }
                offset += n
            }
        }
    }

    /// True when standard error is a terminal (progress lines are for people).
    static var isTerminal: Bool { isatty(2) == 1 }
}
