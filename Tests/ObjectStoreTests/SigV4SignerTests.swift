import Crypto
import ExorecTesting
import ExotelKit
import Foundation
import Testing

@testable import ObjectStore

/// The signer against botocore's `S3SigV4Auth` (tools/sigv4_botocore.py), byte for byte, and against AWS's
/// published example.
@Suite struct SigV4SignerTests {
    static let credentials = SigV4Signer.Credentials(
        accessKeyID: "AKIAIOSFODNN7EXAMPLE",
        secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    )
    static let date = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z, AWS's example day

    struct Case: Sendable, CustomTestStringConvertible {
        var method: String
        var path: String
        var query: [(String, String)] = []
        var headers: [(String, String)] = []
        var body = Data()
        var unsigned = false
        var host = "127.0.0.1:8333"
        var sessionToken: String?
        var testDescription: String { "\(self.method) \(self.path) \(self.query.map { $0.0 })" }
    }

    static let cases: [Case] = [
        Case(method: "GET", path: "/bucket/plain.wav"),
        Case(
            method: "PUT",
            path: "/bucket/media/AC1/2026/12/05/CA 1+2/stream-é ü~(x)*'!.wav",
            headers: [("Content-Type", "audio/wav"), ("x-amz-meta-note", "  two   spaces  inside ")],
            body: Data("RIFF....WAVE".utf8)
        ),
        Case(
            method: "PUT",
            path: "/bucket/a/b.wav",
            query: [("partNumber", "2"), ("uploadId", "2~a/b+c=d e")],
            headers: [("x-amz-checksum-sha256", "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=")],
            body: Data(repeating: 7, count: 4096)
        ),
        Case(
            method: "POST",
            path: "/bucket/a/b.wav",
            query: [("uploads", "")],
            headers: [
                ("x-amz-object-lock-mode", "COMPLIANCE"),
                ("x-amz-object-lock-retain-until-date", "2027-01-01T00:00:00Z"),
            ]
        ),
        Case(
            method: "GET",
            path: "/bucket",
            query: [("versions", ""), ("prefix", "media/a b/"), ("key-marker", "z"), ("encoding-type", "url")]
        ),
        Case(
            method: "PUT",
            path: "/bucket/unsigned.wav",
            headers: [("x-amz-checksum-sha256", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")],
            body: Data("hello".utf8),
            unsigned: true
        ),
        Case(
            method: "HEAD",
            path: "/bucket/k",
            query: [("versionId", "3/L4kqtJl40Nr8X8gdRQBpUMLUo")],
            host: "s3.example.com"
        ),
        Case(method: "DELETE", path: "/bucket/k", query: [("uploadId", "x")], sessionToken: "FQoGZXIvYXdzE//token=="),
    ]

    @Test func matchesBotocore() async throws {
        var requests: [[String: Any]] = []
        for c in Self.cases {
            requests.append([
                "method": c.method, "url_base": "http://\(c.host)", "path": c.path,
                "query": c.query.map { [$0.0, $0.1] }, "headers": c.headers.map { [$0.0, $0.1] },
                "body_base64": c.body.base64EncodedString(), "unsigned": c.unsigned,
            ])
        }
        // One botocore run per session token (botocore takes it from the credentials).
        var expected: [[String: String]] = []
        for c in Self.cases {
            let input: [String: Any] = [
                "access_key": Self.credentials.accessKeyID, "secret_key": Self.credentials.secretAccessKey,
                "session_token": c.sessionToken as Any, "region": "us-east-1",
                "epoch": Int(Self.date.timeIntervalSince1970),
                "requests": [requests[expected.count]],
            ]
            expected += try await Self.botocore(input)
        }
        for (index, c) in Self.cases.enumerated() {
            var credentials = Self.credentials
            credentials.sessionToken = c.sessionToken
            let signer = SigV4Signer(credentials: credentials, region: "us-east-1")
            let payload: SigV4Signer.Payload =
                c.unsigned ? .unsigned : .sha256(HexText.lowercase(SHA256.hash(data: c.body)))
            let signed = signer.sign(
                method: c.method,
                host: c.host,
                path: SigV4Signer.encodePath(c.path),
                query: c.query,
                headers: c.headers,
                payload: payload,
                date: Self.date
            )
            #expect(signed.canonicalRequest == expected[index]["canonical_request"], "\(c.testDescription)")
            #expect(signed.authorization == expected[index]["authorization"], "\(c.testDescription)")
        }
    }

    /// AWS's documented example (GET /test.txt with a Range, S3 SigV4 "Example: GET Object").
    @Test func awsDocumentedExample() {
        let signer = SigV4Signer(credentials: Self.credentials, region: "us-east-1")
        let signed = signer.sign(
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/test.txt",
            query: [],
            headers: [("Range", "bytes=0-9")],
            payload: .empty,
            date: Self.date
        )
        #expect(
            signed.authorization
                == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        )
    }

    @Test func amzDateIsUTC() {
        #expect(SigV4Signer.amzDate(Date(timeIntervalSince1970: 0)) == "19700101T000000Z")
        #expect(SigV4Signer.amzDate(Date(timeIntervalSince1970: 1_709_251_199)) == "20240229T235959Z")
        #expect(S3Time.format(Date(timeIntervalSince1970: 1_764_921_600)) == "2025-12-05T08:00:00Z")
        #expect(S3Time.parse("2025-12-05T08:00:00.000Z") == Date(timeIntervalSince1970: 1_764_921_600))
    }

    @Test func credentialsNeverPrintTheSecret() {
        #expect(!"\(Self.credentials)".contains(Self.credentials.secretAccessKey))
    }

    static func botocore(_ input: [String: Any]) async throws -> [[String: String]] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let inputFile = FileManager.default.temporaryDirectory.appendingPathComponent("sigv4-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: input).write(to: inputFile)
        defer { try? FileManager.default.removeItem(at: inputFile) }
        let process = try ChildProcess(
            executable: "/usr/bin/env",
            arguments: ["python3", root.appendingPathComponent("tools/sigv4_botocore.py").path],
            standardInput: .file(inputFile.path),
            standardError: .nullDevice
        )
        try #require(
            try await process.waitForExit() == 0,
            "tools/sigv4_botocore.py failed (is botocore installed? make deps)"
        )
        let data = Data(process.standardOutput.utf8)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [[String: String]])
    }
}
