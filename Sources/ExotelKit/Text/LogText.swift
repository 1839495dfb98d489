/// Makes a value that came from outside safe to put in a log line: one line, bounded, unambiguous.
///
/// A `stream_sid`, an event name, a `CallSid`, a header or a URL can carry a newline (which would forge a log
/// line in a line-oriented log), other control characters (which move a terminal's cursor), quotes and
/// backslashes (which break out of a quoted field). ``escaped(_:limit:)`` writes them as escapes:
/// `\n`, `\r`, `\t`, `\"`, `\\`, `\u{…}` for any other control or format character (C0, DEL, C1, U+2028/2029,
/// bidi overrides), and cuts the text after `limit` characters with a `…(N more)` marker.
public enum LogText {
    /// Characters of outside text kept in one log value.
    public static let defaultLimit = 256

    /// `text` escaped and bounded for a log line (see ``LogText``).
    public static func escaped(_ text: some StringProtocol, limit: Int = Self.defaultLimit) -> String {
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count == limit {
                let rest = text.unicodeScalars.count - count
                out += "…(\(rest) more)"
                break
            }
            count += 1
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if Self.needsEscape(scalar) {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// Control characters (C0, DEL, C1), line and paragraph separators, and format characters such as the
    /// bidi overrides that reorder what a reader sees.
    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x20 || (0x7F...0x9F).contains(value) { return true }
        switch scalar.properties.generalCategory {
        case .lineSeparator, .paragraphSeparator, .format, .surrogate, .unassigned, .privateUse: return true
        default: return false
        }
    }
}

extension StringProtocol {
    /// ``LogText/escaped(_:limit:)`` of this text: for outside values that reach a log.
    public var escapedForLog: String { LogText.escaped(self) }
}
