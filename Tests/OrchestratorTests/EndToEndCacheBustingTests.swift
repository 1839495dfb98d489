import Catalog
import Crypto
import ExotelKit
import ExotelSimulator
import Foundation
import MediaStore
import Orchestrator
import Testing

/// Issue 4's acceptance: cache-busting is proven. The platform (the simulator) caches prompt audio by URL, like
/// Exotel; a WaitUrl file changed at its origin is played on the next call that exorec places, because the placer
/// versions the URL by the audio's content; the same file behind the raw, unbusted URL keeps playing the stale
/// audio. The proof is in what the caller heard: the stream (StreamBegin at leg 1) carries the wait audio while
/// leg 2 rings.
@Suite("End to end: prompt cache-busting", .timeLimit(.minutes(2)))
struct EndToEndCacheBustingTests {
    static let oldTone = 2000.0
    static let newTone = 3000.0
    static let path = "/prompts/hold.wav"
    static let query = "?campaign=spring"

    /// Leg 1 answers at 3 s, leg 2 at 6 s, the call ends at 8 s: the stream's first 3 s are the wait audio over leg
    /// 1's voice, the last 2 s the conversation.
    static let scenario = Scenario(defaultRingSeconds: 3, defaultTalkSeconds: 2)
    static let ringing = 3.0

    struct Heard: CustomStringConvertible {
        var old: Double
        var new: Double
        var description: String { "old tone \(self.old), new tone \(self.new)" }
    }

    /// The power of each tone in the ringing part of the call's stream.
    static func heardWhileRinging(_ sid: String, in harness: PipelineHarness) async throws -> Heard {
        let stream = try #require(try await harness.catalog.streams(callSid: sid).first)
        let (info, samples) = try PipelineHarness.samples(harness.absolute(stream.path))
        #expect(info.sampleRate == 8000)
        let ringing = PipelineHarness.window(samples, from: 0.2, to: Self.ringing - 0.2)
        return Heard(
            old: PipelineHarness.tonePower(ringing, frequency: Self.oldTone, sampleRate: 8000),
            new: PipelineHarness.tonePower(ringing, frequency: Self.newTone, sampleRate: 8000)
        )
    }

    @Test(arguments: CatalogTestBackend.all)
    func anUpdatedWaitFileIsPlayedAfterTheChangeAndTheUnbustedURLPlaysTheStaleOne(
        backend: CatalogTestBackend
    ) async throws {
        let options = PipelineHarness.Options(
            rate: 20,
            scenario: Self.scenario,
            streamBegin: .leg1Connect,
            waitURLPath: Self.path + Self.query
        )
        try await PipelineHarness.run(options, backend: backend) { harness in
            let rawURL = harness.origin.url(Self.path + Self.query)
            let version1 = PipelineHarness.toneWAV(frequency: Self.oldTone, seconds: 1)
            let version2 = PipelineHarness.toneWAV(frequency: Self.newTone, seconds: 1)
            harness.origin.set(Self.path, version1)

            func place(_ number: Int, raw: Bool) async throws -> String {
                let order = CallOrder(from: "+91990000\(number)", destination: .number("+91990001\(number)"))
                let sid: String
                if raw {
                    // The request the placer would send, with the prompt's original URL put back: what a
                    // placement without cache-busting sends.
                    sid = try await harness.placeRaw(order) { $0.waitURL = rawURL }.callSid
                } else {
                    sid = try await harness.place(order).callSid
                }
                try await harness.settle(sid)
                return sid
            }

            // Before the change: the raw URL and the busted one both play version 1 (the raw URL is now cached).
            let rawBefore = try await place(7001, raw: true)
            let bustedBefore = try await place(7002, raw: false)
            harness.origin.set(Self.path, version2)  // the file at the origin changes
            let rawAfter = try await place(7003, raw: true)
            let bustedAfter = try await place(7004, raw: false)

            // What was sent: the placer's URL carries the content's version, which changed with the file.
            func sentWaitURL(_ sid: String) async throws -> String {
                try #require(try await harness.catalog.call(sid: sid)?.parameters["WaitUrl"])
            }
            let sentBefore = try await sentWaitURL(bustedBefore)
            let sentAfter = try await sentWaitURL(bustedAfter)
            #expect(sentBefore != sentAfter, "a changed file gets a new URL")
            #expect(sentBefore == (try CacheBusting.url(rawURL, contentDigest: SHA256.hash(data: version1))))
            #expect(sentAfter == (try CacheBusting.url(rawURL, contentDigest: SHA256.hash(data: version2))))
            for sent in [sentBefore, sentAfter] {
                #expect(sent.hasPrefix(rawURL + "&v="), "the original query is kept and a version added: \(sent)")
            }
            #expect(try await sentWaitURL(rawBefore) == rawURL)
            #expect(try await sentWaitURL(rawAfter) == rawURL)

            // What the platform played, by the sha256 of the bytes it used.
            let played = Dictionary(
                await harness.platform.playedAudio().map { ($0.callSid, $0) },
                uniquingKeysWith: { first, _ in first }
            )
            let sha1 = PipelineHarness.sha256(version1)
            let sha2 = PipelineHarness.sha256(version2)
            #expect(played[rawBefore]?.sha256 == sha1 && played[rawBefore]?.fromCache == false)
            #expect(played[bustedBefore]?.sha256 == sha1)
            #expect(played[rawAfter]?.sha256 == sha1, "the unbusted URL is served from the platform's cache: stale")
            #expect(played[rawAfter]?.fromCache == true)
            #expect(played[bustedAfter]?.sha256 == sha2, "the busted URL is fetched anew: the new file")
            #expect(played[bustedAfter]?.fromCache == false)
            #expect(played.values.allSatisfy { $0.playedTo == "caller" })

            // What the caller heard while leg 2 rang, in the recorded streams.
            let heardRawBefore = try await Self.heardWhileRinging(rawBefore, in: harness)
            let heardBustedBefore = try await Self.heardWhileRinging(bustedBefore, in: harness)
            let heardRawAfter = try await Self.heardWhileRinging(rawAfter, in: harness)
            let heardBustedAfter = try await Self.heardWhileRinging(bustedAfter, in: harness)
            #expect(heardRawBefore.old > 1e5 && heardRawBefore.new < 1e3, "\(heardRawBefore)")
            #expect(heardBustedBefore.old > 1e5 && heardBustedBefore.new < 1e3, "\(heardBustedBefore)")
            #expect(
                heardRawAfter.old > 1e5 && heardRawAfter.new < 1e3,
                "stale audio behind the unbusted URL: \(heardRawAfter)"
            )
            #expect(
                heardBustedAfter.new > 1e5 && heardBustedAfter.old < 1e3,
                "the updated file after the change: \(heardBustedAfter)"
            )

            // The wait audio stops when leg 2 answers: the conversation part has the legs only.
            let stream = try #require(try await harness.catalog.streams(callSid: bustedAfter).first)
            let samples = try PipelineHarness.samples(harness.absolute(stream.path)).samples
            let talk = PipelineHarness.window(samples, from: Self.ringing + 0.3, to: Self.ringing + 1.7)
            #expect(PipelineHarness.tonePower(talk, frequency: Self.newTone, sampleRate: 8000) < 1e3)
            #expect(PipelineHarness.tonePower(talk, frequency: PipelineHarness.leg2Tone, sampleRate: 8000) > 1e5)
        }
    }
}
