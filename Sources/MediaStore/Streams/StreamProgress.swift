/// How far a growing stream's file got: what the ingest reports about once a second while the consumer API
/// is on, and what the catalog turns into `stream.progress` events.
public struct StreamProgress: Sendable, Hashable {
    public var streamSid: String
    /// The CallSid, or "" for a stream that named no call.
    public var callSid: String
    /// The WAV: as the ingest wrote it; relative to the storage root once catalogued.
    public var path: String
    public var sampleRate: Int
    public var channels: Int
    public var frames: Int64
    public var durationSeconds: Double
    /// The file's size: it is a valid WAV up to here (its header was brought up to date first).
    public var bytes: Int64
    public var at: Timestamp

    public init(
        streamSid: String,
        callSid: String,
        path: String,
        sampleRate: Int,
        channels: Int,
        frames: Int64,
        durationSeconds: Double,
        bytes: Int64,
        at: Timestamp
    ) {
        self.streamSid = streamSid
        self.callSid = callSid
        self.path = path
        self.sampleRate = sampleRate
        self.channels = channels
        self.frames = frames
        self.durationSeconds = durationSeconds
        self.bytes = bytes
        self.at = at
    }
}
