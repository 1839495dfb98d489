import Glibc

/// A wall-clock instant with millisecond precision, printed as ISO 8601 UTC.
///
/// exorec's own type rather than Foundation's `Date` so that MediaStore stays free of Foundation
/// on the ingest path and the sidecar format is fixed by this code, not by a formatter's defaults.
public struct Timestamp: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var millisecondsSinceEpoch: Int64

    public init(millisecondsSinceEpoch: Int64) { self.millisecondsSinceEpoch = millisecondsSinceEpoch }

    public static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(millisecondsSinceEpoch: Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000)
    }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.millisecondsSinceEpoch < b.millisecondsSinceEpoch }

    /// This time moved by `duration` (whole milliseconds; a lease's end, a grace period's).
    public func advanced(by duration: Duration) -> Timestamp {
        let (seconds, attoseconds) = duration.components
        return Timestamp(
            millisecondsSinceEpoch: self.millisecondsSinceEpoch + seconds * 1000 + attoseconds / 1_000_000_000_000_000
        )
    }

    public struct Components: Sendable, Hashable { public var year, month, day, hour, minute, second, millisecond: Int }

    public var utcComponents: Components {
        var seconds = time_t(self.millisecondsSinceEpoch / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return Components(
            year: Int(parts.tm_year) + 1900,
            month: Int(parts.tm_mon) + 1,
            day: Int(parts.tm_mday),
            hour: Int(parts.tm_hour),
            minute: Int(parts.tm_min),
            second: Int(parts.tm_sec),
            millisecond: Int(self.millisecondsSinceEpoch % 1000)
        )
    }

    /// `2026-11-23T17:54:28.123Z`
    public var description: String {
        let c = self.utcComponents
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return
            "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2))T\(pad(c.hour, 2)):\(pad(c.minute, 2)):\(pad(c.second, 2)).\(pad(c.millisecond, 3))Z"
    }

    public init(iso8601 text: String) throws(MediaError) {
        // Fixed shape only (what `description` writes): yyyy-mm-ddThh:mm:ss.mmmZ
        let u = Array(text.utf8)
        func num(_ range: Range<Int>) -> Int? {
            var v = 0
            for i in range {
                guard i < u.count, u[i] >= 48, u[i] <= 57 else { return nil }
                v = v * 10 + Int(u[i] - 48)
            }
            return v
        }
        guard u.count == 24, let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13),
            let mi = num(14..<16), let s = num(17..<19), let ms = num(20..<23)
        else { throw .invalidSidecar(path: "", reason: "timestamp '\(text)' is not yyyy-mm-ddThh:mm:ss.mmmZ") }
        var parts = tm()
        parts.tm_year = Int32(y - 1900)
        parts.tm_mon = Int32(mo - 1)
        parts.tm_mday = Int32(d)
        parts.tm_hour = Int32(h)
        parts.tm_min = Int32(mi)
        parts.tm_sec = Int32(s)
        let seconds = timegm(&parts)
        self.millisecondsSinceEpoch = Int64(seconds) * 1000 + Int64(ms)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(iso8601: text) } catch {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: error.description)
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.description)
    }
}
