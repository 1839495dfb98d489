public import Ingest

/// The internal door: `GET /v1/events`, `GET /v1/media/ID` and `GET /metrics` for consumers on
/// this machine or a private network (`docs/CONSUMERS.md`, `docs/SECURITY.md`). Loopback by default.
public struct InternalDoorConfiguration: Sendable, Hashable {
    /// `api.host`
    public var host = "127.0.0.1"
    /// `api.port`: 0 picks a free one.
    public var port = 8082
    /// The secret readers send as `Authorization: Bearer <token>` (or `?token=`, for clients such as
    /// a browser's EventSource that cannot set headers). nil switches `/v1/events` and `/v1/media`
    /// off (404); `/metrics` then needs no token.
    public var token: String?
    /// The longest `wait` a long poll may ask for.
    public var maxWaitSeconds = 60
    /// A Server-Sent Events stream with nothing to say sends a comment this often.
    public var heartbeatSeconds = 15
    public var limits = DoorLimits()

    public init() {}

    public func validate() throws(IngestError) {
        guard (0...65535).contains(self.port) else {
            throw .configuration(key: "api.port", reason: "\(self.port) is not a port number (0-65535)")
        }
        try DoorLimits.validate(host: self.host, key: "api.host")
        if let token = self.token, !PlatformDoorConfiguration.isAcceptableToken(token) {
            throw .configuration(
                key: "api.token",
                reason:
                    "must be 16 to 256 characters from A-Z a-z 0-9 - . _ ~ (it has \(token.utf8.count)); generate one with: openssl rand -hex 24"
            )
        }
        guard (1...300).contains(self.maxWaitSeconds) else {
            throw .configuration(key: "api.max_wait", reason: "must be between 1 and 300 seconds")
        }
        guard (1...300).contains(self.heartbeatSeconds) else {
            throw .configuration(key: "api.heartbeat", reason: "must be between 1 and 300 seconds")
        }
        try self.limits.validate(prefix: "api")
    }
}
