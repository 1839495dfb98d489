import ExotelKit
import Foundation
import Logging

/// A downloaded call recording.
public struct Recording: Sendable, Hashable {
    /// The URL it was fetched from.
    public var url: String
    /// `Content-Type` as served, e.g. `audio/mpeg`.
    public var contentType: String?
    public var bytes: [UInt8]

    public init(url: String, contentType: String?, bytes: [UInt8]) {
        self.url = url
        self.contentType = contentType
        self.bytes = bytes
    }
}

extension ExotelClient {
    /// Downloads a call's `RecordingUrl` with the account's Basic credentials (recording URLs are private).
    ///
    /// The credentials only go to ``ExotelClientConfiguration/allowedRecordingHosts``, over `https` (or over
    /// `http` when the endpoint itself is `http`, i.e. a local simulator). Recordings appear minutes after the
    /// call ends; until then the answer is ``ExotelClientError/notFound(message:)``, which is not retried here.
    /// Fetches from the endpoint's own host count against the account's rate limit; other hosts do not.
    /// Redirects are not followed here (a 3xx is an error): ``downloadRecording(url:into:maximumBytes:)`` follows
    /// them, checking every hop.
    public func fetchRecording(url: String) async throws(ExotelClientError) -> Recording {
        let host = try self.checkRecordingURL(url)
        var logger = self.logger
        logger[metadataKey: "exotel.recording-host"] = "\(URLRedaction.hostPart(url))"
        let outgoing = self.apiRequest(
            .get,
            url: url,
            accept: "*/*",
            maximumBodyBytes: self.configuration.maximumRecordingBytes
        )
        let (response, attempts) = try await self.send(
            outgoing,
            idempotent: true,
            logger: logger,
            rateLimited: host == self.endpoint.host
        )
        guard (200..<300).contains(response.status) else {
            throw Self.error(
                status: response.status,
                exception: RestException.decode(response.body),
                attempts: attempts
            )
        }
        logger.debug("recording fetched", metadata: ["exotel.bytes": "\(response.body.count)"])
        return Recording(url: url, contentType: response.header("Content-Type"), bytes: response.body)
    }

    /// Checks a recording URL against the rules every recording download applies, to the URL asked for and to
    /// every redirect hop, without sending anything: a scheme and a host, no user-info, an origin (scheme,
    /// host **and port**) in ``recordingOrigins``, and `https` (or `http` when the endpoint itself is `http`)
    /// unless the allowlist entry names its scheme. Returns the URL's lowercased host.
    /// - Throws: ``ExotelClientError/invalidURL(_:reason:)`` or ``ExotelClientError/recordingHostNotAllowed(host:)``
    ///   (whose `host` is the refused origin, `https://host:port`).
    @discardableResult
    public func checkRecordingURL(_ url: String) throws(ExotelClientError) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            let host = components.host?.lowercased(), !host.isEmpty
        else {
            throw .invalidURL(URLRedaction.redacting(url), reason: "a recording URL needs a scheme and a host")
        }
        guard components.user == nil, components.password == nil else {
            throw .invalidURL(URLRedaction.redacting(url), reason: "a recording URL must not carry its own credentials")
        }
        guard let origin = Origin(url: url) else {
            throw .invalidURL(
                URLRedaction.redacting(url),
                reason: "a recording URL must be http or https with a valid port"
            )
        }
        let allowlist = self.recordingOrigins
        guard allowlist.allows(origin) else {
            // A known host on a scheme the rule refuses is a scheme problem, not a host problem.
            var anyScheme = allowlist
            anyScheme.schemes = ["http", "https"]
            if scheme == "http", anyScheme.allows(origin) {
                throw .invalidURL(
                    URLRedaction.redacting(url),
                    reason: "credentials are only sent over https (http only to an http endpoint)"
                )
            }
            throw .recordingHostNotAllowed(host: origin.description)
        }
        return host
    }

    /// The origins recordings may be fetched from: ``ExotelClientConfiguration/allowedRecordingHosts`` (entries
    /// that cannot be read match nothing), or by default the endpoint's own origin and the hosts the platform
    /// documents (on the default port). Entries without a scheme allow `https`, and `http` too when the endpoint
    /// itself is `http` (a local simulator).
    public var recordingOrigins: OriginAllowlist {
        let texts =
            self.configuration.allowedRecordingHosts
            ?? [self.endpoint.origin.authority] + ExotelClientConfiguration.documentedRecordingHosts
        let entries = texts.compactMap { try? OriginAllowlist.Entry(parsing: $0) }
        return OriginAllowlist(
            entries: entries,
            schemes: self.endpoint.scheme == "http" ? ["https", "http"] : ["https"]
        )
    }
}
