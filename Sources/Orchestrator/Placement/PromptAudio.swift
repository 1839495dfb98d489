public import AsyncHTTPClient
import Crypto
public import ExotelClient
public import ExotelKit
import Foundation
import MediaStore
import Synchronization

/// Why a `WaitUrl` / `StartPlaybackValueNew` cannot be used; raised before any call is placed.
public struct PromptAudioError: Error, Sendable, Hashable, CustomStringConvertible {
    public var parameter: String
    public var url: String
    public var reason: String

    /// The URL redacted (``URLRedaction``): a prompt URL can carry a token.
    public var description: String { "\(self.parameter) \(URLRedaction.redacting(self.url)): \(self.reason)" }
}

/// Prompt audio checked and ready to send: the URL carries a version parameter from the audio's
/// content hash, so the platform's URL-keyed cache plays changed audio at once and keeps serving
/// unchanged audio from cache.
public struct PreparedPrompt: Sendable, Hashable {
    /// The URL to send (the original with `v=<12 hex of sha256>` added or replaced).
    public var url: String
    public var originalURL: String
    public var sha256: String
    public var bytes: Int
    public var sampleRate: Int
    public var channels: Int
    public var seconds: Double
}

/// Fetches prompt audio (a seam: HTTP in production, a table in tests).
public protocol PromptAudioFetching: Sendable {
    /// The bytes behind `url`, at most `limit` of them (more is an error saying so).
    func fetch(url: String, limit: Int) async throws -> [UInt8]
}

/// `PromptAudioFetching` over HTTP, confined like the recording downloads: redirects are followed here, hop by
/// hop (at most ``HopByHopFetch/defaultMaximumRedirects``), and every hop's scheme, host and port must be in
/// the allowlist **before** it is requested. Without an allowlist, the prompt's own origin is the only one
/// allowed (a prompt host redirecting elsewhere, say to an internal address, gets no request through). The
/// body is bounded: an announced or actual length over the limit stops the read. No credentials are sent.
public struct HTTPPromptAudioFetcher: PromptAudioFetching {
    let transport: any ExotelTransport
    let allowedOrigins: OriginAllowlist?
    let timeout: Duration

    /// - Parameters:
    ///   - httpClient: must not follow redirects (the default does not).
    ///   - allowedOrigins: where prompts and their redirects may lead; nil allows each prompt's own origin only.
    public init(
        httpClient: HTTPClient = HTTPClientTransport.noRedirectsClient,
        allowedOrigins: OriginAllowlist? = nil,
        timeout: Duration = .seconds(30)
    ) {
        self.init(
            transport: HTTPClientTransport(httpClient: httpClient),
            allowedOrigins: allowedOrigins,
            timeout: timeout
        )
    }

    public init(
        transport: any ExotelTransport,
        allowedOrigins: OriginAllowlist? = nil,
        timeout: Duration = .seconds(30)
    ) {
        self.transport = transport
        self.allowedOrigins = allowedOrigins
        self.timeout = timeout
    }

    public func fetch(url: String, limit: Int) async throws -> [UInt8] {
        guard let first = Origin(url: url) else {
            throw PromptFetchFailure(message: "not an http or https URL with a host")
        }
        let allowlist = self.allowedOrigins ?? OriginAllowlist(entries: [.init(origin: first)], schemes: [first.scheme])
        let fetch = HopByHopFetch(
            url: url,
            headers: [("Accept", "audio/*, */*;q=0.5")],
            timeout: self.timeout,
            maximumBodyBytes: limit
        )
        var sink = PromptBodySink(limit: limit)
        let result: HopByHopFetch.Result
        do {
            result = try await fetch.run(transport: self.transport, into: &sink) { hopURL, hop in
                guard let origin = Origin(url: hopURL) else { return "not an http or https URL" }
                guard allowlist.allows(origin) else {
                    return hop == 0
                        ? "\(origin) is not an allowed prompt origin"
                        : "redirect \(hop) leads to \(origin), outside the allowed prompt origins; nothing was sent there"
                }
                return nil
            }
        } catch {
            switch error {
            case .refused(_, _, let reason): throw PromptFetchFailure(message: reason)
            case .transport(let transportError): throw PromptFetchFailure(message: "\(transportError)")
            }
        }
        if sink.tooLarge { throw PromptFetchFailure(message: "larger than \(limit) bytes") }
        guard (200..<300).contains(result.head.status) else {
            throw PromptFetchFailure(message: "HTTP \(result.head.status)")
        }
        return sink.bytes
    }
}

/// Collects a 2xx body up to a limit; anything else is not read.
struct PromptBodySink: TransportBodySink {
    let limit: Int
    var bytes: [UInt8] = []
    var tooLarge = false

    init(limit: Int) {
        self.limit = limit
    }

    mutating func begin(_ head: TransportResponseHead) -> Bool {
        guard (200..<300).contains(head.status) else { return false }
        if let length = head.header("Content-Length").flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }),
            length > self.limit
        {
            self.tooLarge = true
            return false
        }
        return true
    }

    mutating func write(_ buffer: UnsafeRawBufferPointer) -> Bool {
        guard self.bytes.count + buffer.count <= self.limit else {
            self.tooLarge = true
            return false
        }
        self.bytes.append(contentsOf: buffer)
        return true
    }
}

struct PromptFetchFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { self.message }
}

/// Checks and cache-busts prompt audio before calls are placed (issue 4): WAV only and under 2 MB
/// (the platform's rules for `WaitUrl`, applied to `StartPlaybackValueNew` too, which the platform
/// plays the same way), version parameter from the content hash.
///
/// A prepared URL is reused for `reuseFor` (a campaign places many calls with the same prompts);
/// after that the audio is fetched again, so a file changed during a long campaign is picked up.
public final class PromptPreparer: Sendable {
    /// The platform's limit for WaitUrl files (exotel-platform.md §2): "< 2 MB".
    public static let maximumBytes = 2 * 1024 * 1024

    private let fetcher: any PromptAudioFetching
    private let clock: ScaledClock
    private let reuseFor: Duration
    private let prepared = Mutex<[String: (prompt: PreparedPrompt, at: ScaledClock.Instant)]>([:])

    public init(
        fetcher: any PromptAudioFetching,
        clock: ScaledClock = ScaledClock(rate: 1),
        reuseFor: Duration = .seconds(60)
    ) {
        self.fetcher = fetcher
        self.clock = clock
        self.reuseFor = reuseFor
    }

    public func prepare(_ url: String, parameter: String) async throws(PromptAudioError) -> PreparedPrompt {
        let now = self.clock.now
        if let reusable = self.prepared.withLock({ $0[url] }), reusable.at.duration(to: now) < self.reuseFor {
            return reusable.prompt
        }
        func failure(_ reason: String) -> PromptAudioError {
            PromptAudioError(parameter: parameter, url: url, reason: reason)
        }
        let bytes: [UInt8]
        do {
            bytes = try await self.fetcher.fetch(url: url, limit: Self.maximumBytes - 1)
        } catch {
            throw failure("cannot fetch it: \(error)")
        }
        let info: SoundFile.Info
        do {
            info = try AudioProbe.wavInfo(of: bytes)
        } catch {
            throw failure("\(error); the platform plays WAV only")
        }
        let digest = SHA256.hash(data: bytes)
        let busted: String
        do {
            busted = try CacheBusting.url(url, contentDigest: digest)
        } catch {
            throw failure("cannot add a version parameter: \(error)")
        }
        let prompt = PreparedPrompt(
            url: busted,
            originalURL: url,
            sha256: HexText.lowercase(digest),
            bytes: bytes.count,
            sampleRate: info.sampleRate,
            channels: info.channels,
            seconds: Double(info.frames) / Double(max(info.sampleRate, 1))
        )
        self.prepared.withLock { $0[url] = (prompt, now) }
        return prompt
    }

}
