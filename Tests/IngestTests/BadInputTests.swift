import ExorecTesting
import ExotelKit
import Foundation
import Ingest
import MediaStore
import Testing

/// Each kind of bad input has one defined outcome, and none of them touches another stream: every
/// test runs a well-behaved stream alongside the bad one and checks it arrives sample-exact.
@Suite(.timeLimit(.minutes(1))) struct BadInputTests {
    /// Messages that are dropped and counted; the stream goes on and the lost frame becomes a gap.
    @Test(arguments: [
        ("json", #"{"event":"media","media":{"payload":"AAAA"#),
        ("json", #"{"event":"media",}"#),
        ("not-object", #"["media"]"#),
        ("missing-event", #"{"media":{"payload":"AAAA"}}"#),
        ("base64", #"{"event":"media","media":{"chunk":"3","timestamp":"200","payload":"!!!!"}}"#),
        ("odd-pcm", #"{"event":"media","media":{"chunk":"3","timestamp":"200","payload":"AA=="}}"#),
        ("field", #"{"event":"media","media":{"chunk":"x","timestamp":"200","payload":"AAAA"}}"#),
    ])
    func invalidMessageIsDroppedCountedAndTheStreamGoesOn(kind: String, message: String) async throws {
        try await withTestIngest { ingest in
            let done = try await alongsideGoodStream(ingest) { ingest in
                let script = StreamScript(streamSid: "badstream", seed: 4)
                let client = try TestWebSocketClient(port: ingest.port)
                try client.sendText(script.start())
                try client.sendText(script.media(frame: 0))
                try client.sendText(script.media(frame: 1))
                try client.sendText(message)  // would have been frame 2
                try client.sendText(message)  // counted twice, logged once
                try client.sendText(script.media(frame: 3))
                try client.sendText(script.media(frame: 4))
                try client.sendText(script.stop())
                #expect(try await client.closed()?.code == 1000)
            }
            let bad = try #require(done.first { $0.streamSid == "badstream" })
            #expect(bad.invalidMessages == [kind: 2])
            #expect(bad.gaps == [.init(channel: 0, startMs: 200, durationMs: 100)])
            #expect(bad.frames == 5 * 800)
        }
    }

    @Test func mediaBeforeStartAndSecondStartAreIgnoredAndCounted() async throws {
        try await withTestIngest { ingest in
            let done = try await alongsideGoodStream(ingest) { ingest in
                let script = StreamScript(streamSid: "early", seed: 8)
                let client = try TestWebSocketClient(port: ingest.port)
                try client.sendText(script.media(frame: 0))
                try client.sendText(script.start())
                try client.sendText(StreamScript(streamSid: "other", seed: 1).start())
                for i in 0..<2 { try client.sendText(script.media(frame: i)) }
                try client.sendText(script.stop())
                _ = try await client.closed()
            }
            let early = try #require(done.first { $0.streamSid == "early" })
            #expect(early.invalidMessages == ["duplicate-start": 1])
            #expect(early.frames == 1600)
            #expect(!done.contains { $0.streamSid == "other" })
        }
    }

    /// Input after which the stream cannot go on: finalized, then closed with the fitting code.
    @Test func binaryFrameClosesWith1003AfterFinalizing() async throws {
        try await withTestIngest { ingest in
            let done = try await alongsideGoodStream(ingest) { ingest in
                let script = StreamScript(streamSid: "binary", seed: 2)
                let client = try TestWebSocketClient(port: ingest.port)
                try client.sendText(script.start())
                try client.sendText(script.media(frame: 0))
                try client.sendBinary([1, 2, 3, 4])
                #expect(try await client.closed()?.code == 1003)
            }
            let binary = try #require(done.first { $0.streamSid == "binary" })
            #expect(binary.state == .complete)
            #expect(binary.closeReason == "binary-message")
            #expect(binary.frames == 800)
        }
    }

    @Test func messageOverTheSizeLimitClosesWith1009() async throws {
        try await withTestIngest(configure: { $0.server.maxMessageBytes = 64 * 1024 }) { ingest in
            let done = try await alongsideGoodStream(ingest) { ingest in
                let script = StreamScript(streamSid: "huge", seed: 2)
                let client = try TestWebSocketClient(port: ingest.port)
                try client.sendText(script.start())
                try client.sendText(script.media(frame: 0))
                try client.sendText(String(repeating: "x", count: 100 * 1024))
                #expect(try await client.closed()?.code == 1009)
            }
            let huge = try #require(done.first { $0.streamSid == "huge" })
            #expect(huge.closeReason == "message-too-large")
            #expect(huge.frames == 800)
        }
    }

    @Test func unsupportedRateInMediaFormatClosesWith1003() async throws {
        try await withTestIngest { ingest in
            _ = try await alongsideGoodStream(ingest, expectFinished: 1) { ingest in
                let script = StreamScript(streamSid: "rate44", seed: 2)
                let client = try TestWebSocketClient(port: ingest.port)
                try client.sendText(script.start(mediaFormatRate: 44100))
                #expect(try await client.closed()?.code == 1003)
            }
            #expect(ingest.startedStreams.allSatisfy { $0.streamSid != "rate44" })
        }
    }

    @Test func unknownSampleRateInTheUrlIsRefusedAtUpgrade() async throws {
        try await withTestIngest { ingest in
            let unknownRate = try TestWebSocketClient.refusal(port: ingest.port, path: "/v1/streams?sample-rate=11025")
            let notANumber = try TestWebSocketClient.refusal(port: ingest.port, path: "/v1/streams?sample_rate=abc")
            #expect(unknownRate == 400)
            #expect(notANumber == 400)
        }
    }

    /// Start events whose identifier cannot become a path, and the field named (shared with the socket-free twin).
    static let unsafeIdentifierStarts: [(String, String)] = [
        (
            #"{"event":"start","stream_sid":"../../etc","start":{"stream_sid":"../../etc","call_sid":"CA1","account_sid":"acct1"}}"#,
            "stream_sid"
        ),
        (
            #"{"event":"start","stream_sid":"ok1","start":{"stream_sid":"ok1","call_sid":"CA/1","account_sid":"acct1"}}"#,
            "call_sid"
        ),
        // A missing account no longer refuses a stream (issue 12); a given one must still be path-safe.
        (
            #"{"event":"start","stream_sid":"ok2","start":{"stream_sid":"ok2","call_sid":"CA1","account_sid":"../acct"}}"#,
            "account_sid"
        ),
    ]

    @Test(arguments: Self.unsafeIdentifierStarts)
    func identifiersThatCannotBePathsAreRefusedWith1008(start: String, field: String) async throws {
        try await withTestIngest { ingest in
            let client = try TestWebSocketClient(port: ingest.port)
            try client.sendText(start)
            let close = try #require(try await client.closed())
            #expect(close.code == 1008)
            #expect(close.reason.contains(field))
            #expect(FileSystem.files(under: ingest.storageRoot, withSuffix: ".wav").isEmpty)
        }
    }

    // The two outcomes are separate tests: with one short idle timeout for both, a loaded machine
    // could let the vanishing client's stream time out before its reset was even sent.
    @Test func clientThatVanishesIsFinalizedAsDisconnected() async throws {
        try await withTestIngest(configure: { $0.idleTimeoutMs = 600_000 }) { ingest in
            let vanishing = StreamScript(streamSid: "vanish", seed: 1)
            let client = try TestWebSocketClient(port: ingest.port)
            try client.sendText(vanishing.start())
            try client.sendText(vanishing.media(frame: 0))
            try await ingest.waitForStarted(1)
            // The media frame must be read before the reset: a reset discards data still in the
            // server's receive buffer, and this test is about finalizing what was received.
            try await ingest.waitForMediaFrames(1)
            client.abort()
            let done = try #require(try await ingest.waitForFinished(1).first)
            #expect(done.streamSid == "vanish")
            #expect(done.closeReason == "disconnected")
            #expect(done.state == .complete && done.frames == 800, "\(done.state) \(done.frames)")
        }
    }

    @Test func clientThatGoesQuietTimesOutAndIsClosedNormally() async throws {
        try await withTestIngest(configure: { $0.idleTimeoutMs = 1000 }) { ingest in
            let quiet = StreamScript(streamSid: "quiet", seed: 2)
            let client = try TestWebSocketClient(port: ingest.port)
            try client.sendText(quiet.start())
            try client.sendText(quiet.media(frame: 0))
            try await ingest.waitForStarted(1)
            let close = try await client.closed(timeoutSeconds: 30)
            #expect(close?.code == 1000)
            let done = try #require(try await ingest.waitForFinished(1).first)
            #expect(done.streamSid == "quiet")
            #expect(done.closeReason == "idle-timeout")
            #expect(done.state == .complete && done.frames == 800, "\(done.state) \(done.frames)")
        }
    }

    @Test func timestampJumpBeyondTheMaximumGapEndsTheStream() async throws {
        try await withTestIngest(configure: { $0.recorder.maxGapMs = 2000 }) { ingest in
            let script = StreamScript(streamSid: "jump", seed: 1)
            let client = try TestWebSocketClient(port: ingest.port)
            try client.sendText(script.start())
            try client.sendText(script.media(frame: 0))
            try client.sendText(script.media(frame: 50))  // 5 s ahead
            #expect(try await client.closed()?.code == 1008)
            let sidecar = try #require(try await ingest.waitForFinished(1).first)
            #expect(sidecar.closeReason == "gap-too-large; media.timestamp 5000 lies more than 2 s ahead")
            #expect(sidecar.frames == 800)
        }
    }
}
