import Foundation
import Testing

@testable import ExotelClient

@Suite struct RetryAfterTests {
    private static let now = Date(timeIntervalSince1970: 784_111_777)  // Sun, 06 Nov 1994 08:49:37 GMT

    @Test func seconds() {
        #expect(RetryAfter.delay("120", now: Self.now) == .seconds(120))
        #expect(RetryAfter.delay(" 0 ", now: Self.now) == .zero)
        #expect(RetryAfter.delay("1.5", now: Self.now) == .milliseconds(1500))
    }

    @Test(arguments: ["Sun, 06 Nov 1994 08:50:07 GMT", "Sunday, 06-Nov-94 08:50:07 GMT", "Sun Nov  6 08:50:07 1994"])
    func httpDateForms(_ header: String) {
        #expect(RetryAfter.delay(header, now: Self.now) == .seconds(30))
    }

    @Test func pastDateMeansNow() {
        #expect(RetryAfter.delay("Sun, 06 Nov 1994 08:00:00 GMT", now: Self.now) == .zero)
    }

    @Test(arguments: [nil, "", "-5", "soon", "Sun, 99 Nov 1994"])
    func unreadableIsNil(_ header: String?) {
        #expect(RetryAfter.delay(header, now: Self.now) == nil)
    }
}
