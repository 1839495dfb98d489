import Foundation

/// The account and the API key pair that signs every request (HTTP Basic, `apiKey:apiToken`).
public struct ExotelCredentials: Sendable, Hashable, CustomStringConvertible {
    public var accountSid: String
    public var apiKey: String
    public var apiToken: String

    public init(accountSid: String, apiKey: String, apiToken: String) {
        self.accountSid = accountSid
        self.apiKey = apiKey
        self.apiToken = apiToken
    }

    /// The `Authorization` header value: `Basic base64(apiKey:apiToken)`.
    public var basicAuthorization: String {
        "Basic " + Data("\(self.apiKey):\(self.apiToken)".utf8).base64EncodedString()
    }

    /// Never prints the token, so credentials can sit in logged values safely.
    public var description: String {
        "ExotelCredentials(accountSid: \(self.accountSid), apiKey: \(self.apiKey), apiToken: <redacted>)"
    }
}
