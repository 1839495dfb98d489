import ExotelKit
import Foundation
import Logging

/// Receives a recording's bytes as ``ExotelClient/downloadRecording(url:into:maximumBytes:)`` reads them, so a
/// recording of any length never sits in memory (the receiver writes a file, hashes, sniffs the format…).
public protocol RecordingSink {
    /// Takes the next piece of the recording, in order; the buffer is only valid during the call. Throwing
    /// stops the download, which then fails with ``ExotelClientError/sinkFailed(reason:)``.
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws
}

/// What ``ExotelClient/downloadRecording(url:into:maximumBytes:)`` received (the bytes went to the sink).
public struct RecordingDownload: Sendable, Hashable {
    /// The URL asked for.
    public var url: String
    /// Where the bytes came from: ``url``, or the last URL after redirects.
    public var finalURL: String
    public var httpStatus: Int
    /// `Content-Type` as served, e.g. `audio/mpeg`.
    public var contentType: String?
    /// `Content-Length` as announced, when it was.
    public var contentLength: Int64?
    /// Bytes handed to the sink (equal to ``contentLength`` when one was announced).
    public var bytes: Int64
    /// False for a pre-signed URL, which was fetched without the account's key pair.
    public var sentCredentials: Bool

    public init(
        url: String, finalURL: String, httpStatus: Int, contentType: String?, contentLength: Int64?, bytes: Int64,
        sentCredentials: Bool
    ) {
        self.url = url
        self.finalURL = finalURL
        self.httpStatus = httpStatus
        self.contentType = contentType
        self.contentLength = contentLength
        self.bytes = bytes
        self.sentCredentials = sentCredentials
    }
}

extension ExotelClient {
    /// Streams a call's `RecordingUrl` into `sink`, one attempt, no retries: the caller owns the retry policy
    /// (recordings appear minutes after the call, so a 404 is normal for a while).
    ///
    /// The URL must pass the rules of ``fetchRecording(url:)``: a host in
    /// ``ExotelClientConfiguration/allowedRecordingHosts``, no user-info, `https` (or `http` when the endpoint
    /// itself is `http`, i.e. a local simulator). A pre-signed URL (``isPreSigned(_:)``: its query carries a
    /// signature) is fetched without the account's credentials; any other gets them as HTTP Basic. Redirects are
    /// followed by the transport; the URL they end at must pass the same rules, or nothing is read.
    ///
    /// Only a 2xx body reaches the sink. A body announced or found to be larger than `maximumBytes` stops the
    /// download; a body shorter than its `Content-Length` is a transport failure. A `RestException` served with
    /// 2xx (the platform does that) is mapped like the status it names. Fetches from the endpoint's own host
    /// wait for the account's rate limiter; other hosts (the recording stores) do not.
    ///
    /// - Parameters:
    ///   - maximumBytes: `nil` uses ``ExotelClientConfiguration/maximumRecordingBytes``.
    /// - Throws: ``ExotelClientError/recordingHostNotAllowed(host:)`` or ``ExotelClientError/invalidURL(_:reason:)``
    ///   before anything is sent; ``ExotelClientError/notFound(message:)`` for 404 (not published yet);
    ///   ``ExotelClientError/server(status:message:attempts:)``, ``ExotelClientError/rateLimited(message:attempts:)``,
    ///   ``ExotelClientError/transport(_:attempts:)`` (all with `attempts: 1`);
    ///   ``ExotelClientError/unauthorized(status:message:)``, ``ExotelClientError/rejected(status:message:code:)``;
    ///   ``ExotelClientError/recordingTooLarge(url:limit:announced:)``; ``ExotelClientError/sinkFailed(reason:)``;
    ///   ``ExotelClientError/cancelled``. Bytes may have reached the sink before any of the later ones.
    public func downloadRecording<Sink: RecordingSink>(
        url: String, into sink: inout Sink, maximumBytes: Int? = nil
    ) async throws(ExotelClientError) -> RecordingDownload {
        let host = try self.checkRecordingURL(url)
        let preSigned = Self.isPreSigned(url)
        let limit = max(0, maximumBytes ?? self.configuration.maximumRecordingBytes)
        var logger = self.logger
        logger[metadataKey: "exotel.recording-host"] = "\(host)"
        logger[metadataKey: "exotel.pre-signed"] = "\(preSigned)"

        var headers: [(name: String, value: String)] = [
            ("Accept", "audio/*, */*;q=0.5"),
            ("User-Agent", self.configuration.userAgent),
        ]
        if !preSigned { headers.insert(("Authorization", self.credentials.basicAuthorization), at: 0) }
        let request = TransportRequest(
            method: .get, url: url, headers: headers, timeout: self.configuration.recordingDownloadTimeout,
            maximumBodyBytes: limit)

        if host == self.endpoint.host {
            do {
                try await self.rateLimiter.acquire()
            } catch {
                throw .cancelled
            }
        }
        if Task.isCancelled { throw .cancelled }
        logger.debug("downloading recording")

        // A redirect is followed by the HTTP client (which drops `Authorization` when it leaves the origin);
        // where it leads must pass the same rules, before any byte is taken.
        var receiver = DownloadReceiver(sink: sink, limit: limit) { finalURL in
            guard finalURL != url else { return nil }
            do throws(ExotelClientError) {
                try self.checkRecordingURL(finalURL)
                return nil
            } catch {
                return error
            }
        }
        let head: TransportResponseHead
        do throws(TransportError) {
            head = try await self.transport.download(request, into: &receiver)
        } catch {
            sink = receiver.sink
            if Task.isCancelled { throw .cancelled }
            throw .transport(error, attempts: 1)
        }
        sink = receiver.sink
        if Task.isCancelled { throw .cancelled }

        if let failure = receiver.failure {
            switch failure {
            case .redirected(let error):
                throw error
            case .tooLarge(let announced):
                throw .recordingTooLarge(url: url, limit: limit, announced: announced)
            case .sink(let reason):
                throw .sinkFailed(reason: reason)
            }
        }
        let exception = receiver.errorBody.flatMap { RestException.decode($0) }
        guard (200..<300).contains(head.status), exception == nil else {
            throw Self.error(status: head.status, exception: exception, attempts: 1)
        }
        let announced = receiver.announcedLength
        if let announced, announced != receiver.received {
            throw .transport(
                .exchangeFailed("the recording ended after \(receiver.received) of the \(announced) bytes announced"),
                attempts: 1)
        }
        logger.debug("recording downloaded", metadata: ["exotel.bytes": "\(receiver.received)"])
        return RecordingDownload(
            url: url, finalURL: head.finalURL, httpStatus: head.status, contentType: head.header("Content-Type"),
            contentLength: announced, bytes: receiver.received, sentCredentials: !preSigned)
    }

    /// Query parameters that make a URL pre-signed: the signature itself authorises the request (AWS SigV4 and
    /// V2, Google Cloud Storage, Azure SAS).
    public static let signatureParameters: Set<String> = ["x-amz-signature", "signature", "sig", "x-goog-signature"]

    /// Whether `url`'s query carries a signature (``signatureParameters``, matched case-insensitively), as
    /// the platform's `PreSignedRecordingUrl` does. Such a URL is fetched without the account's credentials.
    public static func isPreSigned(_ url: String) -> Bool {
        guard let items = URLComponents(string: url)?.queryItems else { return false }
        return items.contains { item in
            Self.signatureParameters.contains(item.name.lowercased()) && !(item.value ?? "").isEmpty
        }
    }
}

/// Adapts a ``RecordingSink`` to the transport: passes a 2xx body on within the size limit, keeps a small
/// error body (or a 2xx body that may be a `RestException`) in memory instead.
struct DownloadReceiver<Sink: RecordingSink>: TransportBodySink {
    enum Failure {
        case tooLarge(announced: Int64?)
        case sink(String)
        case redirected(ExotelClientError)
    }

    /// Error answers (`RestException` in JSON or XML) are small; this bounds what one may make us hold.
    static var maximumErrorBody: Int { 64 << 10 }

    var sink: Sink
    let limit: Int
    var received: Int64 = 0
    var announcedLength: Int64?
    /// The body of a non-2xx answer, or of a 2xx one not labelled audio (nil when the body goes to the sink
    /// only, or when it outgrew ``maximumErrorBody``).
    var errorBody: [UInt8]?
    var failure: Failure?
    private var toSink = false
    /// Why the response's final URL (after redirects) may not be used; nil when it may.
    private let checkFinalURL: (String) -> ExotelClientError?

    init(sink: Sink, limit: Int, checkFinalURL: @escaping (String) -> ExotelClientError? = { _ in nil }) {
        self.sink = sink
        self.limit = limit
        self.checkFinalURL = checkFinalURL
    }

    mutating func begin(_ head: TransportResponseHead) -> Bool {
        if let refused = self.checkFinalURL(head.finalURL) {
            self.failure = .redirected(refused)
            return false
        }
        self.announcedLength = head.header("Content-Length").flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }
        guard (200..<300).contains(head.status) else {
            self.errorBody = []
            return true
        }
        if let announced = self.announcedLength, announced > Int64(self.limit) {
            self.failure = .tooLarge(announced: announced)
            return false
        }
        self.toSink = true
        // Anything but audio may be a `RestException` (the platform sends some with 200, not always labelled).
        let type = head.header("Content-Type")?.lowercased() ?? ""
        if !type.hasPrefix("audio/") { self.errorBody = [] }
        return true
    }

    mutating func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if var body = self.errorBody {
            self.errorBody = nil  // unique while appended to
            if body.count + bytes.count <= Self.maximumErrorBody {
                body.append(contentsOf: bytes)
                self.errorBody = body
            }
        }
        guard self.toSink else {
            self.received += Int64(bytes.count)
            // An error answer that outgrows the bound is not a `RestException` worth reading on.
            return self.errorBody != nil
        }
        guard self.received + Int64(bytes.count) <= Int64(self.limit) else {
            self.failure = .tooLarge(announced: self.announcedLength)
            return false
        }
        do {
            try self.sink.write(bytes)
        } catch {
            self.failure = .sink("\(error)")
            return false
        }
        self.received += Int64(bytes.count)
        return true
    }
}
