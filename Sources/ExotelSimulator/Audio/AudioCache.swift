public import AsyncHTTPClient
import Crypto
import ExotelKit
import NIOCore
import NIOHTTP1

/// Fetches the bytes behind an audio URL (WaitUrl, StartPlaybackValueNew).
public protocol AudioFetching: Sendable {
    func fetch(url: String) async throws -> [UInt8]
}

/// Why an audio URL gave no audio.
public struct AudioFetchError: Error, Sendable, Hashable {
    public let url: String
    public let message: String
}

/// `AudioFetching` over HTTP GET.
public struct HTTPAudioFetcher: AudioFetching {
    /// The platform's limit for WaitUrl files (exotel-platform.md §2).
    public static let maximumBytes = 2 * 1024 * 1024
    let httpClient: HTTPClient

    public init(httpClient: HTTPClient) {
        self.httpClient = httpClient
    }

    public func fetch(url: String) async throws -> [UInt8] {
        let request = HTTPClientRequest(url: url)
        let response = try await self.httpClient.execute(request, timeout: .seconds(30))
        guard (200..<300).contains(response.status.code) else {
            throw AudioFetchError(url: url, message: "HTTP \(response.status.code)")
        }
        let body = try await response.body.collect(upTo: Self.maximumBytes)
        return Array(buffer: body)
    }
}

/// The platform's audio URL cache: a URL fetched once is served from memory from then on, so a file
/// changed behind an unchanged URL is not picked up; only a different URL (cache-busting) is fetched anew.
actor AudioCache {
    private let fetcher: any AudioFetching
    private var entries: [String: [UInt8]] = [:]

    init(fetcher: any AudioFetching) {
        self.fetcher = fetcher
    }

    /// The bytes for `url`, whether they came from the cache, and their SHA-256 (hex).
    func audio(for url: String) async throws -> (bytes: [UInt8], fromCache: Bool, sha256: String) {
        if let cached = self.entries[url] {
            return (cached, true, Self.sha256Hex(cached))
        }
        let bytes = try await self.fetcher.fetch(url: url)
        // Two calls fetching the same new URL at once: the first to finish defines the cached version.
        if let cached = self.entries[url] {
            return (cached, true, Self.sha256Hex(cached))
        }
        self.entries[url] = bytes
        return (bytes, false, Self.sha256Hex(bytes))
    }

    static func sha256Hex(_ bytes: [UInt8]) -> String {
        HexText.lowercase(SHA256.hash(data: bytes))
    }
}
