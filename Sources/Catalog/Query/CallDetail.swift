import MediaStore

/// Everything the catalog knows about one call: what `exorec catalog show` prints.
public struct CallDetail: Sendable, Hashable, Codable {
    public var call: CallRecord
    public var statusHistory: [StatusChange]
    public var callbacks: [Callback]
    public var mediaFiles: [MediaFile]
    public var downloads: [DownloadJob]
    /// The call's pauses (PCI pause), stream by stream, from the streams' sidecars; nil when none.
    public var pauses: [StreamPause]?

    /// One pause interval of one stream.
    public struct StreamPause: Sendable, Hashable, Codable {
        public var streamSid: String
        /// The stream's WAV, relative to the storage root.
        public var path: String
        public var sampleRate: Int
        public var interval: StreamSidecar.Pause

        enum CodingKeys: String, CodingKey {
            case path, interval
            case streamSid = "stream_sid", sampleRate = "sample_rate"
        }
    }

    /// A callback without its raw body (the body stays in the catalog).
    public struct Callback: Sendable, Hashable, Codable {
        public var receivedAt: Timestamp
        public var lastReceivedAt: Timestamp
        public var deliveries: Int
        public var eventType: String?
        public var status: String?
        public var dateUpdated: String?
        public var recordingURL: String?
        public var contentType: String

        enum CodingKeys: String, CodingKey {
            case deliveries, status
            case receivedAt = "received_at", lastReceivedAt = "last_received_at", eventType = "event_type"
            case dateUpdated = "date_updated", recordingURL = "recording_url", contentType = "content_type"
        }

        public init(_ record: CallbackRecord) {
            self.receivedAt = record.receivedAt
            self.lastReceivedAt = record.lastReceivedAt
            self.deliveries = record.deliveries
            self.eventType = record.eventType
            self.status = record.status
            self.dateUpdated = record.dateUpdated
            self.recordingURL = record.recordingURL
            self.contentType = record.contentType
        }
    }

    enum CodingKeys: String, CodingKey {
        case call, callbacks, downloads, pauses
        case statusHistory = "status_history", mediaFiles = "media_files"
    }

    /// The call `callSid` with its history, callbacks, files and download jobs; nil if the catalog has no such call.
    public static func load(callSid: String, from catalog: Catalog) async throws -> CallDetail? {
        guard let call = try await catalog.call(sid: callSid) else { return nil }
        return CallDetail(
            call: call,
            statusHistory: try await catalog.statusHistory(callSid: callSid),
            callbacks: try await catalog.callbacks(callSid: callSid).map(Callback.init),
            mediaFiles: try await catalog.mediaFiles(callSid: callSid),
            downloads: try await catalog.downloadJobs(callSid: callSid),
            pauses: Self.pauses(try await catalog.streams(callSid: callSid))
        )
    }

    static func pauses(_ streams: [StreamRecord]) -> [StreamPause]? {
        let pauses = streams.flatMap { stream in
            (stream.pauses ?? []).map {
                StreamPause(streamSid: stream.streamSid, path: stream.path, sampleRate: stream.sampleRate, interval: $0)
            }
        }
        return pauses.isEmpty ? nil : pauses
    }
}
