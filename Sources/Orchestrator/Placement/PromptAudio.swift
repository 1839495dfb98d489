public import AsyncHTTPClient
import Crypto
public import ExotelKit
import MediaStore
import NIOCore
import NIOHTTP1
import Synchronization

/// Why a `WaitUrl` / `StartPlaybackValueNew` cannot be used; raised before any call is placed.
public struct PromptAudioError: Error, Sendable, Hashable, CustomStringConvertible {
    public var parameter: String
    public var url: String
    public var reason: String

    public var description: String { "\(self.parameter) \(self.url): \(self.reason)" }
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

/// `PromptAudioFetching` over AsyncHTTPClient.
public struct HTTPPromptAudioFetcher: PromptAudioFetching {
    let httpClient: HTTPClient

    public init(httpClient: HTTPClient) {
        self.httpClient = httpClient
    }

    public func fetch(url: String, limit: Int) async throws -> [UInt8] {
        let response = try await self.httpClient.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
        guard (200..<300).contains(response.status.code) else {
            throw PromptFetchFailure(message: "HTTP \(response.status.code)")
        }
        do {
            return Array(buffer: try await response.body.collect(upTo: limit))
        } catch is NIOTooManyBytesError {
            throw PromptFetchFailure(message: "larger than \(limit) bytes")
        }
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

    public init(fetcher: any PromptAudioFetching, clock: ScaledClock = ScaledClock(rate: 1), reuseFor: Duration = .seconds(60)) {
        self.fetcher = fetcher
        self.clock = clock
        self.reuseFor = reuseFor
    }

    public func prepare(_ url: String, parameter: String) async throws(PromptAudioError) -> PreparedPrompt {
        let now = self.clock.now
        if let reusable = self.prepared.withLock({ $0[url] }), reusable.at.duration(to: now) < self.reuseFor {
            return reusable.prompt
        }
        func failure(_ reason: String) -> PromptAudioError { PromptAudioError(parameter: parameter, url: url, reason: reason) }
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
            url: busted, originalURL: url, sha256: HexText.lowercase(digest), bytes: bytes.count,
            sampleRate: info.sampleRate, channels: info.channels, seconds: Double(info.frames) / Double(max(info.sampleRate, 1)))
        self.prepared.withLock { $0[url] = (prompt, now) }
        return prompt
    }

}
