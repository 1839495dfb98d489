/// What the consumer API reads: the events feed and the media files, by id. The orchestrator gives the
/// catalog-backed one (`CatalogConsumerFeed`); the ingest itself never sees SQL or catalog types.
public protocol ConsumerFeedSource: Sendable {
    /// The event types a consumer may filter on (`types=`).
    var eventTypes: Set<String> { get }
    /// Events with an id above `after`, oldest first, at most `limit`, only of `types` when given.
    /// Waits up to `wait` for the first one; returns empty when none came.
    func events(after: Int64, types: Set<String>?, limit: Int, wait: Duration) async throws -> [FeedItem]
    /// The newest event's id (0 when the feed is empty): where `after=latest` starts.
    func latestEventID() async throws -> Int64
    /// The media file with this id, or nil when there is none.
    func media(id: String) async throws -> ServedMedia?
}

/// One event, ready to send.
public struct FeedItem: Sendable, Hashable {
    public var id: Int64
    public var type: String
    /// The event as one JSON object on one line.
    public var json: String

    public init(id: Int64, type: String, json: String) {
        self.id = id
        self.type = type
        self.json = json
    }
}

/// A media file the consumer API may serve. The path comes from the catalog, never from the request.
public struct ServedMedia: Sendable, Hashable {
    /// Absolute, or relative to the working directory.
    public var path: String
    public var contentType: String
    /// `recording` while a stream grows; `complete`, `interrupted`, `incomplete` once final.
    public var state: String
    /// Still growing: its length is not final and its header is rewritten as it grows.
    public var isGrowing: Bool
    /// The final file's SHA-256, when known (sent as the `ETag`).
    public var sha256: String?
    /// Where the bytes are when the local copy was evicted to the object archive (`path` is then not read).
    public var remote: RemoteMedia?

    public init(
        path: String,
        contentType: String,
        state: String,
        isGrowing: Bool,
        sha256: String?,
        remote: RemoteMedia? = nil
    ) {
        self.path = path
        self.contentType = contentType
        self.state = state
        self.isGrowing = isGrowing
        self.sha256 = sha256
        self.remote = remote
    }
}

/// A finished media file read from elsewhere than the disk, by byte range: the object archive's copy of an
/// evicted file. The door knows only its length and how to read a range.
public struct RemoteMedia: Sendable, Hashable {
    /// Its length in bytes.
    public var length: Int64
    /// A name for logs and `==` (the object's key and version).
    public var identity: String
    /// Reads `count` bytes at `offset`; fewer (or a throw) is an error the door reports as a short read.
    public var read: @Sendable (_ offset: Int64, _ count: Int) async throws -> [UInt8]

    public init(length: Int64, identity: String, read: @escaping @Sendable (Int64, Int) async throws -> [UInt8]) {
        self.length = length
        self.identity = identity
        self.read = read
    }

    public static func == (lhs: RemoteMedia, rhs: RemoteMedia) -> Bool {
        lhs.length == rhs.length && lhs.identity == rhs.identity
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.length)
        hasher.combine(self.identity)
    }
}
