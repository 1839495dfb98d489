/// Tuning for ``ExotelClient``; the defaults suit the real platform.
public struct ExotelClientConfiguration: Sendable {
    /// Wall-clock limit of one HTTP attempt (not scaled: it guards real sockets).
    public var requestTimeout: Duration
    public var retry: RetryPolicy
    /// Origins a recording may be fetched from, the URL asked for and every redirect hop alike (see
    /// ``OriginAllowlist``): `[scheme://]host[:port]`, the host exact (`recordings.exotel.com`) or a `*.` suffix
    /// pattern (`*.amazonaws.com`), matched case-insensitively. **An entry without a port means the scheme's
    /// default port** (443 for `https`), never any port. `nil` means the endpoint's own origin plus the hosts
    /// the platform documents for recordings. The account's credentials go only to the origin of the URL asked
    /// for, never to a redirect target of another origin.
    public var allowedRecordingHosts: [String]?
    /// A larger recording fails instead of filling memory (or, streamed, the disk).
    public var maximumRecordingBytes: Int
    /// Wall-clock limit of one streamed recording download, body included (not scaled). A recording at the
    /// size limit must fit in it; whoever leases download jobs should hold a lease at least this long.
    public var recordingDownloadTimeout: Duration
    /// API responses are small; this bounds what a misbehaving server can make the client buffer.
    public var maximumResponseBytes: Int
    public var userAgent: String

    public init(
        requestTimeout: Duration = .seconds(30),
        retry: RetryPolicy = RetryPolicy(),
        allowedRecordingHosts: [String]? = nil,
        maximumRecordingBytes: Int = 512 << 20,
        maximumResponseBytes: Int = 1 << 20,
        userAgent: String = "exorec",
        recordingDownloadTimeout: Duration = .seconds(300)
    ) {
        self.requestTimeout = requestTimeout
        self.retry = retry
        self.allowedRecordingHosts = allowedRecordingHosts
        self.maximumRecordingBytes = maximumRecordingBytes
        self.maximumResponseBytes = maximumResponseBytes
        self.userAgent = userAgent
        self.recordingDownloadTimeout = recordingDownloadTimeout
    }

    /// Where the platform documents recordings to live (section 4 of the platform notes).
    public static let documentedRecordingHosts = ["recordings.exotel.com", "s3-ap-southeast-1.amazonaws.com"]
}
