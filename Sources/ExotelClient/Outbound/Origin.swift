import Foundation

/// Where a request goes: scheme, host and port, as the browser's same-origin rule sees it. Two URLs with the
/// same origin reach the same server; credentials are only ever sent to one origin.
public struct Origin: Sendable, Hashable, CustomStringConvertible {
    /// Lowercased `http` or `https`.
    public var scheme: String
    /// Lowercased host name or address, IPv6 without brackets.
    public var host: String
    /// The explicit port, or the scheme's default one.
    public var port: Int

    public init(scheme: String, host: String, port: Int) {
        self.scheme = scheme.lowercased()
        self.host = host.lowercased()
        self.port = port
    }

    /// The origin of an absolute `http`/`https` URL; nil for anything else (no host, another scheme, a port
    /// out of range).
    public init?(url: String) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            let defaultPort = Self.defaultPort(scheme: scheme), var host = components.host?.lowercased(), !host.isEmpty
        else { return nil }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let port = components.port ?? defaultPort
        guard (1...65535).contains(port) else { return nil }
        self.init(scheme: scheme, host: host, port: port)
    }

    /// 443 for `https`, 80 for `http`, nil for any other scheme.
    public static func defaultPort(scheme: String) -> Int? {
        switch scheme.lowercased() {
        case "https", "wss": 443
        case "http", "ws": 80
        default: nil
        }
    }

    /// `host:port`, the IPv6 address bracketed.
    public var authority: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return "\(host):\(self.port)"
    }

    /// `https://host:443`: the port always written, so a log line says which one was refused.
    public var description: String { "\(self.scheme)://\(self.authority)" }
}

/// A list of origins that outbound fetches may reach, from entries such as `recordings.exotel.com`,
/// `*.amazonaws.com`, `127.0.0.1:9000` or `https://media.example.com:8443`.
///
/// An entry matches scheme, host and port:
/// - **host**: exact (case-insensitive), or `*.example.com` for any subdomain (not `example.com` itself);
/// - **port**: the entry's port; an entry without one means the scheme's default port (443 for `https`,
///   80 for `http`), never "any port";
/// - **scheme**: the entry's scheme when it names one, else any scheme in ``schemes`` (the fetch's own rule,
///   e.g. `https` only).
public struct OriginAllowlist: Sendable, Hashable {
    public struct Entry: Sendable, Hashable, CustomStringConvertible {
        public var scheme: String?
        /// Lowercased; `*.` prefix for a suffix pattern.
        public var host: String
        public var port: Int?

        /// Parses `[scheme://]host[:port]`; IPv6 addresses in brackets.
        public init(parsing text: String) throws(OriginAllowlistError) {
            var rest = Substring(text.trimmingCharacters(in: .whitespaces).lowercased())
            var scheme: String?
            if let separator = rest.range(of: "://") {
                scheme = String(rest[..<separator.lowerBound])
                rest = rest[separator.upperBound...]
                guard Origin.defaultPort(scheme: scheme ?? "") != nil else {
                    throw OriginAllowlistError(entry: text, reason: "the scheme must be http or https")
                }
            }
            while rest.hasSuffix("/") { rest = rest.dropLast() }
            var host = rest
            var port: Int?
            if rest.hasPrefix("[") {
                guard let close = rest.firstIndex(of: "]") else {
                    throw OriginAllowlistError(entry: text, reason: "an IPv6 address needs its closing bracket")
                }
                host = rest[rest.index(after: rest.startIndex)..<close]
                let after = rest[rest.index(after: close)...]
                if !after.isEmpty {
                    guard after.hasPrefix(":"), let number = Int(after.dropFirst()) else {
                        throw OriginAllowlistError(entry: text, reason: "expected a port after the address")
                    }
                    port = number
                }
            } else if let colon = rest.lastIndex(of: ":") {
                guard let number = Int(rest[rest.index(after: colon)...]) else {
                    throw OriginAllowlistError(entry: text, reason: "the port must be a number")
                }
                host = rest[..<colon]
                port = number
            }
            if let port, !(1...65535).contains(port) {
                throw OriginAllowlistError(entry: text, reason: "the port must be between 1 and 65535")
            }
            let name = host.hasPrefix("*.") ? host.dropFirst(2) : host
            guard !name.isEmpty, !name.contains(where: { "/?#@* \t".contains($0) }) else {
                throw OriginAllowlistError(
                    entry: text,
                    reason: "expected a host name, a *.suffix pattern or an address"
                )
            }
            self.scheme = scheme
            self.host = String(host)
            self.port = port
        }

        public init(origin: Origin) {
            self.scheme = origin.scheme
            self.host = origin.host
            self.port = origin.port
        }

        func matches(_ origin: Origin, schemes: Set<String>) -> Bool {
            if let scheme = self.scheme {
                guard origin.scheme == scheme else { return false }
            } else {
                guard schemes.contains(origin.scheme) else { return false }
            }
            guard origin.port == (self.port ?? Origin.defaultPort(scheme: origin.scheme)) else { return false }
            if self.host.hasPrefix("*.") { return origin.host.hasSuffix(self.host.dropFirst()) }
            return origin.host == self.host
        }

        public var description: String {
            let host = self.host.contains(":") ? "[\(self.host)]" : self.host
            return (self.scheme.map { "\($0)://" } ?? "") + host + (self.port.map { ":\($0)" } ?? "")
        }
    }

    public var entries: [Entry]
    /// Schemes an entry without its own scheme allows.
    public var schemes: Set<String>

    public init(entries: [Entry], schemes: Set<String> = ["https"]) {
        self.entries = entries
        self.schemes = schemes
    }

    /// Parses every entry; the first bad one throws.
    public init(parsing texts: [String], schemes: Set<String> = ["https"]) throws(OriginAllowlistError) {
        var entries: [Entry] = []
        for text in texts { entries.append(try Entry(parsing: text)) }
        self.init(entries: entries, schemes: schemes)
    }

    public func allows(_ origin: Origin) -> Bool {
        self.entries.contains { $0.matches(origin, schemes: self.schemes) }
    }
}

/// An allowlist entry that cannot be read.
public struct OriginAllowlistError: Error, Sendable, Hashable, CustomStringConvertible {
    public var entry: String
    public var reason: String

    public var description: String { "allowed origin \"\(self.entry)\": \(self.reason)" }
}
