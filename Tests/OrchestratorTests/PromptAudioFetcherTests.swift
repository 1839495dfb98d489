import ExotelClient
import ExotelKit
import Foundation
import MediaStore
import Testing

@testable import Orchestrator

/// The prompt-audio fetch is confined like the recording downloads: each redirect hop's scheme, host and
/// port is checked before it is requested, and the body is bounded. Real HTTP servers on loopback.
@Suite struct PromptAudioFetcherTests {
    static let wav = ToneWAV.bytes(frequency: 440, seconds: 0.5)

    @Test func aRedirectToAnotherOriginGetsNoRequest() async throws {
        let prompts = ScriptedOrigin()
        let inside = ScriptedOrigin(host: "127.0.0.2")
        try await ScriptedOrigin.withOrigins([prompts, inside]) {
            prompts.answer("/hold.wav", .redirect(to: inside.url("/latest/meta-data")))
            inside.answer("/latest/meta-data", .audio(Self.wav, contentType: "audio/wav"))
            let preparer = PromptPreparer(fetcher: HTTPPromptAudioFetcher(), reuseFor: .zero)

            await #expect(throws: PromptAudioError.self) {
                try await preparer.prepare(prompts.url("/hold.wav"), parameter: "WaitUrl")
            }
            #expect(inside.requests.isEmpty, "the redirect target was reached: \(inside.requests)")
        }
    }

    @Test func aPortOutsideTheAllowlistGetsNoRequest() async throws {
        let prompts = ScriptedOrigin()
        let other = ScriptedOrigin()
        try await ScriptedOrigin.withOrigins([prompts, other]) {
            other.answer("/hold.wav", .audio(Self.wav, contentType: "audio/wav"))
            let allowlist = try OriginAllowlist(parsing: [prompts.authority], schemes: ["http"])
            let fetcher = HTTPPromptAudioFetcher(allowedOrigins: allowlist)

            await #expect(throws: (any Error).self) {
                try await fetcher.fetch(url: other.url("/hold.wav"), limit: 1 << 20)
            }
            #expect(other.requests.isEmpty)
        }
    }

    @Test func aSameOriginRedirectIsFollowed() async throws {
        let prompts = ScriptedOrigin()
        try await ScriptedOrigin.withOrigins([prompts]) {
            prompts.answer("/hold.wav", .redirect(to: "/v2/hold.wav", status: 307))
            prompts.answer("/v2/hold.wav", .audio(Self.wav, contentType: "audio/wav"))
            let bytes = try await HTTPPromptAudioFetcher().fetch(url: prompts.url("/hold.wav"), limit: 1 << 20)
            #expect(bytes == Self.wav)
        }
    }

    @Test func anOversizedPromptIsNotRead() async throws {
        let prompts = ScriptedOrigin()
        try await ScriptedOrigin.withOrigins([prompts]) {
            prompts.answer("/big.wav", .audio([UInt8](repeating: 0, count: 64 << 10), contentType: "audio/wav"))
            await #expect(throws: (any Error).self) {
                try await HTTPPromptAudioFetcher().fetch(url: prompts.url("/big.wav"), limit: 1 << 10)
            }
        }
    }
}
