import ExotelKit
import Foundation
import Testing

@testable import ExotelSimulator

@Suite("Engine: call plan (state machine)")
struct EngineCallPlanTests {
    let scenario = Scenario(
        rules: [
            ScenarioRule(number: "0990*", outcome: .busy, ringSeconds: 2),
            ScenarioRule(number: "0991", outcome: .noAnswer),
            ScenarioRule(number: "09?2*", outcome: .failed, ringSeconds: 1),
            ScenarioRule(number: "0993", outcome: .answer, ringSeconds: 40),
            ScenarioRule(number: "0994", outcome: .answer, ringSeconds: 4, talkSeconds: 600),
        ],
        defaultRingSeconds: 3,
        defaultTalkSeconds: 20,
        defaultTimeOutSeconds: 45
    )

    @Test func answeredCallCompletes() {
        let plan = CallPlan(request: twoNumberRequest(), scenario: self.scenario)
        #expect(plan.mode == .twoNumber)
        #expect(plan.leg1.answeredAt == .seconds(3))
        #expect(plan.leg2?.ringAt == .seconds(3))
        #expect(plan.leg2?.answeredAt == .seconds(6))
        #expect(plan.end == .seconds(26))
        #expect(plan.status == "completed")
        #expect(plan.leg1.status == "completed" && plan.leg2?.status == "completed")
        #expect(plan.conversationDuration == 20)
        #expect(plan.onCallDuration(leg: 0) == 23 && plan.onCallDuration(leg: 1) == 20)
        #expect(!plan.cutByTimeLimit)
    }

    @Test func busyCallee() {
        let plan = CallPlan(request: twoNumberRequest(to: "09901"), scenario: self.scenario)
        #expect(plan.status == "busy")
        #expect(plan.leg2?.status == "busy" && plan.leg2?.answeredAt == nil)
        #expect(plan.leg1.status == "completed")
        #expect(plan.end == .seconds(5))
        #expect(plan.conversationStart == nil && plan.conversationDuration == 0)
    }

    @Test func busyCallerMeansLeg2IsNeverDialled() {
        let plan = CallPlan(request: twoNumberRequest(from: "09905"), scenario: self.scenario)
        #expect(plan.status == "busy" && plan.leg1.status == "busy")
        #expect(plan.leg2 == nil)
        #expect(plan.end == .seconds(2))
    }

    @Test func noAnswerEndsAtTimeOut() {
        var request = twoNumberRequest(to: "09910")
        request.timeOut = 12
        let plan = CallPlan(request: request, scenario: self.scenario)
        #expect(plan.status == "no-answer" && plan.leg2?.status == "no-answer")
        #expect(plan.end == .seconds(3 + 12))
    }

    @Test func ringingLongerThanTimeOutIsNoAnswer() {
        var request = twoNumberRequest(to: "0993")
        request.timeOut = 30
        #expect(CallPlan(request: request, scenario: self.scenario).status == "no-answer")
        // Without TimeOut the scenario's 45 s default lets the 40 s ring be answered.
        #expect(CallPlan(request: twoNumberRequest(to: "0993"), scenario: self.scenario).status == "completed")
    }

    @Test func failedCallee() {
        let plan = CallPlan(request: twoNumberRequest(to: "09125"), scenario: self.scenario)
        #expect(plan.status == "failed" && plan.leg2?.status == "failed")
        #expect(plan.end == .seconds(4))
    }

    @Test func timeLimitCutsTheConversation() {
        var request = twoNumberRequest(to: "0994")
        request.timeLimit = 60
        let plan = CallPlan(request: request, scenario: self.scenario)
        #expect(plan.cutByTimeLimit)
        #expect(plan.conversationDuration == 60)
        #expect(plan.end == .seconds(3 + 4 + 60))
        #expect(plan.status == "completed")
        request.timeLimit = nil
        #expect(CallPlan(request: request, scenario: self.scenario).conversationDuration == 600)
    }

    @Test func streamBeginChoosesTheLeg() {
        var request = twoNumberRequest()
        request.streamURL = "wss://bot.example/stream"
        #expect(CallPlan(request: request, scenario: self.scenario).streamStart == .seconds(6))  // Leg2Connect default
        request.streamBegin = .leg1Connect
        #expect(CallPlan(request: request, scenario: self.scenario).streamStart == .seconds(3))
        request.streamBegin = .leg2Connect
        #expect(CallPlan(request: request, scenario: self.scenario).streamStart == .seconds(6))
        request.streamURL = nil
        #expect(CallPlan(request: request, scenario: self.scenario).streamStart == nil)
    }

    @Test func voiceBotIsOneLeg() {
        let request = ConnectCallRequest(
            from: "09800000001",
            callerId: "08047000000",
            destination: .voiceBot(streamURL: "wss://bot.example/", streamType: "bidirectional")
        )
        let plan = CallPlan(request: request, scenario: self.scenario)
        #expect(plan.mode == .voiceBot && plan.leg2 == nil)
        #expect(plan.streamStart == .seconds(3))
        #expect(plan.conversationStart == .seconds(3) && plan.end == .seconds(23))
    }

    @Test func flowModeIsOneLegAndStreamsFromTheAnswer() {
        var request = ConnectCallRequest(
            from: "0994",
            callerId: "08047000000",
            destination: .flow(url: "http://my.exotel.com/acme/exoml/start_voice/1")
        )
        request.timeLimit = 30
        let plan = CallPlan(request: request, scenario: self.scenario)
        #expect(plan.mode == .flow && plan.leg2 == nil)
        #expect(plan.conversationStart == .seconds(4))
        #expect(plan.end == .seconds(34) && plan.cutByTimeLimit)
        #expect(plan.streamStart == nil)
        request.streamURL = "wss://bot.example/"
        request.streamBegin = .leg2Connect
        #expect(CallPlan(request: request, scenario: self.scenario).streamStart == .seconds(4))
    }

    @Test func scenarioMatchesGlobsAndPrefixes() throws {
        #expect(ScenarioRule(number: "+9198*", outcome: .busy).matches("+919812345678"))
        #expect(!ScenarioRule(number: "+9198*5", outcome: .busy).matches("+919812345678"))
        #expect(ScenarioRule(number: "+91981234567?", outcome: .busy).matches("+919812345678"))
        #expect(ScenarioRule(number: "+9198", outcome: .busy).matches("+919812345678"))
        #expect(!ScenarioRule(number: "9198", outcome: .busy).matches("+919812345678"))

        let path = NSTemporaryDirectory() + "scenario-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(
            #"{"defaultTalkSeconds": 7, "rules": [{"number": "0990*", "outcome": "no-answer"}, {"number": "0991", "outcome": "answer", "ringSeconds": 1, "talkSeconds": 2}]}"#
                .utf8
        ).write(to: URL(fileURLWithPath: path))
        let loaded = try Scenario.load(path: path)
        #expect(loaded.defaultTalkSeconds == 7 && loaded.defaultRingSeconds == 3)
        #expect(loaded.rule(for: "09901")?.outcome == .noAnswer)
        #expect(loaded.rule(for: "09912")?.talkSeconds == 2)
        #expect(loaded.rule(for: "0800") == nil)

        try Data(#"[{"number": "1", "outcome": "failed"}]"#.utf8).write(to: URL(fileURLWithPath: path))
        #expect(try Scenario.load(path: path).rules == [ScenarioRule(number: "1", outcome: .failed)])
    }
}
