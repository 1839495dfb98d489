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
    public func fetchRecording(url: String) async throws(ExotelClientError) -> Recording {
        let host = try self.checkRecordingURL(url)
        var logger = self.logger
        logger[metadataKey: "exotel.recording-host"] = "\(host)"
        let outgoing = self.apiRequest(
            .get, url: url, accept: "*/*", maximumBodyBytes: self.configuration.maximumRecordingBytes)
        let (response, attempts) = try await self.send(
            outgoing, idempotent: true, logger: logger, rateLimited: host == self.endpoint.host)
        guard (200..<300).contains(response.status) else {
            throw Self.error(status: response.status, exception: RestException.decode(response.body), attempts: attempts)
        }
        logger.debug("recording fetched", metadata: ["exotel.bytes": "\(response.body.count)"])
        return Recording(url: url, contentType: response.header("Content-Type"), bytes: response.body)
    }

    /// Checks a recording URL against the rules every recording download applies, without sending anything:
    /// a scheme and a host, no user-info, a host in ``ExotelClientConfiguration/allowedRecordingHosts``, and
    /// `https` (or `http` when the endpoint itself is `http`). Returns the URL's lowercased host.
    /// - Throws: ``ExotelClientError/invalidURL(_:reason:)`` or ``ExotelClientError/recordingHostNotAllowed(host:)``.
    @discardableResult
    public func checkRecordingURL(_ url: String) throws(ExotelClientError) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            let host = components.host?.lowercased(), !host.isEmpty
        else {
            throw .invalidURL(url, reason: "a recording URL needs a scheme and a host")
        }
        guard components.user == nil, components.password == nil else {
            throw .invalidURL(url, reason: "a recording URL must not carry its own credentials")
        }
        let allowed = self.configuration.allowedRecordingHosts
            ?? [self.endpoint.host] + ExotelClientConfiguration.documentedRecordingHosts
        guard allowed.contains(where: { Self.host(host, matches: $0) }) else {
            throw .recordingHostNotAllowed(host: host)
        }
        guard scheme == "https" || (scheme == "http" && self.endpoint.scheme == "http") else {
            throw .invalidURL(url, reason: "credentials are only sent over https (http only to an http endpoint)")
        }
        return host
    }

    /// Exact match, or a `*.example.com` pattern matching any subdomain (not `example.com` itself).
    static func host(_ host: String, matches pattern: String) -> Bool {
        let pattern = pattern.lowercased()
        if pattern.hasPrefix("*.") {
            return host.hasSuffix(pattern.dropFirst())
        }
        return host == pattern
    }
}
