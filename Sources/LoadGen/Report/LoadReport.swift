/// What a load run did: the summary printed by `exorec loadgen` and its `--json` document.
public struct LoadReport: Sendable, Codable {
    public var runID: String
    public var url: String
    public var streams: Int
    public var framesPerStream: Int
    public var sampleRate: Int
    public var channels: Int
    public var pace: LoadPlan.Pace
    public var streamsOK: Int
    public var streamsFailed: Int
    /// Streams that never got past the upgrade (refused, reset, timed out); included in `streamsFailed`.
    public var handshakeFailures: Int
    /// Failed streams by reason.
    public var failures: [String: Int]
    /// `media` messages sent (two per step for dual streams).
    public var mediaMessages: Int
    public var bytesSent: Int
    /// From the first connect until every stream was upgraded or had failed.
    public var connectSeconds: Double
    /// From the first `start` until the last stream closed.
    public var streamSeconds: Double
    public var mediaMessagesPerSecond: Double
    /// CPU time of the generator's thread over the whole run.
    public var generatorCPUSeconds: Double
    /// Media messages per second of generator CPU: what this generator could send from one core
    /// if nothing else limited it.
    public var generatorCeiling: Double
    /// Real time only: the largest delay of a step behind its schedule.
    public var maxLagMilliseconds: Double?
    /// Real time only: steps sent a whole period (100 ms) or more behind schedule.
    public var lateSteps: Int?
    /// Filled in when the run is verified.
    public var verification: VerificationSummary?
    /// Indices of the streams that completed, for the verifier.
    public var completedStreams: [Int] = []

    enum CodingKeys: String, CodingKey {
        case runID, url, streams, framesPerStream, sampleRate, channels, pace, streamsOK, streamsFailed
        case handshakeFailures, failures, mediaMessages, bytesSent, connectSeconds, streamSeconds
        case mediaMessagesPerSecond, generatorCPUSeconds, generatorCeiling, maxLagMilliseconds, lateSteps, verification
    }

    init(
        plan: LoadPlan,
        streamsOK: Int,
        handshakeFailures: Int,
        failures: [String: Int],
        mediaMessages: Int,
        bytesSent: Int,
        connectSeconds: Double,
        streamSeconds: Double,
        generatorCPUSeconds: Double,
        maxLagMilliseconds: Double?,
        lateSteps: Int?,
        completedStreams: [Int]
    ) {
        self.runID = plan.runID.description
        self.url = plan.endpoint.displayURL
        self.streams = plan.streams
        self.framesPerStream = plan.frames
        self.sampleRate = plan.sampleRate
        self.channels = plan.channels
        self.pace = plan.pace
        self.streamsOK = streamsOK
        self.streamsFailed = plan.streams - streamsOK
        self.handshakeFailures = handshakeFailures
        self.failures = failures
        self.mediaMessages = mediaMessages
        self.bytesSent = bytesSent
        self.connectSeconds = connectSeconds
        self.streamSeconds = streamSeconds
        self.mediaMessagesPerSecond = streamSeconds > 0 ? Double(mediaMessages) / streamSeconds : 0
        self.generatorCPUSeconds = generatorCPUSeconds
        self.generatorCeiling = generatorCPUSeconds > 0 ? Double(mediaMessages) / generatorCPUSeconds : 0
        self.maxLagMilliseconds = maxLagMilliseconds
        self.lateSteps = lateSteps
        self.completedStreams = completedStreams
    }

    /// Whether the run needs exit status 3: a failed stream or a verification mismatch.
    public var foundProblems: Bool {
        self.streamsFailed > 0 || (self.verification.map { !$0.problems.isEmpty } ?? false)
    }
}
