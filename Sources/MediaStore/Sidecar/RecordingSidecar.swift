import ExotelKit
import FoundationEssentials

/// `recording.json` beside `recording.mp3` in a call's folder: where the platform's recording came from, what
/// was received and its checksum.
///
/// Written (durably, after the recording file itself) once the download is finished, so a `recording.mp3`
/// without a `recording.json` is a download that did not complete. Field names are snake_case and stable
/// (`schema` says which shape).
public struct RecordingSidecar: Sendable, Hashable, Codable {
    public enum State: String, Sendable, Hashable, Codable {
        /// Downloaded in full: the byte count matches what the server announced, flushed, hashed, read-only.
        case complete
        /// Fewer bytes than the server announced; kept as evidence, and the download is retried.
        case incomplete
    }

    public static let currentSchema = 1
    /// The sidecar's file name in the call's folder.
    public static let fileName = "recording.json"
    /// The recording's file name in the call's folder (the platform's recordings are mp3).
    public static let defaultMediaFileName = "recording.mp3"

    public var schema: Int = RecordingSidecar.currentSchema
    public var state: State
    public var accountSid: String
    public var callSid: String
    /// The `RecordingUrl` the recording was fetched from, redacted (``URLRedaction``: a pre-signed URL's
    /// signature and credentials are not stored).
    public var url: String
    public var fetchedAt: Timestamp
    public var httpStatus: Int?
    public var contentType: String?
    /// `mp3`, or what the content says it is.
    public var format: String
    public var channels: Int?
    public var sampleRate: Int?
    public var durationSeconds: Double?
    public var bytes: Int64
    public var sha256: String
    /// The media file's name in the call's folder.
    public var file: String
    public var exorecVersion: String

    enum CodingKeys: String, CodingKey {
        case schema, state, url, format, channels, bytes, sha256, file
        case accountSid = "account_sid", callSid = "call_sid", fetchedAt = "fetched_at", httpStatus = "http_status"
        case contentType = "content_type", sampleRate = "sample_rate", durationSeconds = "duration_seconds"
        case exorecVersion = "exorec_version"
    }

    public init(
        state: State,
        accountSid: String,
        callSid: String,
        url: String,
        fetchedAt: Timestamp,
        httpStatus: Int? = nil,
        contentType: String?,
        format: String,
        channels: Int?,
        sampleRate: Int?,
        durationSeconds: Double?,
        bytes: Int64,
        sha256: String,
        file: String = RecordingSidecar.defaultMediaFileName,
        exorecVersion: String
    ) {
        self.state = state
        self.accountSid = accountSid
        self.callSid = callSid
        self.url = URLRedaction.redacting(url)
        self.fetchedAt = fetchedAt
        self.httpStatus = httpStatus
        self.contentType = contentType
        self.format = format
        self.channels = channels
        self.sampleRate = sampleRate
        self.durationSeconds = durationSeconds
        self.bytes = bytes
        self.sha256 = sha256
        self.file = file
        self.exorecVersion = exorecVersion
    }

    /// The sidecar's path in a call folder.
    public static func path(inCallDirectory directory: String) -> String { "\(directory)/\(Self.fileName)" }

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding a struct of strings and numbers cannot fail.
        return Array((try? encoder.encode(self)) ?? Data()) + [UInt8(ascii: "\n")]
    }

    public static func decode(_ bytes: [UInt8], path: String) throws(MediaError) -> RecordingSidecar {
        do {
            return try JSONDecoder().decode(RecordingSidecar.self, from: Data(bytes))
        } catch {
            throw .invalidSidecar(path: path, reason: "\(error)")
        }
    }

    public static func load(from path: String) throws(MediaError) -> RecordingSidecar {
        try decode(try FileSystem.read(path), path: path)
    }

    public func write(to path: String, durable: Bool) throws(MediaError) {
        try FileSystem.writeAtomically(self.encoded(), to: path, durable: durable)
    }
}
