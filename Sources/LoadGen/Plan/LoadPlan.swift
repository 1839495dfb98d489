/// Everything a load run does, fixed before it starts.
///
/// ```swift
/// let plan = LoadPlan(endpoint: try StreamEndpoint(parsing: "ws://127.0.0.1:8080/v1/streams"),
///                     streams: 200, frames: 1000, pace: .flood)
/// let report = try await LoadRunner.run(plan)
/// ```
public struct LoadPlan: Sendable {
    /// How media steps are spaced in time.
    public enum Pace: String, Sendable, Hashable, CaseIterable, Codable {
        /// One step per stream every 100 ms, the streams' phases spread evenly over the first 100 ms.
        case realtime
        /// Every stream sends as fast as its socket accepts.
        case flood
    }

    /// The length of one media step: the platform sends audio in ~100 ms messages.
    public static let frameMilliseconds = 100
    public static let supportedSampleRates = [8000, 16000, 24000]
    /// The account every stream claims to come from.
    public static let accountSid = "loadgen"

    /// Where to connect; carries `sample-rate` in its query.
    public var endpoint: StreamEndpoint
    public var streams: Int
    /// Media steps of 100 ms per stream (a step is two `media` messages when `dual`).
    public var frames: Int
    public var sampleRate: Int
    /// Send `inbound` and `outbound` tracks (the server records them as channels 0 and 1).
    public var dual: Bool
    public var pace: Pace
    /// Connections opened per second; 0 opens them as fast as handshakes complete.
    public var rampPerSecond: Double
    /// Upgrades in flight at once; keeps a fast ramp from overflowing the server's listen backlog,
    /// where dropped SYNs would cost a second of retransmission each.
    public var maxPendingHandshakes: Int
    public var runID: RunID
    /// How long an upgrade may take before the stream counts as failed.
    public var handshakeTimeoutSeconds: Double
    /// How long the server may go without closing after `stop`, and without acknowledging any
    /// bytes, before the stream counts as failed. Generous: a flooded server works through a
    /// backlog of seconds of audio already sitting in its socket buffers before it sees `stop`.
    public var closeTimeoutSeconds: Double
    /// Bytes queued per socket write when flooding: large writes amortise the syscall over dozens of frames.
    public var floodBatchBytes: Int

    public var channels: Int { self.dual ? 2 : 1 }
    public var samplesPerFrame: Int { self.sampleRate * Self.frameMilliseconds / 1000 }
    /// `media` messages each stream sends.
    public var mediaMessagesPerStream: Int { self.frames * self.channels }

    public init(
        endpoint: StreamEndpoint,
        streams: Int,
        frames: Int,
        sampleRate: Int = 8000,
        dual: Bool = false,
        pace: Pace = .realtime,
        rampPerSecond: Double = 0,
        maxPendingHandshakes: Int = 64,
        runID: RunID = .random(),
        handshakeTimeoutSeconds: Double = 10,
        closeTimeoutSeconds: Double = 60,
        floodBatchBytes: Int = 64 * 1024
    ) {
        self.endpoint = endpoint.requesting(sampleRate: sampleRate)
        self.streams = streams
        self.frames = frames
        self.sampleRate = sampleRate
        self.dual = dual
        self.pace = pace
        self.rampPerSecond = rampPerSecond
        self.maxPendingHandshakes = maxPendingHandshakes
        self.runID = runID
        self.handshakeTimeoutSeconds = handshakeTimeoutSeconds
        self.closeTimeoutSeconds = closeTimeoutSeconds
        self.floodBatchBytes = floodBatchBytes
    }

    public func streamSid(_ index: Int) -> String { self.runID.streamSid(index) }
    public func callSid(_ index: Int) -> String { self.runID.callSid(index) }
}
