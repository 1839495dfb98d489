import MediaStore

/// Coarse news from the ingest server, for the catalog, live consumers and tests.
///
/// Only these leave the service thread (through an `AsyncStream`); the per-frame path never does.
public enum IngestEvent: Sendable, Hashable {
    /// A stream's start was accepted and its files exist.
    case streamStarted(StreamSidecar, wavPath: String)
    /// A stream is finalized: the sidecar holds its checksum and state.
    case streamFinished(StreamSidecar, wavPath: String)
    /// A stream ended but could not be finalized (the sidecar says what is known).
    case streamFinalizeFailed(StreamSidecar, wavPath: String, error: String)
    /// At start-up, a stream an earlier process left open (it died) was repaired: its audio up to
    /// the crash is kept, the sidecar says `interrupted`.
    case streamRepaired(StreamSidecar, wavPath: String)
    /// Growing streams whose files grew since the last report, once per housekeeping round (about a
    /// second): one batch for all of them, so that recording the progress costs one catalog write.
    /// Only while the consumer API is on (`api.token`): nobody else reads progress.
    case streamsGrew([StreamGrowth])
}

/// How far a growing stream's file got.
public struct StreamGrowth: Sendable, Hashable {
    public var streamSid: String
    public var callSid: String
    public var wavPath: String
    public var sampleRate: Int
    public var channels: Int
    public var frames: Int64
    public var durationSeconds: Double
    /// The file's size: it is a valid WAV up to here (its header was brought up to date first).
    public var bytes: Int64
    public var at: Timestamp

    public init(
        streamSid: String, callSid: String, wavPath: String, sampleRate: Int, channels: Int, frames: Int64, durationSeconds: Double,
        bytes: Int64, at: Timestamp
    ) {
        self.streamSid = streamSid
        self.callSid = callSid
        self.wavPath = wavPath
        self.sampleRate = sampleRate
        self.channels = channels
        self.frames = frames
        self.durationSeconds = durationSeconds
        self.bytes = bytes
        self.at = at
    }
}
