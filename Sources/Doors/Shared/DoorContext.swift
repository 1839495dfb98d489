import ExotelKit
import HTTPTypes
public import Hummingbird
import Ingest
public import NIOCore
import Synchronization

/// The request context of both doors: Hummingbird's core context plus the connection, so a
/// responder can see the peer's address and close a connection whose body it will not read.
public struct DoorContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    /// The peer's IP address as text (`127.0.0.1`, `::1`), or `unknown`.
    public var remoteAddress: String {
        self.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// Whether `request` announces a body the door would rather not drain after refusing it: one of
    /// unknown length, or longer than ``DoorLimits/maxDrainBytes``.
    static func bodyIsNotWorthDraining(_ request: Request) -> Bool {
        if request.headers[.transferEncoding] != nil { return true }
        guard let text = request.headers[.contentLength] else { return false }
        guard let length = Int(text) else { return true }
        return length > DoorLimits.maxDrainBytes
    }

    /// Answers `response` and, when `request`'s body is not worth draining, stops reading: the
    /// connection closes after the answer (which says so).
    func refusing(_ request: Request, with response: Response) -> Response {
        guard Self.bodyIsNotWorthDraining(request) else { return response }
        self.stopReading()
        var response = response
        response.headers[.connection] = "close"
        return response
    }

    /// Stops reading from this connection: the answer is still written, then the connection
    /// closes. Used when a body is refused unread (too large, too slow), so it is never drained.
    func stopReading() {
        let channel = self.channel
        channel.close(mode: .input).whenFailure { _ in
            // A TLS channel cannot half-close: close it a moment after the answer is queued.
            channel.eventLoop.scheduleTask(in: .milliseconds(500)) { channel.close(promise: nil) }
        }
    }
}

extension Response {
    /// `{"error": "..."}`, the shape of every refusal of both doors.
    static func error(_ status: Int, _ reason: String, headers: HTTPFields = [:]) -> Response {
        Self.json(status, "{\"error\":\(JSONText.quoted(reason))}\n", headers: headers)
    }

    static func json(_ status: Int, _ text: String, headers: HTTPFields = [:]) -> Response {
        Self.text(status, text, contentType: "application/json", headers: headers)
    }

    static func text(_ status: Int, _ text: String, contentType: String, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = contentType
        return Response(status: .init(code: status), headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// ``RateLimitedLog`` for the doors' event loops: once per kind per interval, thread-safe.
final class RefusalLog: Sendable {
    private let log: Mutex<RateLimitedLog>
    private let start = ContinuousClock.now

    init(intervalMs: Int64 = 10_000) { self.log = Mutex(RateLimitedLog(intervalMs: intervalMs)) }

    /// The number suppressed since the last log when this one should be logged, else nil.
    func shouldLog(_ kind: String) -> Int? {
        let elapsed = ContinuousClock.now - self.start
        let now = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
        return self.log.withLock { $0.shouldLog(kind, now: now) }
    }
}
