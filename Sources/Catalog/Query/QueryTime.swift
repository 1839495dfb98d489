import Foundation
import MediaStore

/// Times as `--from-time` / `--to-time` take them: `YYYY-MM-DD` (a UTC day) or ISO 8601 with a zone
/// (`2026-11-23T10:00:00Z`, `2026-11-23T15:30:00+05:30`, fractions allowed); without a zone, UTC.
public enum QueryTime {
    /// The instant `text` names; a bare date is its first millisecond, or with `endOfDay` the first
    /// millisecond of the next day (so `--to-time 2026-11-23` includes the whole of that day).
    public static func parse(_ text: String, endOfDay: Bool = false) -> Timestamp? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.count == 10, let day = Self.day(trimmed) {
            return Timestamp(millisecondsSinceEpoch: (day + (endOfDay ? 86_400 : 0)) * 1000)
        }
        var withZone = trimmed.replacingOccurrences(of: " ", with: "T")
        let timePart = withZone.dropFirst(10)
        if !(timePart.hasSuffix("Z") || timePart.contains("+") || timePart.contains("-")) { withZone += "Z" }
        for options: ISO8601DateFormatter.Options in [
            [.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime],
        ] {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = options
            if let date = formatter.date(from: withZone) {
                return Timestamp(millisecondsSinceEpoch: Int64((date.timeIntervalSince1970 * 1000).rounded()))
            }
        }
        return nil
    }

    /// Seconds since the epoch of `yyyy-mm-dd` at 00:00 UTC.
    private static func day(_ text: String) -> Int64? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let year = Int32(parts[0]), let month = Int32(parts[1]), let day = Int32(parts[2]),
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var fields = tm()
        fields.tm_year = year - 1900
        fields.tm_mon = month - 1
        fields.tm_mday = day
        return Int64(timegm(&fields))
    }
}
