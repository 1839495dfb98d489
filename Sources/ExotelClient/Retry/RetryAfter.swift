import Foundation

/// The `Retry-After` header (RFC 9110 §10.2.3): delay seconds, or an HTTP date.
enum RetryAfter {
    /// The delay the header asks for, measured from `now`; `nil` when absent or unreadable. A date in the past
    /// means "now".
    static func delay(_ value: String?, now: Date) -> Duration? {
        guard let text = value?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        if let seconds = Int(text) {
            return seconds >= 0 ? .seconds(seconds) : nil
        }
        if let seconds = Double(text), seconds.isFinite, seconds >= 0 {
            return .milliseconds(Int64((seconds * 1000).rounded(.up)))
        }
        guard let date = Self.httpDate(text) else { return nil }
        let interval = date.timeIntervalSince(now)
        return interval > 0 ? .milliseconds(Int64((interval * 1000).rounded(.up))) : .zero
    }

    /// IMF-fixdate first (what servers must send), then the obsolete RFC 850 and asctime forms they may.
    static func httpDate(_ text: String) -> Date? {
        // asctime pads one-digit days with a second space.
        let text = text.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }
}
