import Synchronization

/// The ingest server's counters, in Prometheus text format on `GET /metrics`.
///
/// Plain integers confined to the service thread: the per-frame path adds to them without atomics
/// or locks. Each housekeeping round copies them into an ``IngestMetricsSnapshot``, which the
/// internal door's `/metrics` reads from its own threads.
public struct IngestMetrics: Sendable {
    public var activeStreams = 0
    public var openConnections = 0
    public var streamsStarted = 0
    public var streamsFinished: [String: Int] = [:]
    public var mediaFrames = 0
    public var audioBytes = 0
    public var messages = 0
    public var gaps = 0
    public var gapMilliseconds = 0
    public var duplicates = 0
    public var lateFrames = 0
    public var unknownEvents = 0
    public var errors: [String: Int] = [:]
    public var rejectedUpgrades: [String: Int] = [:]
    /// Sockets closed right after accept, before anything was read, by ``ConnectionRefusal`` reason.
    public var refusedConnections: [String: Int] = [:]
    /// Sockets the stream door holds, and how many of them have not completed an upgrade.
    public var sockets = 0
    public var pendingConnections = 0
    public var finalizeFailures = 0
    public init() {}

    public func prometheusText() -> String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: Int)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for sample in samples {
                out +=
                    sample.labels.isEmpty ? "\(name) \(sample.value)\n" : "\(name){\(sample.labels)} \(sample.value)\n"
            }
        }
        func labelled(_ key: String, _ values: [String: Int]) -> [(labels: String, value: Int)] {
            values.sorted { $0.key < $1.key }.map { ("\(key)=\"\($0.key)\"", $0.value) }
        }
        metric("exorec_ingest_active_streams", "gauge", "Streams currently being recorded.", [("", self.activeStreams)])
        metric("exorec_ingest_open_connections", "gauge", "Open WebSocket connections.", [("", self.openConnections)])
        metric(
            "exorec_ingest_streams_started_total",
            "counter",
            "Streams whose start event was accepted.",
            [("", self.streamsStarted)]
        )
        metric(
            "exorec_ingest_streams_finished_total",
            "counter",
            "Streams finished, by close reason.",
            labelled("reason", self.streamsFinished)
        )
        metric("exorec_ingest_messages_total", "counter", "WebSocket messages received.", [("", self.messages)])
        metric(
            "exorec_ingest_media_frames_total",
            "counter",
            "Media frames decoded and placed.",
            [("", self.mediaFrames)]
        )
        metric("exorec_ingest_audio_bytes_total", "counter", "Decoded PCM bytes received.", [("", self.audioBytes)])
        metric(
            "exorec_ingest_gaps_total",
            "counter",
            "Gaps filled with silence in finished streams.",
            [("", self.gaps)]
        )
        metric(
            "exorec_ingest_gap_milliseconds_total",
            "counter",
            "Milliseconds of silence filled in finished streams.",
            [("", self.gapMilliseconds)]
        )
        metric(
            "exorec_ingest_duplicate_frames_total",
            "counter",
            "Duplicate media frames dropped.",
            [("", self.duplicates)]
        )
        metric(
            "exorec_ingest_late_frames_total",
            "counter",
            "Media frames that arrived after their slot was filled with silence.",
            [("", self.lateFrames)]
        )
        metric(
            "exorec_ingest_unknown_events_total",
            "counter",
            "Messages with an event name exorec does not know (ignored).",
            [("", self.unknownEvents)]
        )
        metric(
            "exorec_ingest_errors_total",
            "counter",
            "Bad input and failures, by kind.",
            labelled("kind", self.errors)
        )
        metric(
            "exorec_ingest_rejected_upgrades_total",
            "counter",
            "WebSocket upgrades refused, by reason.",
            labelled("reason", self.rejectedUpgrades)
        )
        metric(
            "exorec_ingest_sockets",
            "gauge",
            "Sockets the stream door holds (streams and connections that have not upgraded).",
            [("", self.sockets)]
        )
        metric(
            "exorec_ingest_pending_connections",
            "gauge",
            "Connections that have not completed an upgrade.",
            [("", self.pendingConnections)]
        )
        metric(
            "exorec_ingest_refused_connections_total",
            "counter",
            "Connections closed right after accept (descriptor reserve, pending caps), by reason.",
            labelled("reason", self.refusedConnections)
        )
        metric(
            "exorec_ingest_finalize_failures_total",
            "counter",
            "Streams whose finalize (fsync, hash, read-only) failed.",
            [("", self.finalizeFailures)]
        )
        return out
    }
}

/// The newest copy of the ingest's metrics, published by the service thread each housekeeping round
/// and read by any thread (`/metrics` on the internal door).
public final class IngestMetricsSnapshot: Sendable {
    private let metrics = Mutex(IngestMetrics())

    public init() {}

    func publish(_ metrics: IngestMetrics) { self.metrics.withLock { $0 = metrics } }

    public var current: IngestMetrics { self.metrics.withLock { $0 } }
}
