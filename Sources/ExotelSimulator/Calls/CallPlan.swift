public import ExotelKit

/// A call's whole lifecycle, decided when it is placed: the simulator's state machine resolved in
/// advance, so that every event has a fixed platform time (offsets from the moment the call was
/// placed) and tests can check the timeline without running a clock.
///
/// `TimeOut` bounds each leg's ringing; `TimeLimit` counts from the moment the conversation starts
/// (both legs connected, or leg 1 answered for flows and voice bots).
public struct CallPlan: Sendable, Hashable {
    public enum Mode: Sendable, Hashable {
        case twoNumber
        case flow
        case voiceBot
    }

    /// One dialled leg.
    public struct Leg: Sendable, Hashable {
        /// When the leg starts ringing.
        public var ringAt: Duration
        /// When it answered; nil if it never did.
        public var answeredAt: Duration?
        /// Final status: completed, busy, no-answer or failed.
        public var status: String
    }

    public var mode: Mode
    public var leg1: Leg
    /// nil unless two-number mode; also nil there when leg 1 never answered (leg 2 not attempted).
    public var leg2: Leg?
    /// When the call ends (hang-up, TimeLimit, or the last leg's failure).
    public var end: Duration
    /// The call's overall final status.
    public var status: String
    /// When both parties (or the caller and the flow/bot) are connected; nil if that never happened.
    public var conversationStart: Duration?
    /// True when `TimeLimit` cut the conversation short.
    public var cutByTimeLimit: Bool
    /// When the stream opens, if the call streams and reaches `StreamBegin`.
    public var streamStart: Duration?

    public var conversationDuration: Int {
        guard let start = self.conversationStart else { return 0 }
        return Self.seconds(self.end - start)
    }

    /// Seconds leg `index` (0 or 1) was answered and on the call.
    public func onCallDuration(leg index: Int) -> Int? {
        let leg = index == 0 ? self.leg1 : self.leg2
        guard let leg else { return nil }
        guard let answered = leg.answeredAt else { return 0 }
        return Self.seconds(self.end - answered)
    }

    /// The same call hung up at `time` (a voice bot closing its stream): every duration ends there.
    public func endingEarly(at time: Duration) -> CallPlan {
        guard time < self.end else { return self }
        var plan = self
        plan.end = max(time, self.conversationStart ?? self.leg1.answeredAt ?? .zero)
        plan.cutByTimeLimit = false
        return plan
    }

    static func seconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds)
    }

    public init(request: ConnectCallRequest, scenario: Scenario) {
        let timeOut = Duration.seconds(
            request.timeOut.map { $0 > 0 ? $0 : scenario.defaultTimeOutSeconds } ?? scenario.defaultTimeOutSeconds
        )
        let mode: Mode
        let secondNumber: String?
        switch request.destination {
        case .number(let to):
            mode = .twoNumber
            secondNumber = to
        case .flow:
            mode = .flow
            secondNumber = nil
        case .voiceBot:
            mode = .voiceBot
            secondNumber = nil
        }
        self.mode = mode
        self.cutByTimeLimit = false
        self.streamStart = nil

        let rule1 = scenario.rule(for: request.from)
        let (leg1, leg1End) = Self.ring(ringAt: .zero, rule: rule1, scenario: scenario, timeOut: timeOut)
        self.leg1 = leg1
        guard let answered1 = leg1.answeredAt else {
            self.leg2 = nil
            self.end = leg1End
            self.status = leg1.status
            self.conversationStart = nil
            return
        }

        var talkRule = rule1
        let conversationStart: Duration
        if let secondNumber {
            let rule2 = scenario.rule(for: secondNumber)
            let (leg2, leg2End) = Self.ring(ringAt: answered1, rule: rule2, scenario: scenario, timeOut: timeOut)
            self.leg2 = leg2
            guard let answered2 = leg2.answeredAt else {
                // The caller was connected and hears the callee's failure; the call takes leg 2's status.
                self.leg1.status = "completed"
                self.end = leg2End
                self.status = leg2.status
                self.conversationStart = nil
                self.streamStart = Self.streamStart(
                    request: request,
                    mode: mode,
                    leg1Answered: answered1,
                    leg2Answered: nil
                )
                return
            }
            if rule2?.talkSeconds != nil { talkRule = rule2 }
            conversationStart = answered2
            self.leg2?.status = "completed"
        } else {
            self.leg2 = nil
            conversationStart = answered1
        }
        self.leg1.status = "completed"
        self.conversationStart = conversationStart
        var talk = Duration.seconds(talkRule?.talkSeconds ?? scenario.defaultTalkSeconds)
        if let limit = request.timeLimit, limit > 0, talk > .seconds(limit) {
            talk = .seconds(limit)
            self.cutByTimeLimit = true
        }
        self.end = conversationStart + talk
        self.status = "completed"
        self.streamStart = Self.streamStart(
            request: request,
            mode: mode,
            leg1Answered: answered1,
            leg2Answered: mode == .twoNumber ? conversationStart : nil
        )
    }

    private static func ring(
        ringAt: Duration,
        rule: ScenarioRule?,
        scenario: Scenario,
        timeOut: Duration
    ) -> (Leg, Duration) {
        let ringTime = Duration.seconds(max(rule?.ringSeconds ?? scenario.defaultRingSeconds, 0))
        switch rule?.outcome ?? .answer {
        case .answer where ringTime <= timeOut:
            return (Leg(ringAt: ringAt, answeredAt: ringAt + ringTime, status: "in-progress"), ringAt + ringTime)
        case .answer, .noAnswer:
            return (Leg(ringAt: ringAt, answeredAt: nil, status: "no-answer"), ringAt + timeOut)
        case .busy:
            return (Leg(ringAt: ringAt, answeredAt: nil, status: "busy"), ringAt + min(ringTime, timeOut))
        case .failed:
            return (Leg(ringAt: ringAt, answeredAt: nil, status: "failed"), ringAt + min(ringTime, timeOut))
        }
    }

    private static func streamStart(
        request: ConnectCallRequest,
        mode: Mode,
        leg1Answered: Duration,
        leg2Answered: Duration?
    )
        -> Duration?
    {
        switch mode {
        case .voiceBot:
            // A voice bot has one leg: its stream starts when that leg answers, whatever StreamBegin says.
            return leg1Answered
        case .flow:
            return request.streamURL == nil ? nil : leg1Answered
        case .twoNumber:
            guard request.streamURL != nil else { return nil }
            // With StreamUrl and no StreamBegin the platform streams from Leg2Connect (exotel-platform.md §1.8).
            switch request.streamBegin ?? .leg2Connect {
            case .leg1Connect: return leg1Answered
            case .leg2Connect: return leg2Answered
            }
        }
    }

    /// The stream URL of this call, whichever mode carries it.
    public static func streamURL(of request: ConnectCallRequest) -> String? {
        if case .voiceBot(let url, _) = request.destination { return url }
        return request.streamURL
    }
}
