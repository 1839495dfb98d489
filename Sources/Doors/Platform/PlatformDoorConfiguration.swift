public import Ingest

/// The platform door: `POST /v1/callbacks/status` for the platform's StatusCallback webhooks
/// (`docs/INGEST.md`, "Status callbacks"; `docs/SECURITY.md`). Loopback by default like the
/// stream door; off (404) until a token is set.
public struct PlatformDoorConfiguration: Sendable, Hashable {
    /// `callbacks.host`: the address to listen on.
    public var host = "127.0.0.1"
    /// `callbacks.port`: 0 picks a free one.
    public var port = 8081
    /// The secret the platform's StatusCallback URL carries as `?token=` (the platform does not
    /// sign callbacks). At least 16 characters from `A-Z a-z 0-9 - . _ ~`, so it goes into the
    /// URL unescaped. nil switches the endpoint off: it answers 404.
    public var token: String?
    /// Source addresses allowed to post, as IPv4/IPv6 CIDR blocks or single addresses; empty
    /// allows every source (the token still applies).
    public var allowedSources: [String] = []
    /// Bodies larger than this are refused with 413. Real callbacks are under 2 KiB.
    public var maxBodyBytes = 64 << 10
    /// How long the answer waits for the sink before it gives up with 503 (the platform
    /// waits 15 s and then retries).
    public var storeTimeoutMs: Int64 = 10_000
    /// `callbacks.tls.certificate` / `callbacks.tls.key`: terminate TLS here (https://).
    public var tls: DoorTLS?
    /// `callbacks.max_connections_per_source` defaults to 64: the platform sends from a few
    /// addresses, each callback a short request.
    public var limits: DoorLimits = {
        var limits = DoorLimits()
        limits.maxConnectionsPerSource = 64
        return limits
    }()

    public init() {}

    /// The token's rule (shared with `api.token`).
    public static func isAcceptableToken(_ token: String) -> Bool {
        (16...256).contains(token.utf8.count)
            && token.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"),
                    UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                    true
                default:
                    false
                }
            }
    }

    /// Checks every setting; each problem names its configuration key.
    public func validate() throws(IngestError) {
        guard (0...65535).contains(self.port) else {
            throw .configuration(key: "callbacks.port", reason: "\(self.port) is not a port number (0-65535)")
        }
        try DoorLimits.validate(host: self.host, key: "callbacks.host")
        if let token = self.token, !Self.isAcceptableToken(token) {
            // The token itself is never echoed: error messages end up in logs.
            throw .configuration(
                key: "callbacks.token",
                reason:
                    "must be 16 to 256 characters from A-Z a-z 0-9 - . _ ~ (it has \(token.utf8.count)); generate one with: openssl rand -hex 24"
            )
        }
        _ = try SourceAllowlist(self.allowedSources)
        guard (1024...(1 << 20)).contains(self.maxBodyBytes) else {
            throw .configuration(key: "callbacks.max_body_bytes", reason: "must be between 1024 and 1048576")
        }
        guard (100...14_000).contains(self.storeTimeoutMs) else {
            throw .configuration(
                key: "callbacks.store_timeout",
                reason: "must be between 100ms and 14s (the platform waits 15 s)"
            )
        }
        try self.limits.validate(prefix: "callbacks")
        if let tls = self.tls {
            guard !tls.certificatePath.isEmpty, !tls.keyPath.isEmpty else {
                throw .configuration(key: "callbacks.tls", reason: "needs both certificate and key (PEM files)")
            }
        }
    }
}
