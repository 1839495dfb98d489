import Doors
import Ingest
import Testing

@Suite struct SourceAllowlistTests {
    @Test func anEmptyListAllowsEveryone() throws {
        let allowlist = try SourceAllowlist([])
        #expect(allowlist.allowsEveryone)
        #expect(allowlist.allows("203.0.113.9"))
        #expect(allowlist.allows("2001:db8::1"))
    }

    @Test func ipv4BlocksMatchByPrefix() throws {
        let allowlist = try SourceAllowlist(["203.0.113.0/24", "198.51.100.7", "10.0.0.0/8", "172.16.0.0/12"])
        for inside in ["203.0.113.0", "203.0.113.255", "198.51.100.7", "10.255.1.2", "172.31.255.255"] {
            #expect(allowlist.allows(inside), "\(inside)")
        }
        for outside in ["203.0.114.0", "198.51.100.8", "11.0.0.1", "172.32.0.1", "127.0.0.1"] {
            #expect(!allowlist.allows(outside), "\(outside)")
        }
    }

    @Test func ipv6BlocksMatchByPrefixAndMappedIPv4MatchesIPv4() throws {
        let allowlist = try SourceAllowlist(["2001:db8::/32", "::1", "192.0.2.0/25"])
        #expect(allowlist.allows("2001:db8:ffff::1"))
        #expect(!allowlist.allows("2001:db9::1"))
        #expect(allowlist.allows("::1"))
        #expect(!allowlist.allows("::2"))
        #expect(allowlist.allows("::ffff:192.0.2.100"), "a dual-stack listener reports IPv4 peers like this")
        #expect(!allowlist.allows("::ffff:192.0.2.200"))
        #expect(allowlist.allows("192.0.2.1"))
    }

    @Test func zeroPrefixMatchesTheWholeFamily() throws {
        let allowlist = try SourceAllowlist(["0.0.0.0/0"])
        #expect(allowlist.allows("8.8.8.8"))
        #expect(!allowlist.allows("2001:db8::1"))
    }

    @Test func whatIsNotAnAddressIsRefused() throws {
        let allowlist = try SourceAllowlist(["127.0.0.0/8"])
        for peer in ["unknown", "", "localhost", "127.0.0.1:8080", "127.0.0.256"] {
            #expect(!allowlist.allows(peer), "\(peer)")
        }
    }

    @Test(arguments: [
        ("10.0.0.0/33", "prefix length must be a number from 0 to 32"),
        ("2001:db8::/129", "from 0 to 128"),
        ("10.0.0.0/x", "prefix length"),
        ("example.com", "is not an IPv4 or IPv6 address"),
        ("10.0.0/8", "is not an IPv4 or IPv6 address"),
        ("10.1.2.3/8", "has host bits set; did you mean 10.0.0.0/8?"),
        ("2001:db8::1/32", "did you mean 2001:db8::/32?"),
    ])
    func badEntriesAreConfigurationErrorsThatNameTheKey(entry: String, mentions: String) {
        do {
            _ = try SourceAllowlist(["127.0.0.1", entry])
            Issue.record("\(entry) was accepted")
        } catch {
            #expect(error.code == "ingest.config")
            #expect(error.description.contains("callbacks.allowed_sources"))
            #expect(error.description.contains(mentions), "\(error.description)")
        }
    }
}

@Suite struct StatusCallbackConfigurationTests {
    /// The platform door's settings (`callbacks.*`, formerly part of the ingest's configuration).
    private struct Settings {
        var callbacks = PlatformDoorConfiguration()
        func validate() throws(IngestError) { try self.callbacks.validate() }
    }

    private func validated(_ change: (inout Settings) -> Void) -> IngestError? {
        var configuration = Settings()
        change(&configuration)
        do {
            try configuration.validate()
            return nil
        } catch {
            return error
        }
    }

    @Test func theDefaultsAreValidAndTheEndpointIsOff() {
        let defaults = PlatformDoorConfiguration()
        #expect(defaults.token == nil)
        #expect(defaults.allowedSources.isEmpty)
        #expect(defaults.maxBodyBytes == 65536)
        #expect(self.validated { _ in } == nil)
        #expect(self.validated { $0.callbacks.token = "0123456789abcdef" } == nil)
        #expect(self.validated { $0.callbacks.token = "A-Za-z0-9._~" + String(repeating: "x", count: 10) } == nil)
    }

    @Test(arguments: [
        "short-token-15c", "has a space 0123456", "percent%20needed000", "slash/in/token/00000",
        String(repeating: "x", count: 257),
    ])
    func aTokenThatIsShortOrNeedsEscapingIsRefusedWithoutEchoingIt(token: String) throws {
        let error = try #require(self.validated { $0.callbacks.token = token })
        #expect(error.description.contains("callbacks.token"))
        #expect(error.description.contains("16 to 256 characters"))
        #expect(!error.description.contains(token), "the secret is never echoed")
    }

    @Test func badSourcesAndLimitsNameTheirKeys() throws {
        #expect(
            try #require(self.validated { $0.callbacks.allowedSources = ["nope"] }).description.contains(
                "callbacks.allowed_sources"
            )
        )
        #expect(
            try #require(self.validated { $0.callbacks.maxBodyBytes = 100 }).description.contains(
                "callbacks.max_body_bytes"
            )
        )
        #expect(
            try #require(self.validated { $0.callbacks.maxBodyBytes = 2 << 20 }).description.contains(
                "callbacks.max_body_bytes"
            )
        )
        #expect(
            try #require(self.validated { $0.callbacks.storeTimeoutMs = 20_000 }).description.contains(
                "callbacks.store_timeout"
            )
        )
        #expect(try #require(self.validated { $0.callbacks.port = 70_000 }).description.contains("callbacks.port"))
        #expect(
            try #require(self.validated { $0.callbacks.limits.maxConnections = 0 }).description.contains(
                "callbacks.max_connections"
            )
        )
        #expect(
            try #require(self.validated { $0.callbacks.limits.idleTimeoutMs = 10 }).description.contains(
                "callbacks.idle_timeout"
            )
        )
        #expect(
            try #require(self.validated { $0.callbacks.tls = DoorTLS(certificatePath: "", keyPath: "k.pem") })
                .description.contains("callbacks.tls")
        )
    }
}
