import ExorecTesting
import ExotelKit
import MediaStore
import Testing

@testable import Ingest

/// Socket-free twins of `BadInputTests`: the same messages driven straight into a ``StreamMachine``,
/// asserting the actions it returns (close code, close reason, what it reports) and the audio it emits.
@Suite struct StreamMachineBadInputTests {
    static func recorder(
        _ change: (inout StreamRecorder.Configuration) -> Void = { _ in }
    )
        -> StreamMachine
        .Configuration
    {
        var configuration = StreamMachine.Configuration()
        change(&configuration.recorder)
        return configuration
    }

    /// Frames `frames` of `script` as the WAV should hold them, silence where `missing`.
    static func expected(_ script: StreamScript, frames: Int, missing: Set<Int> = []) -> [Int16] {
        (0..<frames).flatMap { missing.contains($0) ? [Int16](repeating: 0, count: 800) : script.pcm(frame: $0) }
    }

    @Test(arguments: [
        ("json", #"{"event":"media","media":{"payload":"AAAA"#),
        ("json", #"{"event":"media",}"#),
        ("not-object", #"["media"]"#),
        ("missing-event", #"{"media":{"payload":"AAAA"}}"#),
        ("base64", #"{"event":"media","media":{"chunk":"3","timestamp":"200","payload":"!!!!"}}"#),
        ("odd-pcm", #"{"event":"media","media":{"chunk":"3","timestamp":"200","payload":"AA=="}}"#),
        ("field", #"{"event":"media","media":{"chunk":"x","timestamp":"200","payload":"AAAA"}}"#),
    ])
    func invalidMessageIsDroppedCountedAndTheStreamGoesOn(kind: String, message: String) throws {
        let h = MachineHarness()
        let script = StreamScript(streamSid: "badstream", seed: 4)
        h.send(script.start())
        h.send(script.media(frame: 0))
        h.send(script.media(frame: 1))
        h.send(message)  // would have been frame 2
        h.send(message)  // counted twice, logged once
        h.send(script.media(frame: 3))
        h.send(script.media(frame: 4))
        h.send(script.stop())
        #expect(h.closeCode == 1000)
        let bad = try #require(h.finished)
        #expect(bad.invalidMessages == [kind: 2])
        #expect(bad.gaps == [.init(channel: 0, startMs: 200, durationMs: 100)])
        #expect(bad.frames == 5 * 800)
        #expect(h.errors == [kind: 2])
        #expect(h.reportedKinds == [kind])
        #expect(h.written == Self.expected(script, frames: 5, missing: [2]))
    }

    @Test func mediaBeforeStartAndSecondStartAreIgnoredAndCounted() throws {
        let h = MachineHarness()
        let script = StreamScript(streamSid: "early", seed: 8)
        h.send(script.media(frame: 0))
        h.send(script.start())
        h.send(StreamScript(streamSid: "other", seed: 1).start())
        for i in 0..<2 { h.send(script.media(frame: i)) }
        h.send(script.stop())
        let early = try #require(h.finished)
        #expect(early.streamSid == "early")
        #expect(early.invalidMessages == ["duplicate-start": 1])
        #expect(early.frames == 1600)
        #expect(h.errors == ["media-before-start": 1, "duplicate-start": 1])
        #expect(h.startedPublished == 1)
        #expect(h.written == Self.expected(script, frames: 2))
    }

    @Test func binaryFrameClosesWith1003AfterFinalizing() throws {
        let h = MachineHarness()
        let script = StreamScript(streamSid: "binary", seed: 2)
        h.send(script.start())
        h.send(script.media(frame: 0))
        h.sendBinary()
        #expect(h.closeCode == 1003)
        let binary = try #require(h.finished)
        #expect(binary.closeReason == "binary-message")
        #expect(binary.frames == 800)
        #expect(h.written == Self.expected(script, frames: 1))
        h.send(script.media(frame: 1))  // after the end: nothing more happens
        #expect(h.written.count == 800 && h.closes.count == 1)
    }

    /// The server closes an oversized message's socket itself (1009): the machine only ends the stream.
    @Test func messageOverTheSizeLimitClosesWith1009() throws {
        let h = MachineHarness()
        h.maxMessageBytes = 64 * 1024
        let script = StreamScript(streamSid: "huge", seed: 2)
        h.send(script.start())
        h.send(script.media(frame: 0))
        h.send(String(repeating: "x", count: 100 * 1024))
        #expect(h.closes.isEmpty, "no close frame from the machine: the server answers 1009")
        let huge = try #require(h.finished)
        #expect(huge.closeReason == "message-too-large")
        #expect(huge.frames == 800)
        #expect(h.errors == ["message-too-large": 1])
    }

    @Test func unsupportedRateInMediaFormatClosesWith1003() {
        let h = MachineHarness()
        h.send(StreamScript(streamSid: "rate44", seed: 2).start(mediaFormatRate: 44100))
        #expect(h.closeCode == 1003)
        #expect(h.created == nil && h.startedPublished == 0 && h.finished == nil)
    }

    /// The refusal itself happens at the upgrade; what reaches the machine is the rate the URL asked
    /// for, which wins over the start's (even a broken one).
    @Test func unknownSampleRateInTheUrlIsRefusedAtUpgrade() throws {
        var configuration = StreamMachine.Configuration()
        configuration.requestedRate = 16000
        let h = MachineHarness(configuration)
        h.send(StreamScript(streamSid: "urlrate", seed: 2).start(mediaFormatRate: 44100))
        #expect(h.closes.isEmpty)
        #expect(h.created?.sampleRate == 16000)
        #expect(StreamMachine.supportedRates == [8000, 16000, 24000])
    }

    @Test(arguments: BadInputTests.unsafeIdentifierStarts)
    func identifiersThatCannotBePathsAreRefusedWith1008(start: String, field: String) throws {
        let h = MachineHarness()
        h.send(start)
        let close = try #require(h.closes.first)
        #expect(close.code == .policyViolation)
        #expect(close.reason.contains(field))
        #expect(h.created == nil, "no file is reserved")
    }

    @Test func clientThatVanishesIsFinalizedAsDisconnected() throws {
        let h = MachineHarness()
        let script = StreamScript(streamSid: "vanish", seed: 1)
        h.send(script.start())
        h.send(script.media(frame: 0))
        h.disconnect()
        let done = try #require(h.finished)
        #expect(done.closeReason == "disconnected")
        #expect(done.frames == 800)
        #expect(h.closes.isEmpty)
        #expect(h.written == Self.expected(script, frames: 1))
    }

    @Test func clientThatGoesQuietTimesOutAndIsClosedNormally() throws {
        var configuration = StreamMachine.Configuration()
        configuration.idleTimeoutMs = 1000
        let h = MachineHarness(configuration)
        let script = StreamScript(streamSid: "quiet", seed: 2)
        h.send(script.start())
        h.send(script.media(frame: 0))
        h.housekeeping(advanceMs: 999)
        #expect(h.closes.isEmpty && h.finished == nil)
        h.housekeeping(advanceMs: 1)
        #expect(h.closeCode == 1000)
        let done = try #require(h.finished)
        #expect(done.closeReason == "idle-timeout")
        #expect(done.frames == 800)
        #expect(h.errors == ["idle-timeout": 1])
    }

    @Test func timestampJumpBeyondTheMaximumGapEndsTheStream() throws {
        let h = MachineHarness(Self.recorder { $0.maxGapMs = 2000 })
        let script = StreamScript(streamSid: "jump", seed: 1)
        h.send(script.start())
        h.send(script.media(frame: 0))
        h.send(script.media(frame: 50))  // 5 s ahead
        #expect(h.closeCode == 1008)
        let sidecar = try #require(h.finished)
        #expect(sidecar.closeReason == "gap-too-large; media.timestamp 5000 lies more than 2 s ahead")
        #expect(sidecar.frames == 800)
    }
}
