import AsyncHTTPClient
import Foundation
import Logging
import NIOHTTP1
import Testing

@testable import ObjectStore

/// The client's requests, and its errors against a real store (SeaweedFS, `tools/s3-test-server`; those tests are
/// skipped without `EXOREC_TEST_S3_ENDPOINT`).
@Suite(.timeLimit(.minutes(1)))
struct S3ClientTests {
    static let environment = ProcessInfo.processInfo.environment
    static var storeAvailable: Bool { !(environment["EXOREC_TEST_S3_ENDPOINT"] ?? "").isEmpty }

    static func client(
        endpoint: String = environment["EXOREC_TEST_S3_ENDPOINT"] ?? "http://127.0.0.1:9",
        secret: String? = nil,
        addressing: S3Configuration.Addressing = .path,
        bucket: String = "exorec-client-test"
    ) throws -> S3Client {
        let configuration = try S3Configuration(
            endpoint: try #require(URL(string: endpoint)),
            region: "us-east-1",
            bucket: bucket,
            credentials: .init(
                accessKeyID: environment["EXOREC_TEST_S3_ACCESS_KEY"] ?? "AKIDEXAMPLE",
                secretAccessKey: secret ?? environment["EXOREC_TEST_S3_SECRET_KEY"] ?? "secret"
            ),
            addressing: addressing,
            requestTimeout: .seconds(20)
        )
        return S3Client(configuration: configuration, logger: Logger(label: "test"))
    }

    /// Path-style names the bucket in the path, virtual-host in the host; keys are encoded once, `/` kept.
    @Test func addressingAndKeyEncoding() throws {
        let path = try Self.client(endpoint: "http://127.0.0.1:8333", addressing: .path)
        let request = try path.request(
            method: .GET,
            key: "media/a b/ü+.wav",
            query: [("versionId", "v/1")],
            headers: [],
            body: nil,
            payload: .empty
        )
        #expect(request.url == "http://127.0.0.1:8333/exorec-client-test/media/a%20b/%C3%BC%2B.wav?versionId=v%2F1")
        let host = try Self.client(endpoint: "https://s3.eu-west-1.amazonaws.com", addressing: .virtualHost)
        let virtual = try host.request(method: .HEAD, key: "k", query: [], headers: [], body: nil, payload: .empty)
        #expect(virtual.url == "https://exorec-client-test.s3.eu-west-1.amazonaws.com/k")
        #expect(virtual.headers["host"].first == "exorec-client-test.s3.eu-west-1.amazonaws.com")
        #expect(virtual.headers["authorization"].first?.contains("/us-east-1/s3/aws4_request, SignedHeaders=") == true)
    }

    @Test(arguments: ["", "ab", "Upper", "-leading", "a..b/c", String(repeating: "a", count: 64)])
    func badBucketNamesAreRefused(_ name: String) {
        #expect(throws: ObjectStoreError.self) { try Self.client(bucket: name) }
    }

    /// A store that is not there is a clear, fast `unreachable` error naming the endpoint, not a hang.
    @Test func unreachableStoreFailsFast() async throws {
        let client = try Self.client(endpoint: "http://127.0.0.1:9")
        let started = ContinuousClock.now
        do {
            _ = try await client.headObject(key: "k")
            Issue.record("a HEAD to a closed port succeeded")
        } catch let error as ObjectStoreError {
            #expect(error.code == "s3.unreachable" && error.description.contains("127.0.0.1:9"))
            #expect(error.isTransient)
        }
        // The pool retries a refused connection until the 5 s connect timeout; a loaded machine gets slack.
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    /// A wrong secret is refused by the store with its error code, read from its XML, and no secret in the text.
    @Test(.enabled(if: storeAvailable)) func wrongCredentialsAreAClearRefusal() async throws {
        let client = try Self.client(secret: "not-the-secret-0123456789")
        do {
            _ = try await client.listObjectVersions(prefix: "")
            Issue.record("a wrong secret was accepted")
        } catch let error as ObjectStoreError {
            guard case .refused(_, _, let status, let code, _) = error else {
                Issue.record("expected a refusal, got \(error)")
                return
            }
            #expect(status == 403 && ["SignatureDoesNotMatch", "AccessDenied", "InvalidAccessKeyId"].contains(code))
            #expect(error.description.contains("check archive.s3's credentials"))
            #expect(!error.description.contains("not-the-secret"))
        }
    }

    /// Against the store: a bucket with Object Lock, a locked upload whose checksum the store keeps, a HEAD of the
    /// version with its lock, a ranged read, the legal hold set and cleared, a multipart upload above the
    /// threshold with its composite checksum, the listing.
    @Test(.enabled(if: storeAvailable)) func lockedUploadsAndReads() async throws {
        let bucket = "client-\(UUID().uuidString.prefix(8).lowercased())"
        let client = try Self.client(bucket: bucket)
        try await client.createBucket()
        let until = Date().addingTimeInterval(3600)
        let lock = ObjectLock(mode: .governance, retainUntil: until)
        let stored = try await client.putObject(
            key: "a/b c.wav",
            body: Data("hello archive".utf8),
            lock: lock,
            legalHold: false,
            metadata: ["exorec-sha256": "x"]
        )
        let head = try #require(try await client.headObject(key: "a/b c.wav", versionID: stored.versionID))
        #expect(
            head.checksumSHA256 == stored.checksumSHA256 && head.bytes == 13 && head.metadata["exorec-sha256"] == "x"
        )
        #expect(
            head.lock?.mode == .governance && abs((head.lock?.retainUntil ?? .distantPast).timeIntervalSince(until)) < 2
        )
        #expect(
            String(
                decoding: try await client.getObject(key: "a/b c.wav", versionID: stored.versionID, range: 6...12),
                as: UTF8.self
            ) == "archive"
        )
        try await client.putLegalHold(key: "a/b c.wav", versionID: stored.versionID, on: true)
        #expect(try await client.headObject(key: "a/b c.wav", versionID: stored.versionID)?.legalHold == true)
        try await client.putLegalHold(key: "a/b c.wav", versionID: stored.versionID, on: false)
        #expect(try await client.headObject(key: "a/b c.wav", versionID: stored.versionID)?.legalHold == false)
        #expect(try await client.headObject(key: "nothing-here") == nil)

        let big = FileManager.default.temporaryDirectory.appendingPathComponent("s3-big-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: big) }
        let bytes = Data((0..<(17 * 1024 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try bytes.write(to: URL(fileURLWithPath: big))
        let multipart = try await client.putFile(at: big, key: "big.wav", sha256: nil, lock: lock, legalHold: true)
        #expect(multipart.checksumSHA256.hasSuffix("-3"), "three parts of 8 MiB at most: \(multipart.checksumSHA256)")
        let bigHead = try #require(try await client.headObject(key: "big.wav", versionID: multipart.versionID))
        #expect(bigHead.bytes == Int64(bytes.count) && bigHead.legalHold && bigHead.lock?.mode == .governance)
        try await client.putLegalHold(key: "big.wav", versionID: multipart.versionID, on: false)
        #expect(try await client.listMultipartUploads(prefix: "").isEmpty)
        #expect(Set(try await client.listObjectVersions(prefix: "").map(\.key)) == ["a/b c.wav", "big.wav"])
    }
}
