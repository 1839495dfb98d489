/// Why one stream did not complete; counted in the report, never thrown.
public enum StreamFailure: Sendable, Hashable, CustomStringConvertible {
    /// The server answered the upgrade with this HTTP status (401, 403, 503…).
    case refused(status: Int)
    /// The connection or upgrade failed before the server answered (refused, reset, timeout, not HTTP).
    case handshake(String)
    /// The server closed the connection (with this close code, if it sent one) before `stop` was delivered.
    case closedEarly(code: UInt16?)
    /// After `stop` was sent, the server closed with a code other than 1000 (normal closure).
    case abnormalClose(code: UInt16)
    /// The socket failed while streaming.
    case socket(String)
    /// The server sent something RFC 6455 forbids.
    case protocolViolation(String)
    /// `stop` was delivered but the server neither closed nor answered the close frame in time.
    case closeTimeout
    /// The server stopped reading for longer than the stall limit.
    case stalled

    /// Whether the stream never got past the upgrade.
    public var isHandshakeFailure: Bool {
        switch self {
        case .refused, .handshake: true
        default: false
        }
    }

    /// A label without per-stream values, so that failures aggregate in the report.
    public var description: String {
        switch self {
        case .refused(let status): "upgrade refused: HTTP \(status)"
        case .handshake(let reason): "handshake failed: \(reason)"
        case .closedEarly(let code?): "server closed the stream early (close code \(code))"
        case .closedEarly(nil): "server closed the stream early"
        case .abnormalClose(let code): "server closed with code \(code) after stop"
        case .socket(let reason): "socket error: \(reason)"
        case .protocolViolation(let reason): "protocol violation: \(reason)"
        case .closeTimeout: "no close from the server after stop"
        case .stalled: "server stopped reading"
        }
    }
}
