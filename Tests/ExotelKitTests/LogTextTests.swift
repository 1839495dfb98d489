import ExotelKit
import Testing

/// Outside values in logs: one line, no control characters, bounded.
@Suite struct LogTextTests {
    @Test func newlinesAndControlsAreEscaped() {
        let forged = "MZ1\nlevel=info message=\"stream finalized\"\r\u{1B}[2J\u{0}\u{85}\u{2028}\u{202E}"
        let escaped = LogText.escaped(forged)
        #expect(!escaped.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
        #expect(!escaped.contains("\u{2028}") && !escaped.contains("\u{202E}"))
        #expect(escaped.hasPrefix("MZ1\\nlevel=info message=\\\"stream finalized\\\"\\r\\u{1b}[2J\\u{0}\\u{85}"))
        #expect(LogText.escaped("a\\b") == "a\\\\b")
        #expect("plain-sid_01".escapedForLog == "plain-sid_01")
        #expect(LogText.escaped("नमस्ते") == "नमस्ते", "printable non-ASCII text is kept")
    }

    @Test func longValuesAreBounded() {
        let escaped = LogText.escaped(String(repeating: "x", count: 10_000), limit: 16)
        #expect(escaped == String(repeating: "x", count: 16) + "…(9984 more)")
    }
}
