import Foundation
public import MediaStore

/// The age `exorec retention apply --older-than` takes: a whole number and a unit, `36h`, `90d` or `12w`.
///
/// Minutes, months and years are refused on purpose: `m` reads as minutes to some and months to others, and a
/// month or a year has no fixed length; write `180d` or `365d`.
public struct RetentionAge: Sendable, Hashable, CustomStringConvertible {
    public enum Unit: String, Sendable, Hashable, CaseIterable {
        case hours = "h", days = "d", weeks = "w"

        var milliseconds: Int64 {
            switch self {
            case .hours: 3_600_000
            case .days: 86_400_000
            case .weeks: 604_800_000
            }
        }
    }

    public let amount: Int64
    public let unit: Unit

    /// The longest age accepted (100 years), so that the cutoff stays a sane time.
    static let maxMilliseconds: Int64 = 36_525 * 86_400_000

    /// Parses `text`, or says precisely what is wrong with it.
    public init(parsing text: String) throws(RetentionError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw .badAge(text: text, reason: "it is empty; give an age such as 90d") }
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        let suffix = trimmed.dropFirst(digits.count)
        if trimmed.hasPrefix("-") { throw .badAge(text: text, reason: "an age cannot be negative") }
        guard !digits.isEmpty else {
            throw .badAge(
                text: text,
                reason: "it does not start with a number; write e.g. 90d (days), 12w (weeks) or 36h (hours)"
            )
        }
        guard !suffix.isEmpty else {
            throw .badAge(
                text: text,
                reason: "it has no unit; write \(digits)d (days), \(digits)w (weeks) or \(digits)h (hours)"
            )
        }
        guard let unit = Unit(rawValue: String(suffix)) else {
            let hint =
                ["m", "mo", "min", "month", "months", "y", "yr", "year", "years"].contains(suffix.lowercased())
                ? "months, minutes and years are not accepted (they are ambiguous or of no fixed length); write days, e.g. 180d or 365d"
                : "the unit must be h (hours), d (days) or w (weeks)"
            throw .badAge(text: text, reason: "unknown unit '\(suffix)'; \(hint)")
        }
        guard let amount = Int64(digits), amount <= Self.maxMilliseconds / unit.milliseconds else {
            throw .badAge(text: text, reason: "it is longer than 100 years")
        }
        guard amount > 0 else {
            throw .badAge(text: text, reason: "it must be more than zero (0 would delete every call)")
        }
        self.amount = amount
        self.unit = unit
    }

    public var milliseconds: Int64 { self.amount * self.unit.milliseconds }

    /// Calls from before this instant are older than the age at `now`.
    public func cutoff(now: Timestamp) -> Timestamp {
        Timestamp(millisecondsSinceEpoch: now.millisecondsSinceEpoch - self.milliseconds)
    }

    public var description: String { "\(self.amount)\(self.unit.rawValue)" }
}
