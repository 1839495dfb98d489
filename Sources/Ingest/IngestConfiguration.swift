import MediaStore

/// Everything the ingest server can be told. Loopback and authentication on by default.
public struct IngestConfiguration: Sendable, Hashable {
    public var server = WebSocketServer.Configuration()
    /// The WebSocket endpoint the platform's StreamUrl points at.
    public var streamPath = "/v1/streams"
    public var credentials: [BasicAuthenticator.Credential] = []
    /// Accept streams without credentials. Only ever set explicitly (never a default).
    public var authDisabled = false
    /// Upgrades beyond this many open streams are refused with HTTP 503.
    public var maxStreams = 4096
    /// A stream that sends nothing for this long is finished and closed.
    public var idleTimeoutMs: Int64 = 30_000
    public var recorder = StreamRecorder.Configuration()
    /// Buffered audio is written once it is this old (checked every tick, 25 ms): what a `kill -9`
    /// can lose is at most this plus a tick.
    public var flushAfterMs: Int64 = 150
    public var storageRoot = "storage"
    /// Report the growth of open streams (`IngestEvent.streamsGrew`) each housekeeping round; on
    /// when the internal door's consumer API is, since nobody else reads it.
    public var reportsProgress = false

    public init() {}

    /// Checks the combination of settings; each problem names its configuration key.
    public func validate() throws(IngestError) {
        if self.credentials.isEmpty && !self.authDisabled {
            throw .configuration(
                key: "ingest.auth", reason: "no credentials are configured; add ingest.auth.credentials, or set ingest.auth.disabled: true to accept unauthenticated streams")
        }
        if self.credentials.contains(where: { $0.username.isEmpty || $0.username.contains(":") || $0.password.isEmpty }) {
            throw .configuration(key: "ingest.auth.credentials", reason: "each credential needs a username without ':' and a non-empty password")
        }
        guard (0...65535).contains(self.server.port) else {
            throw .configuration(key: "ingest.port", reason: "\(self.server.port) is not a port number (0-65535)")
        }
        guard self.streamPath.hasPrefix("/") else {
            throw .configuration(key: "ingest.stream_path", reason: "'\(self.streamPath)' must start with '/'")
        }
        guard self.maxStreams > 0 else { throw .configuration(key: "ingest.max_streams", reason: "must be at least 1") }
        guard (1024...(64 << 20)).contains(self.server.maxMessageBytes) else {
            throw .configuration(key: "ingest.max_message_bytes", reason: "must be between 1024 and 67108864")
        }
        guard self.idleTimeoutMs >= 1000 else { throw .configuration(key: "ingest.idle_timeout", reason: "must be at least 1 second") }
        guard (0...5000).contains(self.recorder.reorderWindowMs) else {
            throw .configuration(key: "recording.reorder_window", reason: "must be between 0 and 5 seconds")
        }
        guard (0...(200 - self.server.tickMilliseconds)).contains(self.flushAfterMs) else {
            throw .configuration(
                key: "recording.flush_after",
                reason: "must be between 0 and \(200 - self.server.tickMilliseconds)ms (a crash may lose this much plus one \(self.server.tickMilliseconds)ms tick)")
        }
        guard self.recorder.maxGapMs >= 1000 else { throw .configuration(key: "recording.max_gap", reason: "must be at least 1 second") }
    }
}
