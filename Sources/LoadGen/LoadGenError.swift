@preconcurrency import Glibc

/// Everything that stops a load run before or outside the streams themselves.
///
/// A stream that fails (a refused upgrade, an early close) is not an error: it is counted in the
/// ``LoadReport``. These are the setup failures that make the run itself impossible.
public enum LoadGenError: Error, Equatable, CustomStringConvertible {
    case invalidURL(String, reason: String)
    case cannotResolve(host: String, reason: String)
    case descriptorLimit(needed: Int, hardLimit: Int)
    case system(call: String, errno: Int32)
    case invalidRunID(String)

    /// A stable, value-free name for `--json` output.
    public var code: String {
        switch self {
        case .invalidURL: "loadgen.url"
        case .cannotResolve: "loadgen.resolve"
        case .descriptorLimit: "loadgen.descriptors"
        case .system: "loadgen.system"
        case .invalidRunID: "loadgen.run-id"
        }
    }

    public var description: String {
        switch self {
        case .invalidURL(let url, let reason):
            "cannot use '\(url)' as the stream URL: \(reason)"
        case .cannotResolve(let host, let reason):
            "cannot resolve '\(host)': \(reason)"
        case .descriptorLimit(let needed, let hardLimit):
            "the run needs \(needed) file descriptors but the hard limit is \(hardLimit); raise it (ulimit -Hn) or use fewer streams"
        case .system(let call, let code):
            "\(call) failed: \(String(cString: strerror(code))) (errno \(code))"
        case .invalidRunID(let value):
            "run id '\(value)' must be 1 to 16 hexadecimal digits"
        }
    }
}
