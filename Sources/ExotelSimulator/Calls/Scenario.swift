import Foundation

/// How a dialled leg ends up.
public enum CallOutcome: String, Sendable, Hashable, CaseIterable, Codable {
    case answer
    case busy
    case noAnswer = "no-answer"
    case failed
}

/// One scripted rule: numbers matching `number` get `outcome`.
public struct ScenarioRule: Sendable, Hashable, Codable {
    /// A glob (`*` any run, `?` one character) when it contains either, otherwise a prefix.
    public var number: String
    public var outcome: CallOutcome
    /// How long the leg rings before it answers, is busy, or fails.
    public var ringSeconds: Int?
    /// How long the conversation lasts once this leg is connected.
    public var talkSeconds: Int?

    public init(number: String, outcome: CallOutcome, ringSeconds: Int? = nil, talkSeconds: Int? = nil) {
        self.number = number
        self.outcome = outcome
        self.ringSeconds = ringSeconds
        self.talkSeconds = talkSeconds
    }

    public func matches(_ dialled: String) -> Bool {
        if self.number.contains("*") || self.number.contains("?") {
            return Self.glob(Array(self.number), Array(dialled))
        }
        return dialled.hasPrefix(self.number)
    }

    private static func glob(_ pattern: [Character], _ text: [Character]) -> Bool {
        // Iterative wildcard match with single backtrack point: linear for the patterns people write.
        var p = 0
        var t = 0
        var star = -1
        var resume = 0
        while t < text.count {
            if p < pattern.count, pattern[p] == "?" || pattern[p] == text[t] {
                p += 1
                t += 1
            } else if p < pattern.count, pattern[p] == "*" {
                star = p
                resume = t
                p += 1
            } else if star >= 0 {
                p = star + 1
                resume += 1
                t = resume
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }
}

/// Scripted outcomes by number pattern; the first matching rule wins, numbers matching none answer.
public struct Scenario: Sendable, Hashable, Codable {
    public var rules: [ScenarioRule]
    /// Ring time of a leg no rule gives one.
    public var defaultRingSeconds: Int
    /// Conversation length when no rule gives one.
    public var defaultTalkSeconds: Int
    /// Ring time allowed when the request has no `TimeOut`.
    public var defaultTimeOutSeconds: Int

    public init(
        rules: [ScenarioRule] = [],
        defaultRingSeconds: Int = 3,
        defaultTalkSeconds: Int = 20,
        defaultTimeOutSeconds: Int = 45
    ) {
        self.rules = rules
        self.defaultRingSeconds = defaultRingSeconds
        self.defaultTalkSeconds = defaultTalkSeconds
        self.defaultTimeOutSeconds = defaultTimeOutSeconds
    }

    public func rule(for number: String) -> ScenarioRule? {
        self.rules.first { $0.matches(number) }
    }

    private enum CodingKeys: String, CodingKey {
        case rules, defaultRingSeconds, defaultTalkSeconds, defaultTimeOutSeconds
    }

    public init(from decoder: any Decoder) throws {
        // A scenario file is either `{"rules":[…], "defaultTalkSeconds":…}` or just the array of rules.
        if let rules = try? decoder.singleValueContainer().decode([ScenarioRule].self) {
            self.init(rules: rules)
            return
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = Scenario()
        self.init(
            rules: try container.decodeIfPresent([ScenarioRule].self, forKey: .rules) ?? [],
            defaultRingSeconds: try container.decodeIfPresent(Int.self, forKey: .defaultRingSeconds)
                ?? defaults.defaultRingSeconds,
            defaultTalkSeconds: try container.decodeIfPresent(Int.self, forKey: .defaultTalkSeconds)
                ?? defaults.defaultTalkSeconds,
            defaultTimeOutSeconds: try container.decodeIfPresent(Int.self, forKey: .defaultTimeOutSeconds)
                ?? defaults.defaultTimeOutSeconds
        )
    }

    /// Reads a scenario file (JSON, see `init(from:)`).
    public static func load(path: String) throws -> Scenario {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try JSONDecoder().decode(Scenario.self, from: data)
    }
}
