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
        (
            "https://h/cb?sig=1&auth_token=2&password=3&secret=4",
            "https://h/cb?sig=REDACTED&auth_token=REDACTED&password=REDACTED&secret=REDACTED"
        ),
        ("https://h/cb?%74oken=abc", "https://h/cb?%74oken=REDACTED"),
        ("https://h/a#access_token=xyz&state=1", "https://h/a#access_token=REDACTED&state=1"),
        ("https://h/a?x=1#section", "https://h/a?x=1#section"),
        ("not a url token=abc", "not a url token=abc"),
        ("+919900000001", "+919900000001"),
        // The rules the call sidecar's own copy had (user-info of a StreamUrl, a StatusCallback's secret).
        ("wss://user:secret@host:443/v1/streams?sample-rate=8000", "wss://host:443/v1/streams?sample-rate=8000"),
        (
            "https://hooks.example/cb?Secret=x&keep=1&TOKEN=y#frag",
            "https://hooks.example/cb?Secret=REDACTED&keep=1&TOKEN=REDACTED#frag"
        ),
        ("https://hooks.example/cb?api%5Fkey=z", "https://hooks.example/cb?api%5Fkey=REDACTED"),
        ("ws://a@b@host/path", "ws://host/path"),
        ("http://my.exotel.com/acme/exoml/start_voice/123", "http://my.exotel.com/acme/exoml/start_voice/123"),
        ("not a url: user:pw@host", "not a url: user:pw@host"),
        // Pre-signed URLs of other stores.
        (
            "https://storage.googleapis.com/b/o?X-Goog-Algorithm=GOOG4&X-Goog-Signature=ab&alt=media",
            "https://storage.googleapis.com/b/o?X-Goog-Algorithm=REDACTED&X-Goog-Signature=REDACTED&alt=media"
        ),
        (
            "https://acct.blob.core.windows.net/c/r.wav?sv=2021&sig=abc%3D&se=1",
            "https://acct.blob.core.windows.net/c/r.wav?sv=2021&sig=REDACTED&se=1"
        ),
    ])
    func redacts(_ input: String, _ expected: String) {
        #expect(URLRedaction.redacting(input) == expected)
    }

    @Test func hostPartKeepsTheOriginOnly() {
        #expect(URLRedaction.hostPart("https://u:p@h.example.com:8443/a?token=x") == "https://h.example.com:8443")
        // What the recording fetcher's own host parser logged: the host after the last `@`, nothing for a non-URL.
        #expect(URLRedaction.hostPart("https://a@b@rec.example.com/r.mp3?sig=1") == "https://rec.example.com")
        #expect(URLRedaction.hostPart("https://rec.example.com") == "https://rec.example.com")
        #expect(URLRedaction.hostPart("rec.example.com/r.mp3") == "")
    }

    @Test func redactionIsIdempotentAndParametersAreRedactedByName() {
        for url in ["wss://u:p@h/s?token=1&x=2", "https://h/a?X-Amz-Signature=s#access_token=t", "ws://a@b@h/p"] {
            let once = URLRedaction.redacting(url)
            #expect(URLRedaction.redacting(once) == once)
        }
        let parameters = URLRedaction.redacting(parameters: [
            "token": "abc", "callback": "https://u:p@h/cb?sig=1", "n": "7",
        ])
        #expect(parameters == ["token": "REDACTED", "callback": "https://h/cb?sig=REDACTED", "n": "7"])
    }
}
