/// Which leg of the call a media frame carries.
///
/// The documented protocol has no track field (a single mixed mono stream); some platform pages describe an
/// optional `track` on every message. When it is present it selects the channel of a dual-channel recording.
public enum Track: String, Sendable, Hashable, Codable {
    /// The first leg (the caller, `From`).
    case inbound
    /// The second leg (`To`).
    case outbound

    /// The channel index in a dual-channel file: `inbound` is channel 0, `outbound` channel 1.
    public var channel: Int { self == .inbound ? 0 : 1 }
}
