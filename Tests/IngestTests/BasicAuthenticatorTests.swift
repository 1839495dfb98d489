import Foundation
import Testing

@testable import Ingest

/// The upgrade's Basic credentials: compared over every byte and the full length.
@Suite struct BasicAuthenticatorTests {
    static let authenticator = BasicAuthenticator(
        credentials: [.init(username: "exorec", password: "s3cret")],
        disabled: false
    )

    static func header(_ userPass: [UInt8]) -> String {
        "Basic " + Data(userPass).base64EncodedString()
    }

    @Test func theRightPasswordIsAllowed() {
        #expect(Self.authenticator.check(authorizationHeader: Self.header(Array("exorec:s3cret".utf8))) == .allowed)
    }

    /// Before the fix, the length difference was folded into 8 bits: 256 trailing NUL bytes were accepted.
    @Test(arguments: [1, 255, 256, 512, 768, 65536])
    func thePasswordFollowedByNULBytesIsRefused(_ count: Int) {
        let offered = Array("exorec:s3cret".utf8) + [UInt8](repeating: 0, count: count)
        #expect(Self.authenticator.check(authorizationHeader: Self.header(offered)) == .wrong)
    }

    @Test func lengthsDifferingByMultiplesOf256NeverCompareEqual() {
        let base: [UInt8] = Array("abc".utf8)
        for multiple in 1...4 {
            let longer = base + [UInt8](repeating: 0, count: 256 * multiple)
            #expect(!BasicAuthenticator.constantTimeEquals(base, longer))
            #expect(!BasicAuthenticator.constantTimeEquals(longer, base))
        }
        #expect(!BasicAuthenticator.constantTimeEquals([], [UInt8](repeating: 0, count: 256)))
        #expect(BasicAuthenticator.constantTimeEquals(base, base))
        #expect(BasicAuthenticator.constantTimeEquals([], []))
        #expect(!BasicAuthenticator.constantTimeEquals(Array("abd".utf8), base))
    }
}
