import Testing

@testable import ExotelKit

@Suite struct CacheBustingTests {
    static let digest: [UInt8] = [0x1a, 0x2b, 0x3c, 0x4d, 0x5e, 0x6f, 0x70, 0x81, 0x92]

    @Test func addsTheVersionToAURLWithoutQuery() throws {
        #expect(
            try CacheBusting.url("https://audio.example.com/wait.wav", contentDigest: Self.digest)
                == "https://audio.example.com/wait.wav?v=1a2b3c4d5e6f"
        )
        #expect(CacheBusting.versionString(Self.digest) == "1a2b3c4d5e6f")
    }

    @Test func replacesAnExistingVersion() throws {
        #expect(
            try CacheBusting.url("https://a.example/w.wav?v=2", contentDigest: Self.digest)
                == "https://a.example/w.wav?v=1a2b3c4d5e6f"
        )
        #expect(
            try CacheBusting.url("https://a.example/w.wav?a=1&v=old&b=2&v=older", contentDigest: Self.digest)
                == "https://a.example/w.wav?a=1&v=1a2b3c4d5e6f&b=2"
        )
    }

    @Test func keepsOtherParametersTheirOrderAndEncoding() throws {
        let url = "https://a.example/w.wav?token=a%2Bb%3D&lang=hi+IN&flag&empty=&vv=9"
        #expect(
            try CacheBusting.url(url, contentDigest: Self.digest)
                == "https://a.example/w.wav?token=a%2Bb%3D&lang=hi+IN&flag&empty=&vv=9&v=1a2b3c4d5e6f"
        )
    }

    @Test func keepsTheFragment() throws {
        #expect(
            try CacheBusting.url("https://a.example/w.wav?x=1#t=10", contentDigest: Self.digest)
                == "https://a.example/w.wav?x=1&v=1a2b3c4d5e6f#t=10"
        )
        #expect(
            try CacheBusting.url("https://a.example/w.wav#part", contentDigest: Self.digest)
                == "https://a.example/w.wav?v=1a2b3c4d5e6f#part"
        )
    }

    @Test func customParameterName() throws {
        #expect(
            try CacheBusting.url(
                "http://a.example/w.wav?v=keep&audio version=x",
                contentDigest: Self.digest,
                parameter: "audio version"
            )
                == "http://a.example/w.wav?v=keep&audio%20version=1a2b3c4d5e6f"
        )
        #expect(
            try CacheBusting.url(
                "http://a.example/w.wav?audio%20version=x",
                contentDigest: Self.digest,
                parameter: "audio version"
            )
                == "http://a.example/w.wav?audio%20version=1a2b3c4d5e6f"
        )
    }

    /// A changed file gives a changed URL; the same file the same URL.
    @Test func versionFollowsTheContent() throws {
        let first = try CacheBusting.url("https://a.example/w.wav", contentDigest: Self.digest)
        var changed = Self.digest
        changed[5] ^= 1
        #expect(try CacheBusting.url("https://a.example/w.wav", contentDigest: changed) != first)
        #expect(try CacheBusting.url(first, contentDigest: Self.digest) == first)
    }

    @Test func refusesRelativeURLsAndShortDigests() {
        for bad in ["/audio/w.wav", "audio.example.com/w.wav", "https:///w.wav", "ftp://a/w.wav", ""] {
            #expect(throws: CacheBustingError.self) { try CacheBusting.url(bad, contentDigest: Self.digest) }
        }
        #expect(throws: CacheBustingError.self) { try CacheBusting.url("https://a/w", contentDigest: [1, 2, 3]) }
        #expect(throws: CacheBustingError.self) {
            try CacheBusting.url("https://a/w", contentDigest: Self.digest, parameter: "")
        }
    }
}
