import ExotelKit
import Foundation
import Testing

@testable import ExotelSimulator

@Suite("Engine: call lifecycle and status callbacks")
struct EnginePlatformTests {
    static let scenario = Scenario(
        rules: [
            ScenarioRule(number: "0990", outcome: .busy, ringSeconds: 2),
            ScenarioRule(number: "0991", outcome: .noAnswer),
            ScenarioRule(number: "0992", outcome: .failed, ringSeconds: 1),
            ScenarioRule(number: "0994", outcome: .answer, ringSeconds: 2, talkSeconds: 3600),
        ],
        defaultRingSeconds: 2,
        defaultTalkSeconds: 5
    )

    func callbackRequest(
        to: String,
        events: [StatusCallbackEvent],
        contentType: CallbackContentType? = nil
    ) -> ConnectCallRequest {
        var request = twoNumberRequest(to: to)
        request.statusCallback = "http://receiver.example/cb?secret=1"
        request.statusCallbackEvents = events
        request.statusCallbackContentType = contentType
        request.customField = "order-42"
        return request
    }

    @Test func completedCallReportsAnsweredAndTerminalInJSON() async throws {
        let harness = EngineHarness(scenario: Self.scenario)
        defer { harness.cleanUp() }
        let placed = await harness.place(
            self.callbackRequest(to: "0800", events: [.answered, .terminal], contentType: .json)
        )
        #expect(placed.status == "in-progress")
        #expect(placed.sid.count == 32)
        #expect(placed.to == "0800")
        await harness.platform.waitUntilIdle()

        let posts = harness.callbacks.all
        #expect(posts.count == 3)
        #expect(
            posts.allSatisfy {
                $0.contentType.hasPrefix("application/json") && $0.url == "http://receiver.example/cb?secret=1"
            }
        )
        let callbacks = try harness.callbacks.callbacks()
        let answered = callbacks.filter { $0.eventType == "answered" }
        #expect(answered.count == 2)
        #expect(answered.allSatisfy { $0.status == "in-progress" })
        #expect(
            answered.contains { $0.legs.count == 2 && $0.legs[0].status == "in-progress" && $0.legs[1].status == nil }
        )
        #expect(answered.contains { $0.legs.count == 2 && $0.legs[1].status == "in-progress" })
        let terminal = try #require(callbacks.first { $0.eventType == "terminal" })
        #expect(terminal.callSid == placed.sid)
        #expect(terminal.status == "completed")
        #expect(terminal.conversationDuration == 5)
        #expect(terminal.from == "09800000001" && terminal.to == "0800" && terminal.phoneNumberSid == "08047000000")
        #expect(terminal.direction == "outbound-api")
        #expect(terminal.customField == "order-42")
        #expect(terminal.legs.map(\.status) == ["completed", "completed"])
        #expect(terminal.legs.map(\.onCallDuration) == [7, 5])
        let start = try #require(terminal.startTime.flatMap(PlatformTimestamp.parse))
        let end = try #require(terminal.endTime.flatMap(PlatformTimestamp.parse))
        #expect(abs(end.timeIntervalSince(start) - 9) < 1.5)
        #expect(terminal.dateCreated != nil && terminal.dateUpdated != nil)

        let details = try #require(await harness.platform.call(accountSid: EngineHarness.account.sid, sid: placed.sid))
        #expect(details.status == "completed")
        #expect(details.duration == "9")
        #expect(details.price == "1.500", "one started minute at the default 1.5 a minute")
        #expect(details.details?.conversationDuration == 5)
        #expect(details.details?.leg1Status == "completed" && details.details?.leg2Status == "completed")
        #expect(details.details?.legs.map(\.onCallDuration) == [7, 5])
        #expect(await harness.platform.call(accountSid: "other", sid: placed.sid) == nil)
        #expect(await harness.platform.call(accountSid: EngineHarness.account.sid, sid: "nope") == nil)
    }

    @Test(arguments: [("0990", "busy"), ("0991", "no-answer"), ("0992", "failed")])
    func failedOutcomesReachTheTerminalCallback(number: String, status: String) async throws {
        let harness = EngineHarness(scenario: Self.scenario)
        defer { harness.cleanUp() }
        var request = self.callbackRequest(to: number, events: [.terminal])
        request.timeOut = 4
        let placed = await harness.place(request)
        await harness.platform.waitUntilIdle()
        let callbacks = try harness.callbacks.callbacks()
        #expect(callbacks.count == 1)
        #expect(callbacks.first?.status == status)
        #expect(callbacks.first?.legs.last?.status == status)
        #expect(callbacks.first?.conversationDuration == 0)
        let details = await harness.platform.call(accountSid: EngineHarness.account.sid, sid: placed.sid)
        #expect(details?.status == status)
        #expect(details?.details?.leg2Status == status)
        // No-answer waits for TimeOut (2 s ring of leg 1 + 4 s), the others for their ring time.
        let expectedDuration = ["busy": "4", "no-answer": "6", "failed": "3"][status]
        #expect(details?.duration == expectedDuration)
        #expect(details?.price == "1.500", "the caller was connected for a started minute")
    }

    @Test func timeLimitCutsALongCall() async throws {
        let harness = EngineHarness(scenario: Self.scenario)
        defer { harness.cleanUp() }
        var request = self.callbackRequest(to: "0994", events: [.terminal], contentType: .json)
        request.timeLimit = 10
        let placed = await harness.place(request)
        await harness.platform.waitUntilIdle()
        let terminal = try #require(try harness.callbacks.callbacks().first)
        #expect(terminal.status == "completed")
        #expect(terminal.conversationDuration == 10)
        #expect(await harness.platform.plan(ofCall: placed.sid)?.cutByTimeLimit == true)
    }

    @Test func withoutEventsOneLegacyMinimalCallbackInMultipart() async throws {
        let harness = EngineHarness(scenario: Self.scenario)
        defer { harness.cleanUp() }
        var request = self.callbackRequest(to: "0800", events: [])
        request.record = true
        let placed = await harness.place(request)
        await harness.platform.waitUntilIdle()
        let posts = harness.callbacks.all
        #expect(posts.count == 1)
        #expect(posts.first?.contentType.hasPrefix("multipart/form-data; boundary=") == true)
        let callback = try #require(try harness.callbacks.callbacks().first)
        #expect(callback.eventType == nil)
        #expect(callback.callSid == placed.sid)
        #expect(callback.status == "completed")
        #expect(callback.recordingURL == "http://127.0.0.1:9/v1/Accounts/acme/Recordings/\(placed.sid).mp3")
        #expect(callback.dateUpdated != nil)
        #expect(callback.from == nil && callback.legs.isEmpty)
    }

    @Test func duplicateFaultDeliversTwice() async throws {
        let harness = EngineHarness(scenario: Self.scenario, faults: CallbackFaults(duplicate: true))
        defer { harness.cleanUp() }
        _ = await harness.place(self.callbackRequest(to: "0800", events: [.terminal]))
        await harness.platform.waitUntilIdle()
        let callbacks = try harness.callbacks.callbacks()
        #expect(callbacks.count == 2)
        #expect(Set(callbacks.map(\.callSid)).count == 1)
    }

    @Test func dropFaultDeliversNothing() async throws {
        let harness = EngineHarness(scenario: Self.scenario, faults: CallbackFaults(drop: true))
        defer { harness.cleanUp() }
        _ = await harness.place(self.callbackRequest(to: "0800", events: [.answered, .terminal]))
        await harness.platform.waitUntilIdle()
        #expect(harness.callbacks.all.isEmpty)
        let attempts = await harness.platform.callbackAttempts()
        #expect(attempts.count == 3 && attempts.allSatisfy(\.dropped))
    }

    @Test func non2xxIsRetriedUpToTwice() async throws {
        let harness = EngineHarness(
            scenario: Self.scenario,
            faults: CallbackFaults(retriesAfterFailure: 5, retryInterval: .seconds(1)),
            statuses: [500, 503, 500, 500]
        )
        defer { harness.cleanUp() }
        _ = await harness.place(self.callbackRequest(to: "0800", events: [.terminal]))
        await harness.platform.waitUntilIdle()
        // Clamped to the documented two retries: three attempts, all failing here.
        #expect(harness.callbacks.all.count == 3)
        let attempts = await harness.platform.callbackAttempts()
        #expect(attempts.map(\.attempt) == [1, 2, 3])
        #expect(attempts.map(\.statusCode) == [500, 503, 500])
    }

    @Test func retryStopsAtTheFirst2xx() async throws {
        let harness = EngineHarness(
            scenario: Self.scenario,
            faults: CallbackFaults(retriesAfterFailure: 2, retryInterval: .seconds(1)),
            statuses: [502]
        )
        defer { harness.cleanUp() }
        _ = await harness.place(self.callbackRequest(to: "0800", events: [.terminal]))
        await harness.platform.waitUntilIdle()
        #expect(harness.callbacks.all.count == 2)
        #expect(await harness.platform.callbackAttempts().map(\.statusCode) == [502, 200])
    }

    @Test func withoutRetriesANon2xxIsNotRepeated() async throws {
        let harness = EngineHarness(scenario: Self.scenario, statuses: [500])
        defer { harness.cleanUp() }
        _ = await harness.place(self.callbackRequest(to: "0800", events: [.terminal]))
        await harness.platform.waitUntilIdle()
        #expect(harness.callbacks.all.count == 1)
    }

    @Test func delayFaultHoldsTheCallbackBack() async throws {
        let harness = EngineHarness(rate: 1000, scenario: Self.scenario, faults: CallbackFaults(delay: .seconds(60)))
        defer { harness.cleanUp() }
        let started = harness.clock.now
        _ = await harness.place(self.callbackRequest(to: "0800", events: [.terminal]))
        await harness.platform.waitUntilIdle()
        #expect(harness.callbacks.all.count == 1)
        // 9 s of call plus 60 s of delay in platform time.
        #expect(started.duration(to: harness.clock.now) >= .seconds(69))
    }

    @Test func audioURLsAreCachedUntilTheURLChanges() async throws {
        let harness = EngineHarness(scenario: Self.scenario)
        defer { harness.cleanUp() }
        let url = "http://audio.example/wait.wav?lang=en"
        let version1 = toneWAV(frequency: 2000, seconds: 1)
        let version2 = toneWAV(frequency: 3000, seconds: 1)
        harness.audio.set(url, version1)
        var request = twoNumberRequest()
        request.waitURL = url
        let first = await harness.place(request)
        await harness.platform.waitUntilIdle()

        // The file behind the same URL changes: the platform keeps playing the cached version.
        harness.audio.set(url, version2)
        let second = await harness.place(request)
        await harness.platform.waitUntilIdle()

        // A cache-busted URL is fetched anew and plays the new bytes.
        let busted = try CacheBusting.url(url, contentDigest: Array(AudioCache.sha256Hex(version2).utf8))
        harness.audio.set(busted, version2)
        request.waitURL = busted
        request.startPlaybackValue = busted
        request.startPlaybackTo = .both
        let third = await harness.place(request)
        await harness.platform.waitUntilIdle()

        let played = await harness.platform.playedAudio()
        let hash1 = AudioCache.sha256Hex(version1)
        let hash2 = AudioCache.sha256Hex(version2)
        #expect(played.count == 4)
        #expect(played.filter { $0.callSid == first.sid }.map(\.sha256) == [hash1])
        #expect(played.first { $0.callSid == first.sid }?.fromCache == false)
        #expect(
            played.first { $0.callSid == second.sid }
                == PlayedAudio(callSid: second.sid, url: url, sha256: hash1, fromCache: true)
        )
        let thirds = played.filter { $0.callSid == third.sid }
        #expect(thirds.count == 2 && thirds.allSatisfy { $0.sha256 == hash2 && $0.url == busted })
        #expect(thirds.filter { !$0.fromCache }.count == 1)
        #expect(Set(thirds.map(\.playedTo)) == ["caller", "both"])
        #expect(harness.audio.fetched == [url, busted])
    }

    @Test func voiceBotCallbacksHaveOneLegAndRingingIsReported() async throws {
        let harness = EngineHarness(scenario: Self.scenario)
        defer { harness.cleanUp() }
        var request = ConnectCallRequest(
            from: "09800000001",
            callerId: "08047000000",
            destination: .voiceBot(streamURL: "wss://bot.example/ai", streamType: "bidirectional")
        )
        request.statusCallback = "http://receiver.example/cb"
        request.statusCallbackEvents = [.ringing, .answered, .terminal]
        request.statusCallbackContentType = .json
        let placed = await harness.place(request)
        #expect(placed.to == nil)
        await harness.platform.waitUntilIdle()
        let callbacks = try harness.callbacks.callbacks()
        #expect(Set(callbacks.compactMap(\.eventType)) == ["ringing", "answered", "terminal"])
        #expect(callbacks.first { $0.eventType == "ringing" }?.status == "ringing")
        let terminal = try #require(callbacks.first { $0.eventType == "terminal" })
        #expect(terminal.legs.count == 1)
        #expect(terminal.legs.first?.status == "completed")
        #expect(terminal.conversationDuration == 5)
        let details = await harness.platform.call(accountSid: "acme", sid: placed.sid)
        #expect(details?.details?.legs.count == 1)
        #expect(details?.details?.leg2Status == nil)
    }
}
