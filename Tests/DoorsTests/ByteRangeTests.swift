import Doors
import Testing

/// `Range` headers as the internal door resolves them against a file's length (RFC 9110 §14.1.2).
@Suite struct ByteRangeTests {
    @Test(
        arguments: [
            ("bytes=0-99", 1000, 0, 99), ("bytes=100-", 1000, 100, 999), ("bytes=-100", 1000, 900, 999),
            ("bytes=990-5000", 1000, 990, 999), ("bytes=-5000", 1000, 0, 999), (" BYTES=5-5 ", 1000, 5, 5),
        ] as [(String, Int64, Int64, Int64)]
    )
    func aSingleRangeIsClampedToTheFile(header: String, length: Int64, first: Int64, last: Int64) {
        guard case .partial(let range) = ByteRange.resolve(header, length: length) else {
            Issue.record("\(header) is a range")
            return
        }
        #expect(range.first == first && range.last == last)
        #expect(range.count == last - first + 1)
    }

    @Test(arguments: ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
    func aRangeAtOrPastTheEndIsUnsatisfiable(header: String) {
        #expect(ByteRange.resolve(header, length: 1000) == .unsatisfiable)
    }

    @Test func nothingIsSatisfiableInAnEmptyFile() {
        #expect(ByteRange.resolve("bytes=0-", length: 0) == .unsatisfiable)
        #expect(ByteRange.resolve("bytes=-10", length: 0) == .unsatisfiable)
    }

    /// What is not one well-formed range is ignored: the whole file is sent, as RFC 9110 allows. Numbers
    /// beyond Int64 (or negative) never reach arithmetic.
    @Test(
        arguments: [
            nil, "", "bytes", "items=0-9", "bytes=0-9,20-29", "bytes=9-0", "bytes=a-b", "bytes=-", "bytes=--5",
            "bytes=1-2-3",
            "bytes=9223372036854775808-", "bytes=-9223372036854775808", "bytes=0-99999999999999999999", "bytes=-1-5",
        ] as [String?]
    )
    func anythingElseMeansTheWholeFile(header: String?) {
        #expect(ByteRange.resolve(header, length: 1000) == .whole, "\(header ?? "nil")")
    }

    @Test func theLargestRangesDoNotOverflow() {
        let max = Int64.max
        guard case .partial(let range) = ByteRange.resolve("bytes=0-\(max)", length: max) else {
            Issue.record("a range")
            return
        }
        #expect(range.last == max - 1)
        #expect(range.count == max)
        guard case .partial(let suffix) = ByteRange.resolve("bytes=-\(max)", length: max) else {
            Issue.record("a suffix range")
            return
        }
        #expect(suffix.first == 0)
    }
}
