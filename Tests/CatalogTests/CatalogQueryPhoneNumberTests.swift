import Catalog
import MediaStore
import Testing

/// How typed numbers become E.164 (``PhoneNumberNormaliser``).
@Suite struct CatalogQueryPhoneNumberTests {
    @Test(arguments: [
        ("09876543210", "+919876543210"),  // national prefix 0 + 10 digits
        ("098765 43210", "+919876543210"),  // spaces
        ("098-7654-3210", "+919876543210"),  // dashes
        ("(098) 7654.3210", "+919876543210"),  // parentheses and dots
        ("919876543210", "+919876543210"),  // country code without +
        ("+91 98765 43210", "+919876543210"),  // + kept, spaces removed
        ("9876543210", "+919876543210"),  // bare 10-digit national number
        ("00919876543210", "+919876543210"),  // international prefix 00
        ("+14155550100", "+14155550100"),  // another country, + kept
        ("1800123", "1800123"),  // short code: unchanged
        ("9198765432", "+919198765432"),  // 10 digits that start with 91 are national, not 91 + 8 digits
        ("abc-123", "abc123"),  // not a number: only cleaned
    ])
    func normalises(typed: String, expected: String) {
        #expect(PhoneNumberNormaliser().normalise(typed) == expected)
    }

    /// The country code is the option's, with or without `+`.
    @Test func otherCountryCode() {
        let normaliser = PhoneNumberNormaliser(countryCode: "+44")
        #expect(normaliser.normalise("07911123456") == "+447911123456")
        #expect(normaliser.normalise("447911123456") == "+447911123456")
        #expect(normaliser.normalise("919876543210") == "919876543210")
    }

    @Test func countryCodeValidity() {
        #expect(PhoneNumberNormaliser(countryCode: "91").isValid)
        #expect(!PhoneNumberNormaliser(countryCode: "9a").isValid)
        #expect(!PhoneNumberNormaliser(countryCode: "").isValid)
        #expect(!PhoneNumberNormaliser(countryCode: "1234").isValid)
    }

    @Test func matchesBothSidesNormalised() {
        let normaliser = PhoneNumberNormaliser()
        #expect(normaliser.matches("09876543210", "+91 98765-43210"))
        #expect(!normaliser.matches("09876543211", "+91 98765-43210"))
        #expect(!normaliser.matches(nil, "09876543210"))
    }

    @Test(arguments: [
        ("2026-11-23", false, Int64(1_795_392_000_000)),
        ("2026-11-23", true, Int64(1_795_478_400_000)),
        ("2026-11-23T10:00:00Z", false, Int64(1_795_428_000_000)),
        ("2026-11-23T10:00:00", false, Int64(1_795_428_000_000)),  // no zone: UTC
        ("2026-11-23T15:30:00+05:30", false, Int64(1_795_428_000_000)),
        ("2026-11-23T10:00:00.250Z", false, Int64(1_795_428_000_250)),
    ])
    func parsesTimes(text: String, endOfDay: Bool, milliseconds: Int64) {
        #expect(QueryTime.parse(text, endOfDay: endOfDay)?.millisecondsSinceEpoch == milliseconds)
    }

    @Test(arguments: ["yesterday", "2026-13-01", "2026/11/23", "23-11-2026", ""])
    func refusesBadTimes(text: String) {
        #expect(QueryTime.parse(text) == nil)
    }
}
