import ExotelKit
import Foundation
import Logging
import MediaStore
import Testing

@testable import ExotelSimulator

func botMedia(milliseconds: Int, frequency: Double = EngineVoiceBotTests.botTone) -> StreamIncoming {
    .text(
        #"{"event":"media","stream_sid":"s","media":{"payload":"\#(tonePayload(frequency: frequency, milliseconds: milliseconds, sampleRate: 8000))"}}"#
    )
}

func botMark(_ name: String) -> StreamIncoming {
    .text(#"{"event":"mark","streamSid":"s","mark":{"name":"\#(name)"}}"#)
}

/// The rules of a bot's replies, on exact times (no clock): queueing, marks, clear, bad messages.
@Suite("Engine: voice bot replies (rules)")
struct BotRepliesTests {
    func replies() -> BotReplies { BotReplies(sampleRate: 8000, logger: Logger(label: "bot-replies-test")) }

    func tone(_ replies: BotReplies, from: Duration, milliseconds: Int = 100) -> Double {
        var samples = [Int16](repeating: 0, count: 8 * milliseconds)
        replies.add(into: &samples, outputStart: from, outputRate: 8000)
        return tonePower(samples, frequency: EngineVoiceBotTests.botTone, sampleRate: 8000)
    }

    @Test func repliesQueueBackToBackAndAMarkWaitsForTheAudioBeforeIt() {
        let replies = self.replies()
        replies.handle(botMedia(milliseconds: 1000), at: .milliseconds(500))
        replies.handle(botMedia(milliseconds: 500), at: .milliseconds(600))  // queued: plays 1.5 → 2.0 s
        replies.handle(botMark("done"), at: .milliseconds(600))
        #expect(self.tone(replies, from: .milliseconds(400)) < 1, "nothing before the first reply arrived")
        #expect(self.tone(replies, from: .milliseconds(1200)) > 1e5)
        #expect(self.tone(replies, from: .milliseconds(1800)) > 1e5, "the second reply follows the first")
        #expect(self.tone(replies, from: .milliseconds(2100)) < 1)
        #expect(replies.dueMarks(by: .milliseconds(1999)).isEmpty, "not before the audio sent before it has played")
        #expect(replies.dueMarks(by: .milliseconds(2000)) == ["done"])
        #expect(replies.dueMarks(by: .seconds(9)).isEmpty, "echoed once")
        #expect(
            replies.report.marksReceived == 1 && replies.report.marksEchoed == 1 && replies.report.mediaMessages == 2
        )
    }

    @Test func aMarkWithNothingQueuedIsDueAtOnce() {
        let replies = self.replies()
        replies.handle(botMark("ping"), at: .seconds(3))
        #expect(replies.dueMarks(by: .seconds(3)) == ["ping"])
    }

    @Test func clearDropsWhatHasNotStartedAndReleasesPendingMarks() {
        let replies = self.replies()
        replies.handle(botMedia(milliseconds: 500), at: .zero)  // 0 → 0.5 s
        replies.handle(botMedia(milliseconds: 3000), at: .zero)  // queued: 0.5 → 3.5 s
        replies.handle(botMark("after-long"), at: .zero)
        replies.handle(.text(#"{"event":"clear","stream_sid":"s"}"#), at: .milliseconds(200))
        #expect(replies.dueMarks(by: .milliseconds(200)) == ["after-long"], "released by the clear")
        #expect(self.tone(replies, from: .milliseconds(300)) > 1e5, "what was playing finishes")
        #expect(self.tone(replies, from: .seconds(1)) < 1, "the queued reply is gone")
        replies.handle(botMedia(milliseconds: 200), at: .milliseconds(300))
        #expect(self.tone(replies, from: .milliseconds(550)) > 1e5, "new audio queues after what is still playing")
        #expect(replies.report.clears == 1)
    }

    @Test func badMessagesAreCountedByReasonAndOddChunksFlagged() {
        let replies = self.replies()
        for message: StreamIncoming in [
            .text("not json"), .text(#"{"event":"media","media":{"payload":"AA=="}}"#),
            .text(#"{"event":"media","media":{"payload":"!!!!"}}"#), .text(#"{"event":"media"}"#),
            .text(#"{"event":"mark","mark":{}}"#), .text(#"{"event":"dance"}"#), .binary(bytes: 320),
        ] {
            replies.handle(message, at: .zero)
        }
        replies.handle(botMedia(milliseconds: 10), at: .zero)  // 160 bytes: played, flagged twice
        replies.handle(botMedia(milliseconds: 200), at: .zero)  // 3,200 bytes: by the book
        let report = replies.report
        #expect(
            report.rejected == [
                "not a JSON event": 1, "media payload of an odd number of bytes": 1, "media payload is not base64": 1,
                "media without media.payload": 1, "mark without mark.name": 1, "unknown event 'dance'": 1,
                "binary frame (the protocol is JSON text)": 1,
            ]
        )
        #expect(report.mediaMessages == 2 && report.audioBytes == 3360)
        #expect(report.flagged == ["under 3200 bytes": 1, "not a multiple of 320 bytes": 1])
    }
}

/// A voice-bot call end to end on the engine: the bot's replies are in the recording's bot channel
/// (never streamed back to it), its mark comes back, and its hang-up ends the call.
@Suite("Engine: voice bot (bidirectional stream)")
struct EngineVoiceBotTests {
    /// The caller answers at 1 s; without a hang-up the call would last a minute (12 s of real time
    /// at the tests' rate: room for a loaded machine to open the stream late).
    static let scenario = Scenario(defaultRingSeconds: 1, defaultTalkSeconds: 60)
    static let botTone = 1500.0

    func voiceBotRequest() -> ConnectCallRequest {
        var request = ConnectCallRequest(
            from: "09800000001",
            callerId: "08047000000",
            destination: .voiceBot(streamURL: "wss://bot.example/ws?sample-rate=8000", streamType: "bidirectional")
        )
        request.record = true
        request.recordingChannels = .dual
        return request
    }

    @Test func theBotIsHeardOnItsChannelItsMarkComesBackAndItsHangUpEndsTheCall() async throws {
        let script = FakeStreamConnector.BotScript(
            messages: [
                (.milliseconds(500), botMedia(milliseconds: 1000)),  // plays 0.5 → 1.5 s after the stream opened
                (.milliseconds(500), botMark("greeting-done")),
                (.seconds(3), .text(#"{"event":"mark","mark":{"name":"bye"}}"#)),  // then the bot hangs up
            ],
            hangUpAfterLast: true
        )
        let harness = EngineHarness(rate: 5, scenario: Self.scenario, bot: script)
        defer { harness.cleanUp() }
        let placed = await harness.place(self.voiceBotRequest())
        await harness.platform.waitUntilIdle()

        let connection = try #require(harness.streams.all.first)
        let origin = try #require(await harness.platform.origin(ofCall: placed.sid))
        // Script times count from when the stream opened, which a loaded machine may delay a little.
        let opened = origin.duration(to: connection.opened)
        let plan = try #require(await harness.platform.plan(ofCall: placed.sid))
        #expect(plan.end == opened + .seconds(3), "the call ended when the bot hung up")
        let details = try #require(await harness.platform.call(accountSid: "acme", sid: placed.sid))
        #expect(details.status == "completed")
        #expect(details.details?.conversationDuration == CallPlan.seconds(plan.end - .seconds(1)))
        let report = try #require(await harness.platform.botReport(ofCall: placed.sid))
        #expect(report.closedByBot && report.mediaMessages == 1 && report.marksReceived == 2)

        #expect(!connection.events().contains("stop"), "a closed socket gets no stop")
        let markIndex = try #require(connection.events().firstIndex(of: "mark"))
        #expect(connection.object(markIndex, "mark")?["name"] as? String == "greeting-done")
        #expect(
            connection.messages[markIndex].instant >= connection.opened.advanced(by: .milliseconds(1500)),
            "echoed once the audio played"
        )
        let streamed = connection.media().flatMap(\.samples)
        #expect(
            tonePower(streamed, frequency: Self.botTone, sampleRate: 8000) < 1e2,
            "the bot is not streamed back to itself"
        )

        let recording = try #require(await harness.platform.recording(accountSid: "acme", callSid: placed.sid))
        let file = try SoundFile.open(readingFrom: recording.path)
        defer { try? file.close() }
        let samples = file.readAll()
        let expectedFrames = Double(LegAudio.sampleIndex(plan.end - .seconds(1), sampleRate: 8000))
        #expect(abs(Double(file.info.frames) - expectedFrames) < 8000 * 0.2, "the recording ends at the hang-up")
        let bot = stride(from: 1, to: samples.count, by: 2).map { samples[$0] }
        let caller = stride(from: 0, to: samples.count, by: 2).map { samples[$0] }
        // The recording starts at the answer (1 s); the reply plays from `opened` + 0.5 s for 1 s.
        let replyStart = LegAudio.sampleIndex(opened + .milliseconds(500) - .seconds(1), sampleRate: 8000)
        let during = (replyStart + 1600)..<(replyStart + 6400)
        let after = (replyStart + 9600)..<(replyStart + 14400)
        #expect(
            tonePower(bot[during], frequency: Self.botTone, sampleRate: 8000) > 1e5,
            "the bot's reply is in channel 1"
        )
        #expect(tonePower(bot[after], frequency: Self.botTone, sampleRate: 8000) < 1e3, "and only while it plays")
        #expect(tonePower(caller[during], frequency: Self.botTone, sampleRate: 8000) < 1e3)
        #expect(tonePower(caller[during], frequency: 440, sampleRate: 8000) > 1e5, "the caller is in channel 0")
    }

    @Test func aBotThatStaysOnLetsTheCallRunToItsEnd() async throws {
        let script = FakeStreamConnector.BotScript(messages: [(.zero, botMark("hello"))], hangUpAfterLast: false)
        let harness = EngineHarness(
            rate: 50,
            scenario: Scenario(defaultRingSeconds: 1, defaultTalkSeconds: 2),
            bot: script
        )
        defer { harness.cleanUp() }
        let placed = await harness.place(self.voiceBotRequest())
        await harness.platform.waitUntilIdle()
        let report = try #require(await harness.platform.botReport(ofCall: placed.sid))
        #expect(!report.closedByBot, "\(report)")
        #expect(harness.streams.all.first?.events().last == "stop")
        #expect(await harness.platform.plan(ofCall: placed.sid)?.end == .seconds(3))
    }
}
