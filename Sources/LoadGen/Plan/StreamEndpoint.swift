import Foundation

/// Where the streams go: a `ws://` URL taken apart into what the upgrade request needs.
///
/// The platform takes credentials from the StreamUrl's user-info and sends them as
/// `Authorization: Basic base64(user:password)` on the upgrade; this type does the same, so a URL
/// copied from an applet's configuration works unchanged.
public struct StreamEndpoint: Sendable, Hashable {
    /// The host as written in the URL, without IPv6 brackets.
    public var host: String
    public var port: Int
    /// Path and query, as sent on the request line (`/v1/streams?sample-rate=8000`).
    public var requestTarget: String
    /// The complete `Authorization` header value, or nil when the URL has no user-info.
    public var authorization: String?
    /// The `sample-rate` (or `sample_rate`) query parameter, when the URL carries one.
    public var sampleRate: Int?

    /// The `Host` header value: the host, bracketed when it is an IPv6 literal, and the port.
    public var hostHeader: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return self.port == 80 ? host : "\(host):\(self.port)"
    }

    /// The URL without credentials, for printing.
    public var displayURL: String { "ws://\(self.hostHeader)\(self.requestTarget)" }

    public init(host: String, port: Int, requestTarget: String, authorization: String? = nil, sampleRate: Int? = nil) {
        self.host = host
        self.port = port
        self.requestTarget = requestTarget
        self.authorization = authorization
        self.sampleRate = sampleRate
    }

    /// Parses a `ws://[user:password@]host[:port][/path][?query]` URL.
    public init(parsing url: String) throws(LoadGenError) {
        guard let components = URLComponents(string: url) else {
            throw .invalidURL(url, reason: "it is not a valid URL")
        }
        switch components.scheme?.lowercased() {
        case "ws": break
        case "wss":
            throw .invalidURL(
                url,
                reason:
                    "wss:// is not supported; the load generator speaks plain ws:// (terminate TLS in front of the server)"
            )
        default: throw .invalidURL(url, reason: "the scheme must be ws://")
        }
        guard let host = components.host, !host.isEmpty else {
            throw .invalidURL(url, reason: "it has no host")
        }
        let port = components.port ?? 80
        guard (1...65535).contains(port) else {
            throw .invalidURL(url, reason: "port \(port) is out of range")
        }
        var target = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        if let query = components.percentEncodedQuery { target += "?\(query)" }

        var authorization: String?
        if let user = components.user {
            let credentials = "\(user):\(components.password ?? "")"
            authorization = "Basic \(Data(credentials.utf8).base64EncodedString())"
        }

        var sampleRate: Int?
        for item in components.queryItems ?? [] where item.name == "sample-rate" || item.name == "sample_rate" {
            guard let value = item.value, let rate = Int(value) else {
                throw .invalidURL(url, reason: "\(item.name)=\(item.value ?? "") is not a number")
            }
            sampleRate = rate
        }
        self.init(host: host, port: port, requestTarget: target, authorization: authorization, sampleRate: sampleRate)
    }

    /// The same endpoint with `sample-rate=<rate>` in the query, added when the URL does not carry a rate.
    ///
    /// The server takes the rate from this parameter, as the platform documents; sending it
    /// explicitly keeps a 16 or 24 kHz run from being recorded as the 8 kHz default.
    public func requesting(sampleRate rate: Int) -> StreamEndpoint {
        guard self.sampleRate == nil else { return self }
        var copy = self
        copy.requestTarget += (self.requestTarget.contains("?") ? "&" : "?") + "sample-rate=\(rate)"
        copy.sampleRate = rate
        return copy
    }
}
