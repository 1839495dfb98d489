import Foundation

/// Where the platform's REST API lives: one of Exotel's regions or any base URL (for example the simulator's
/// `http://127.0.0.1:PORT`).
///
/// API keys are bound to a region: the wrong host answers 401, so pick the region the account was created in.
public struct ExotelEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// Scheme, host and optional port, without a trailing slash, e.g. `https://api.exotel.com`.
    public let baseURL: String
    /// The lowercased host of ``baseURL``.
    public let host: String
    /// `http` or `https`.
    public let scheme: String

    /// The Singapore cluster, `https://api.exotel.com`.
    public static let singapore = ExotelEndpoint(
        validated: "https://api.exotel.com",
        scheme: "https",
        host: "api.exotel.com"
    )
    /// The Mumbai cluster, `https://api.in.exotel.com`.
    public static let mumbai = ExotelEndpoint(
        validated: "https://api.in.exotel.com",
        scheme: "https",
        host: "api.in.exotel.com"
    )

    /// Any base URL: an `http` or `https` URL with a host and optionally a port and a path prefix, but no
    /// query, fragment or user-info (credentials go in ``ExotelCredentials`` so they are never logged).
    public init(baseURL: String) throws(ExotelClientError) {
        guard let components = URLComponents(string: baseURL),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = components.host, !host.isEmpty
        else {
            throw .invalidURL(baseURL, reason: "an endpoint needs an http or https URL with a host")
        }
        guard components.query == nil, components.fragment == nil else {
            throw .invalidURL(baseURL, reason: "an endpoint cannot carry a query or fragment")
        }
        guard components.user == nil, components.password == nil else {
            throw .invalidURL(baseURL, reason: "pass the API key and token as ExotelCredentials, not in the URL")
        }
        var trimmed = baseURL
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.init(validated: trimmed, scheme: scheme, host: host.lowercased())
    }

    private init(validated baseURL: String, scheme: String, host: String) {
        self.baseURL = baseURL
        self.scheme = scheme
        self.host = host
    }

    /// `POST` target of `Calls/connect`; `.json` so the platform answers JSON instead of XML.
    func connectURL(accountSid: String) throws(ExotelClientError) -> String {
        let account = try PathIdentifier.validate(accountSid, name: "account sid")
        return "\(self.baseURL)/v1/Accounts/\(account)/Calls/connect.json"
    }

    /// `GET` target of Call Details; `details=true` adds the per-leg block.
    func callDetailsURL(accountSid: String, callSid: String) throws(ExotelClientError) -> String {
        let account = try PathIdentifier.validate(accountSid, name: "account sid")
        let call = try PathIdentifier.validate(callSid, name: "call sid")
        return "\(self.baseURL)/v1/Accounts/\(account)/Calls/\(call).json?details=true"
    }

    /// Scheme, host and port of ``baseURL`` (the port made explicit: 443 for `https`, 80 for `http`).
    public var origin: Origin {
        Origin(url: self.baseURL)
            ?? Origin(scheme: self.scheme, host: self.host, port: Origin.defaultPort(scheme: self.scheme) ?? 443)
    }

    public var description: String { self.baseURL }
}

/// Account and call sids are pasted into URL paths, so anything but a plain identifier could change which
/// resource is addressed (`../`, `?`, `#`, `%2F`). Exotel's sids are letters, digits, `-` and `_`.
enum PathIdentifier {
    static let maximumLength = 128

    static func validate(_ value: String, name: String) throws(ExotelClientError) -> String {
        guard !value.isEmpty else {
            throw .invalidIdentifier(name: name, value: value, reason: "is empty")
        }
        guard value.utf8.count <= maximumLength else {
            throw .invalidIdentifier(name: name, value: value, reason: "is longer than \(maximumLength) characters")
        }
        for byte in value.utf8 {
            let allowed =
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            guard allowed else {
                throw .invalidIdentifier(
                    name: name,
                    value: value,
                    reason: "may only contain letters, digits, '-' and '_'"
                )
            }
        }
        return value
    }
}
