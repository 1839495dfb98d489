import ExotelKit
import Foundation

/// GET requests whose redirects exorec follows itself, one hop at a time, so that every URL is checked
/// **before** a request is sent to it (a transport that follows redirects on its own would already have
/// reached a refused host when its final URL is checked).
///
/// - Each hop's URL passes `check` first (scheme, host and port against an allowlist, say); a refused hop
///   ends the fetch with ``HopByHopFetchError/refused(hop:url:reason:)`` and nothing is sent to it.
/// - At most ``maximumRedirects`` redirects (301, 302, 303, 307, 308 with a `Location`) are followed.
/// - `credentials` (an `Authorization` header) go only to the first URL's origin (scheme, host and port):
///   never to a redirect target of another origin, even an allowed one.
/// - One deadline (`timeout`) covers every hop.
/// - The transport must not follow redirects itself (``HTTPClientTransport`` does not); a response from
///   another origin than the one asked is refused.
public struct HopByHopFetch {
    public static let redirectStatuses: Set<Int> = [301, 302, 303, 307, 308]
    public static let defaultMaximumRedirects = 5

    public var url: String
    public var headers: [(name: String, value: String)]
    public var credentials: (name: String, value: String)?
    public var timeout: Duration
    public var maximumBodyBytes: Int
    public var maximumRedirects: Int

    public init(
        url: String,
        headers: [(name: String, value: String)] = [],
        credentials: (name: String, value: String)? = nil,
        timeout: Duration,
        maximumBodyBytes: Int,
        maximumRedirects: Int = Self.defaultMaximumRedirects
    ) {
        self.url = url
        self.headers = headers
        self.credentials = credentials
        self.timeout = timeout
        self.maximumBodyBytes = maximumBodyBytes
        self.maximumRedirects = maximumRedirects
    }

    public struct Result: Sendable {
        public var head: TransportResponseHead
        /// The URL the answer came from (``url`` or the last redirect).
        public var finalURL: String
        /// Every redirect target followed, in order.
        public var redirects: [String]
        /// Whether the answering request carried the credentials.
        public var sentCredentials: Bool
    }

    /// - Parameter check: why `url` (hop `hop`: 0 is ``url``) may not be requested, or nil when it may.
    public func run<Sink: TransportBodySink>(
        transport: any ExotelTransport,
        into sink: inout Sink,
        check: (_ url: String, _ hop: Int) -> String?
    ) async throws(HopByHopFetchError) -> Result {
        let deadline = ContinuousClock.now + self.timeout
        let firstOrigin = Origin(url: self.url)
        var current = self.url
        var redirects: [String] = []
        var hop = 0
        while true {
            if let reason = check(current, hop) {
                throw .refused(hop: hop, url: current, reason: reason)
            }
            let origin = Origin(url: current)
            let withCredentials = self.credentials != nil && origin != nil && origin == firstOrigin
            var headers = self.headers
            if withCredentials, let credentials = self.credentials { headers.insert(credentials, at: 0) }
            let remaining = hop == 0 ? self.timeout : ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else {
                throw .transport(.exchangeFailed("the redirects took longer than \(self.timeout)"))
            }
            let request = TransportRequest(
                method: .get,
                url: current,
                headers: headers,
                timeout: remaining,
                maximumBodyBytes: self.maximumBodyBytes
            )
            var receiver = RedirectCatcher(inner: sink, origin: origin)
            let head: TransportResponseHead
            do throws(TransportError) {
                head = try await transport.download(request, into: &receiver)
            } catch {
                sink = receiver.inner
                throw .transport(error)
            }
            sink = receiver.inner
            if receiver.foreign || Origin(url: head.finalURL) != origin {
                throw .refused(
                    hop: hop + 1,
                    url: head.finalURL,
                    reason: "the HTTP transport followed a redirect by itself (it must not: every hop is checked first)"
                )
            }
            guard let location = receiver.location else {
                return Result(head: head, finalURL: current, redirects: redirects, sentCredentials: withCredentials)
            }
            hop += 1
            guard let next = URL(string: location, relativeTo: URL(string: current))?.absoluteURL.absoluteString,
                Origin(url: next) != nil
            else {
                throw .refused(
                    hop: hop,
                    url: location,
                    reason: "the redirect's Location is not an absolute http(s) URL"
                )
            }
            guard hop <= self.maximumRedirects else {
                throw .refused(hop: hop, url: next, reason: "more than \(self.maximumRedirects) redirects")
            }
            redirects.append(next)
            current = next
        }
    }
}

/// Why a ``HopByHopFetch`` stopped.
public enum HopByHopFetchError: Error, Sendable, Hashable {
    /// Hop `hop` (0 is the URL asked for, 1 the first redirect…) was not requested.
    case refused(hop: Int, url: String, reason: String)
    case transport(TransportError)
}

/// Passes a response on to `inner`, except a redirect (its `Location` is kept and its body is not read) and
/// an answer from another origin than the one asked (a transport that followed a redirect by itself).
public struct RedirectCatcher<Inner: TransportBodySink>: TransportBodySink {
    public var inner: Inner
    /// The redirect's `Location` as sent, when the response was a redirect.
    public var location: String?
    /// The answer came from another origin than ``origin``; nothing of it was passed on.
    public var foreign = false
    let origin: Origin?

    public init(inner: Inner, origin: Origin?) {
        self.inner = inner
        self.origin = origin
    }

    public mutating func begin(_ head: TransportResponseHead) -> Bool {
        guard Origin(url: head.finalURL) == self.origin else {
            self.foreign = true
            return false
        }
        if HopByHopFetch.redirectStatuses.contains(head.status), let location = head.header("Location") {
            self.location = location.trimmingCharacters(in: .whitespaces)
            return false
        }
        return self.inner.begin(head)
    }

    public mutating func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        self.inner.write(bytes)
    }
}
