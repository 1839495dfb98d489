import ExotelKit
import Foundation
import MediaStore
import Synchronization
import Testing

@testable import Orchestrator

/// Prompt audio is checked (WAV only, under 2 MB) and cache-busted by its content before any call.
@Suite("Placement: prompt audio")
struct PromptPreparerTests {
    final class TableFetcher: PromptAudioFetching {
        let files: Mutex<[String: [UInt8]]>
        let fetches = Mutex(0)
        init(_ files: [String: [UInt8]]) { self.files = Mutex(files) }
        func fetch(url: String, limit: Int) async throws -> [UInt8] {
            self.fetches.withLock { $0 += 1 }
            guard let bytes = self.files.withLock({ $0[url] }) else { throw PromptFetchFailure(message: "HTTP 404") }
            guard bytes.count <= limit else { throw PromptFetchFailure(message: "larger than \(limit) bytes") }
            return bytes
        }
    }

    static func wav(frequency: Double, frames: Int = 8000) -> [UInt8] {
        ToneWAV.bytes(frequency: frequency, seconds: Double(frames) / 8000)
    }

    @Test func aWAVGetsAVersionFromItsContentAndKeepsItsOtherParameters() async throws {
        let url = "https://cdn.example/hold.wav?campaign=spring"
        let fetcher = TableFetcher([url: Self.wav(frequency: 440)])
        let preparer = PromptPreparer(fetcher: fetcher, reuseFor: .zero)
        let first = try await preparer.prepare(url, parameter: "WaitUrl")
        #expect(first.url.hasPrefix("https://cdn.example/hold.wav?campaign=spring&v="))
        #expect(first.sampleRate == 8000 && first.channels == 1 && abs(first.seconds - 1) < 0.01)
        #expect(
            try await preparer.prepare(url, parameter: "WaitUrl").url == first.url,
            "unchanged audio keeps its URL (and cache)"
        )
        fetcher.files.withLock { $0[url] = Self.wav(frequency: 880) }
        let changed = try await preparer.prepare(url, parameter: "WaitUrl")
        #expect(changed.url != first.url && changed.sha256 != first.sha256, "changed audio gets a new URL")
    }

    @Test func aPreparedURLIsReusedForAWhile() async throws {
        let url = "https://cdn.example/hold.wav"
        let fetcher = TableFetcher([url: Self.wav(frequency: 440)])
        let preparer = PromptPreparer(fetcher: fetcher, reuseFor: .seconds(3600))
        _ = try await preparer.prepare(url, parameter: "WaitUrl")
        _ = try await preparer.prepare(url, parameter: "WaitUrl")
        #expect(fetcher.fetches.withLock { $0 } == 1)
    }

    @Test(arguments: [
        (
            "mp3", Array("ID3\u{4}\u{0}mp3 data here".utf8),
            "not a WAV file (it starts with \"ID3.\"); the platform plays WAV only"
        ),
        (
            "html", Array("<html>404</html>".utf8),
            "not a WAV file (it starts with \"<htm\"); the platform plays WAV only"
        ),
        ("big", [UInt8](repeating: 0, count: 2 * 1024 * 1024), "cannot fetch it: larger than 2097151 bytes"),
    ])
    func badAudioIsAClearErrorBeforeAnyCall(name: String, bytes: [UInt8], reason: String) async throws {
        let url = "https://cdn.example/\(name)"
        let preparer = PromptPreparer(fetcher: TableFetcher([url: bytes]))
        let error = await #expect(throws: PromptAudioError.self) {
            try await preparer.prepare(url, parameter: "WaitUrl")
        }
        #expect(error?.reason == reason)
        #expect(error?.description == "WaitUrl \(url): \(reason)")
    }

    @Test func aTruncatedWAVIsRefused() async throws {
        let url = "https://cdn.example/broken.wav"
        let preparer = PromptPreparer(fetcher: TableFetcher([url: Array(Self.wav(frequency: 440).prefix(30))]))
        let error = await #expect(throws: PromptAudioError.self) {
            try await preparer.prepare(url, parameter: "StartPlaybackValueNew")
        }
        #expect(error?.reason.contains("libsndfile cannot read") == true, "\(String(describing: error))")
    }

    @Test func theStreamURLCarriesTheCredentialsAndParameters() {
        let settings = PlacementSettings(
            callerId: "08047112345",
            streamURL: "wss://rec.example.com/v1/streams",
            streamUsername: "exotel",
            streamPassword: "p@ss word",
            streamQuery: [("sample-rate", "16000")],
            statusCallbackURL: "https://rec.example.com/cb"
        )
        #expect(
            CallPlacer.streamURL(settings) == "wss://exotel:p%40ss%20word@rec.example.com/v1/streams?sample-rate=16000"
        )
    }
}
