import ExotelClient
import Testing

/// Allowlist entries match scheme, host and port; an entry without a port means the scheme's default one.
@Suite struct OriginAllowlistTests {
    static func allows(_ entries: [String], _ url: String, schemes: Set<String> = ["https"]) throws -> Bool {
        let list = try OriginAllowlist(parsing: entries, schemes: schemes)
        return Origin(url: url).map(list.allows) ?? false
    }

    @Test func anEntryWithoutAPortMeansTheDefaultPort() throws {
        #expect(try Self.allows(["recordings.exotel.com"], "https://recordings.exotel.com/a.mp3"))
        #expect(try Self.allows(["recordings.exotel.com"], "https://recordings.exotel.com:443/a.mp3"))
        #expect(try !Self.allows(["recordings.exotel.com"], "https://recordings.exotel.com:8443/a.mp3"))
        #expect(try !Self.allows(["recordings.exotel.com"], "https://recordings.exotel.com:22/a.mp3"))
        #expect(try !Self.allows(["recordings.exotel.com"], "http://recordings.exotel.com/a.mp3"))
        #expect(
            try Self.allows(
                ["recordings.exotel.com"],
                "http://recordings.exotel.com/a.mp3",
                schemes: ["http", "https"]
            )
        )
        #expect(
            try !Self.allows(
                ["recordings.exotel.com"],
                "http://recordings.exotel.com:443/a.mp3",
                schemes: ["http", "https"]
            )
        )
    }

    @Test func portsSchemesAndPatterns() throws {
        #expect(try Self.allows(["127.0.0.1:9000"], "http://127.0.0.1:9000/x", schemes: ["http"]))
        #expect(try !Self.allows(["127.0.0.1:9000"], "http://127.0.0.1:9001/x", schemes: ["http"]))
        #expect(try Self.allows(["https://media.example.com:8443"], "https://media.example.com:8443/x"))
        #expect(
            try !Self.allows(
                ["https://media.example.com:8443"],
                "http://media.example.com:8443/x",
                schemes: ["http", "https"]
            )
        )
        #expect(try Self.allows(["*.amazonaws.com"], "https://s3.amazonaws.com/x"))
        #expect(try !Self.allows(["*.amazonaws.com"], "https://amazonaws.com/x"))
        #expect(try !Self.allows(["*.amazonaws.com"], "https://evilamazonaws.com/x"))
        #expect(try Self.allows(["[::1]:8080"], "http://[::1]:8080/x", schemes: ["http"]))
        #expect(try !Self.allows(["[::1]:8080"], "http://[::1]:8081/x", schemes: ["http"]))
    }

    @Test(arguments: ["ftp://host", "host:http", "host:70000", "", "user@host", "[::1"])
    func unreadableEntriesAreErrors(_ entry: String) {
        #expect(throws: OriginAllowlistError.self) { try OriginAllowlist.Entry(parsing: entry) }
    }

    @Test func originsMakeThePortExplicit() {
        #expect(Origin(url: "https://A.example.com/x")?.description == "https://a.example.com:443")
        #expect(Origin(url: "http://127.0.0.1:9000")?.description == "http://127.0.0.1:9000")
        #expect(Origin(url: "file:///etc/passwd") == nil)
        #expect(Origin(url: "gopher://x") == nil)
    }

    @Test func recordingURLsOnAnAllowedHostButAnotherPortAreRefused() {
        let client = ExotelClient(
            endpoint: .singapore,
            credentials: ExotelCredentials(accountSid: "a", apiKey: "k", apiToken: "t")
        )
        #expect(throws: Never.self) { try client.checkRecordingURL("https://recordings.exotel.com/a.mp3") }
        #expect(throws: ExotelClientError.self) {
            try client.checkRecordingURL("https://recordings.exotel.com:8443/a.mp3")
        }
        #expect(throws: ExotelClientError.self) { try client.checkRecordingURL("https://api.exotel.com:444/a.mp3") }
    }
}
