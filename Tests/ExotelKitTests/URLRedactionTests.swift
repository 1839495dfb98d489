import ExotelKit
import Testing

/// The one URL redactor: user-info gone, secret-looking query values replaced, everything else kept.
@Suite struct URLRedactionTests {
    @Test(arguments: [
        ("wss://exorec:hunter2@ingest.example.com/v1/streams", "wss://ingest.example.com/v1/streams"),
        (
            "wss://ingest.example.com/v1/streams?token=abc&call=1&api_key=k&Signature=s",
            "wss://ingest.example.com/v1/streams?token=REDACTED&call=1&api_key=REDACTED&Signature=REDACTED"
        ),
        (
            "https://s3.amazonaws.com/b/r.mp3?X-Amz-Credential=AKIA&X-Amz-Signature=ff&X-Amz-Security-Token=t&v=2",
            "https://s3.amazonaws.com/b/r.mp3?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&X-Amz-Security-Token=REDACTED&v=2"
        ),
        ("https://h/cb?sig=1&auth_token=2&password=3&secret=4", "https://h/cb?sig=REDACTED&auth_token=REDACTED&password=REDACTED&secret=REDACTED"),
        ("https://h/cb?%74oken=abc", "https://h/cb?%74oken=REDACTED"),
        ("https://h/a#access_token=xyz&state=1", "https://h/a#access_token=REDACTED&state=1"),
        ("https://h/a?x=1#section", "https://h/a?x=1#section"),
        ("not a url token=abc", "not a url token=abc"),
        ("+919900000001", "+919900000001"),
    ])
    func redacts(_ input: String, _ expected: String) {
        #expect(URLRedaction.redacting(input) == expected)
    }

    @Test func hostPartKeepsTheOriginOnly() {
        #expect(URLRedaction.hostPart("https://u:p@h.example.com:8443/a?token=x") == "https://h.example.com:8443")
    }
}
