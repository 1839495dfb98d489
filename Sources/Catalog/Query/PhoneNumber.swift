/// Phone numbers as users type them, turned into E.164 so that `09876543210`, `+91 98765-43210` and
/// `919876543210` match the same call.
///
/// The rule, applied in order to the text with spaces, dashes, dots and parentheses removed:
///
/// | typed | becomes |
/// |---|---|
/// | `+` then digits | kept: `+919876543210` |
/// | `00` then digits (international prefix) | `+` then the digits: `00919876543210` → `+919876543210` |
/// | `0` then 10 digits (national prefix) | `+<country>` then the 10 digits: `09876543210` → `+919876543210` |
/// | the country code then 10 digits | `+` then the digits: `919876543210` → `+919876543210` |
/// | 10 digits | `+<country>` then the digits: `9876543210` → `+919876543210` |
/// | anything else (short codes, letters) | the cleaned text, unchanged |
///
/// The 10-digit national number is India's numbering plan; the country code is an option (`91` by default).
public struct PhoneNumberNormaliser: Sendable, Hashable {
    /// Digits of the country code, without `+`.
    public var countryCode: String
    /// Digits of a national number after the trunk prefix `0`.
    public var nationalLength: Int

    public init(countryCode: String = "91", nationalLength: Int = 10) {
        self.countryCode = countryCode.hasPrefix("+") ? String(countryCode.dropFirst()) : countryCode
        self.nationalLength = nationalLength
    }

    /// `text` in E.164 when the rule above applies, else cleaned of separators.
    public func normalise(_ text: String) -> String {
        let cleaned = String(text.filter { !" \t-.()/".contains($0) })
        guard !cleaned.isEmpty else { return cleaned }
        let allDigits = { (s: Substring) in !s.isEmpty && s.allSatisfy { $0.isASCII && $0.isNumber } }
        if cleaned.hasPrefix("+") {
            return cleaned
        }
        let whole = Substring(cleaned)
        guard allDigits(whole) else { return cleaned }
        if cleaned.hasPrefix("00"), cleaned.count > 2 {
            return "+" + cleaned.dropFirst(2)
        }
        if cleaned.hasPrefix("0"), cleaned.count == self.nationalLength + 1 {
            return "+" + self.countryCode + cleaned.dropFirst()
        }
        if cleaned.hasPrefix(self.countryCode), cleaned.count == self.countryCode.count + self.nationalLength {
            return "+" + cleaned
        }
        if cleaned.count == self.nationalLength {
            return "+" + self.countryCode + cleaned
        }
        return cleaned
    }

    /// Whether two numbers are the same after normalising both.
    public func matches(_ a: String?, _ b: String) -> Bool {
        guard let a else { return false }
        return self.normalise(a) == self.normalise(b)
    }

    /// Whether `countryCode` is 1 to 3 digits (E.164's country codes).
    public var isValid: Bool {
        (1...3).contains(self.countryCode.count) && self.countryCode.allSatisfy { $0.isASCII && $0.isNumber }
    }
}
