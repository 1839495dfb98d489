import Foundation
import MediaStore

/// Everything the ingest server can be told. Loopback and authentication on by default.
public struct IngestConfiguration: Sendable, Hashable {
    public var server = WebSocketServerConfiguration()
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
    /// The node this server runs as (`node.id`): it locks the storage root as that node (several nodes may
    /// share a root), marks its sidecars with it and repairs only its own streams at start. nil: the whole
    /// root is locked and every open stream under it is repaired (a server alone on its root).
    public var node: String?
    /// Report the growth of open streams (`IngestEvent.streamsGrew`) each housekeeping round; on
    /// when the internal door's consumer API is, since nobody else reads it.
    public var reportsProgress = false

    public init() {}

    /// Checks the combination of settings; each problem names its configuration key.
    public func validate() throws(IngestError) {
        if self.credentials.isEmpty && !self.authDisabled {
            throw .configuration(
                key: "ingest.auth",
                reason:
                    "no credentials are configured; add ingest.auth.credentials, or set ingest.auth.disabled: true to accept unauthenticated streams"
            )
        }
        if self.credentials.contains(where: { $0.username.isEmpty || $0.username.contains(":") || $0.password.isEmpty })
        {
            throw .configuration(
                key: "ingest.auth.credentials",
                reason: "each credential needs a username without ':' and a non-empty password"
            )
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
        guard self.server.maxPendingConnections >= 1 else {
            throw .configuration(key: "ingest.max_pending_connections", reason: "must be at least 1")
        }
        guard self.server.maxPendingPerSource >= 1 else {
            throw .configuration(key: "ingest.max_pending_per_source", reason: "must be at least 1")
        }
        guard self.server.descriptorReserve >= 16 else {
            throw .configuration(
                key: "ingest.descriptor_reserve",
                reason: "must be at least 16 (finalizing a stream alone needs several)"
            )
        }
        if let tls = self.server.tls {
            try Self.checkPEM(tls.certificatePath, key: "ingest.tls.certificate", marker: "CERTIFICATE-----")
            try Self.checkPEM(tls.privateKeyPath, key: "ingest.tls.key", marker: "PRIVATE KEY-----")
        }
        guard self.idleTimeoutMs >= 1000 else {
            throw .configuration(key: "ingest.idle_timeout", reason: "must be at least 1 second")
        }
        guard (0...5000).contains(self.recorder.reorderWindowMs) else {
            throw .configuration(key: "recording.reorder_window", reason: "must be between 0 and 5 seconds")
        }
        guard (0...(200 - self.server.tickMilliseconds)).contains(self.flushAfterMs) else {
            throw .configuration(
                key: "recording.flush_after",
                reason:
                    "must be between 0 and \(200 - self.server.tickMilliseconds)ms (a crash may lose this much plus one \(self.server.tickMilliseconds)ms tick)"
            )
        }
        guard self.recorder.maxGapMs >= 1000 else {
            throw .configuration(key: "recording.max_gap", reason: "must be at least 1 second")
        }
        guard (60_000...(48 * 3_600_000)).contains(self.recorder.maxDurationMs) else {
            throw .configuration(key: "recording.max_duration", reason: "must be between 1 minute and 48 hours")
        }
    }

    /// A PEM file must be there, readable, and hold a block of the kind `marker` ends (the first
    /// thing libwebsockets would otherwise fail on, with a less clear message).
    private static func checkPEM(_ path: String, key: String, marker: String) throws(IngestError) {
        guard !path.isEmpty else { throw .configuration(key: key, reason: "is empty; give the path of a PEM file") }
        guard let handle = fopen(path, "r") else {
            throw .configuration(key: key, reason: "cannot read '\(path)': \(String(cString: strerror(errno)))")
        }
        defer { fclose(handle) }
        var bytes = [UInt8](repeating: 0, count: 256 << 10)
        let count = fread(&bytes, 1, bytes.count, handle)
        let text = String(decoding: bytes[..<count], as: UTF8.self)
        guard text.contains("-----BEGIN "), text.contains(marker) else {
            throw .configuration(
                key: key,
                reason:
                    "'\(path)' is not a PEM file with a \(marker.dropLast(5).lowercased()) (-----BEGIN ...\(marker))"
            )
        }
    }
}
