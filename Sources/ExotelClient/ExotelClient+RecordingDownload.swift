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
    /// The redirect targets followed, in order (each passed the host rules before it was requested).
    public var redirects: [String]
    public var httpStatus: Int
    /// `Content-Type` as served, e.g. `audio/mpeg`.
    public var contentType: String?
    /// `Content-Length` as announced, when it was.
    public var contentLength: Int64?
    /// Bytes handed to the sink (equal to ``contentLength`` when one was announced).
    public var bytes: Int64
    /// Whether the request that got the bytes carried the account's key pair: false for a pre-signed URL and
    /// for a redirect target outside the first URL's origin.
    public var sentCredentials: Bool

    public init(
        url: String,
        finalURL: String,
        httpStatus: Int,
        contentType: String?,
        contentLength: Int64?,
        bytes: Int64,
        sentCredentials: Bool,
        redirects: [String] = []
    ) {
        self.redirects = redirects
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
    /// Redirects are followed here, hop by hop (at most ``maximumRecordingRedirects``), never by the transport:
    /// the URL asked for and every redirect target must pass ``checkRecordingURL(_:)`` (scheme, host and port
    /// in ``recordingOrigins``, no user-info) **before** it is requested, so a refused hop receives nothing. A
    /// pre-signed URL (``isPreSigned(_:)``: its query carries a signature) is fetched without the account's
    /// credentials; any other gets them as HTTP Basic, but only on its own origin (scheme, host and port): a
    /// redirect to another origin, even an allowed one, is followed without them.
    ///
    /// Only a 2xx body reaches the sink. A body announced or found to be larger than `maximumBytes` stops the
    /// download; a body shorter than its `Content-Length` is a transport failure. A `RestException` served with
    /// 2xx (the platform does that) is mapped like the status it names. Fetches from the endpoint's own host
    /// wait for the account's rate limiter; other hosts (the recording stores) do not.
    ///
    /// - Parameters:
    ///   - maximumBytes: `nil` uses ``ExotelClientConfiguration/maximumRecordingBytes``.
    /// - Throws: ``ExotelClientError/recordingHostNotAllowed(host:)`` or ``ExotelClientError/invalidURL(_:reason:)``
    ///   before anything is sent; ``ExotelClientError/redirectRefused(hop:url:reason:)`` when a redirect leads
    ///   where the rules refuse (nothing is sent there); ``ExotelClientError/notFound(message:)`` for 404 (not
    ///   published yet); ``ExotelClientError/server(status:message:attempts:)``,
    ///   ``ExotelClientError/rateLimited(message:attempts:)``, ``ExotelClientError/transport(_:attempts:)`` (all
    ///   with `attempts: 1`); ``ExotelClientError/unauthorized(status:message:)``,
    ///   ``ExotelClientError/rejected(status:message:code:)``; ``ExotelClientError/recordingTooLarge(url:limit:announced:)``;
    ///   ``ExotelClientError/sinkFailed(reason:)``; ``ExotelClientError/cancelled``. Bytes may have reached the
    ///   sink before any of the later ones.
    public func downloadRecording<Sink: RecordingSink>(
        url: String,
        into sink: inout Sink,
        maximumBytes: Int? = nil
    ) async throws(ExotelClientError) -> RecordingDownload {
        let host = try self.checkRecordingURL(url)
        let preSigned = Self.isPreSigned(url)
        let limit = max(0, maximumBytes ?? self.configuration.maximumRecordingBytes)
        var logger = self.logger
        logger[metadataKey: "exotel.recording-host"] = "\(URLRedaction.hostPart(url))"
        logger[metadataKey: "exotel.pre-signed"] = "\(preSigned)"

        let fetch = HopByHopFetch(
            url: url,
            headers: [("Accept", "audio/*, */*;q=0.5"), ("User-Agent", self.configuration.userAgent)],
            credentials: preSigned ? nil : ("Authorization", self.credentials.basicAuthorization),
            timeout: self.configuration.recordingDownloadTimeout,
            maximumBodyBytes: limit,
            maximumRedirects: Self.maximumRecordingRedirects
        )

        if host == self.endpoint.host {
            do {
                try await self.rateLimiter.acquire()
            } catch {
                throw .cancelled
            }
        }
        if Task.isCancelled { throw .cancelled }
        logger.debug("downloading recording")

        var receiver = DownloadReceiver(sink: sink, limit: limit)
        let result: HopByHopFetch.Result
        do throws(HopByHopFetchError) {
            result = try await fetch.run(transport: self.transport, into: &receiver) { hopURL, hop in
                guard hop > 0 else { return nil }  // checked above
                do throws(ExotelClientError) {
                    try self.checkRecordingURL(hopURL)
                    return nil
                } catch {
                    switch error {
                    case .recordingHostNotAllowed(let origin):
                        return "its origin \(origin) is not in allowedRecordingHosts (scheme, host and port)"
                    case .invalidURL(_, let reason):
                        return reason
                    default:
                        return error.description
                    }
                }
            }
        } catch {
            sink = receiver.sink
            if Task.isCancelled { throw .cancelled }
            switch error {
            case .refused(let hop, let hopURL, let reason):
                logger.warning(
                    "recording redirect refused; nothing was sent there",
                    metadata: [
                        "exotel.hop": "\(hop)", "exotel.hop-url": "\(LogText.escaped(URLRedaction.redacting(hopURL)))",
                        "exotel.reason": "\(LogText.escaped(reason))",
                    ]
                )
                throw .redirectRefused(hop: hop, url: URLRedaction.redacting(hopURL), reason: reason)
            case .transport(let transportError):
                throw .transport(transportError, attempts: 1)
            }
        }
        sink = receiver.sink
        let head = result.head
        if Task.isCancelled { throw .cancelled }

        if let failure = receiver.failure {
            switch failure {
            case .tooLarge(let announced):
                throw .recordingTooLarge(url: URLRedaction.redacting(url), limit: limit, announced: announced)
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
                attempts: 1
            )
        }
        logger.debug(
            "recording downloaded",
            metadata: ["exotel.bytes": "\(receiver.received)", "exotel.redirects": "\(result.redirects.count)"]
        )
        return RecordingDownload(
            url: url,
            finalURL: result.finalURL,
            httpStatus: head.status,
            contentType: head.header("Content-Type"),
            contentLength: announced,
            bytes: receiver.received,
            sentCredentials: result.sentCredentials,
            redirects: result.redirects
        )
    }

    /// Redirects one recording download follows at most.
    public static let maximumRecordingRedirects = HopByHopFetch.defaultMaximumRedirects

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

    init(sink: Sink, limit: Int) {
        self.sink = sink
        self.limit = limit
    }

    mutating func begin(_ head: TransportResponseHead) -> Bool {
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
