import Testing

@testable import ExotelSimulator

/// The simulator's twin of the ingest compare: full-width length difference.
@Suite struct BasicCredentialsTests {
    @Test(arguments: [256, 512, 1024])
    func aTokenFollowedByNULsIsRefused(_ count: Int) {
        let token = "sim-token"
        let padded = token + String(repeating: "\u{0}", count: count)
        #expect(!BasicCredentials.constantTimeEquals(padded, token))
        #expect(!BasicCredentials.constantTimeEquals(token, padded))
        #expect(BasicCredentials.constantTimeEquals(token, token))
    }
}
