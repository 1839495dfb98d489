import Crypto
import ExotelKit
import Foundation

/// AWS Signature Version 4 for S3: the canonical request, the string to sign, the signing key and the
/// `Authorization` header, as S3 checks them. Pure: no clock, no I/O; the date comes in.
///
/// S3's rules, which differ from other services: the path is encoded once and not normalised (a key's `//`
/// or `..` are kept), and the payload hash is sent as `x-amz-content-sha256` (the body's SHA-256 in hex, or
/// `UNSIGNED-PAYLOAD`). Every header given is signed, `host` included (without a default port).
///
/// ```swift
/// let signer = SigV4Signer(credentials: credentials, region: "us-east-1")
/// let signed = signer.sign(
///     method: "PUT", host: "127.0.0.1:8333", path: "/bucket/a%20b.wav", query: [],
///     headers: [("content-length", "5")], payload: .sha256(hex), date: Date())
/// // signed.headers: host, x-amz-date, x-amz-content-sha256, authorization (and the given ones)
/// ```
public struct SigV4Signer: Sendable {
    /// An access key and its secret. `description` never shows the secret.
    public struct Credentials: Sendable, Hashable, CustomStringConvertible {
        public var accessKeyID: String
        public var secretAccessKey: String
        /// A temporary credential's session token (`x-amz-security-token`), when there is one.
        public var sessionToken: String?

        public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
            self.accessKeyID = accessKeyID
            self.secretAccessKey = secretAccessKey
            self.sessionToken = sessionToken
        }

        public var description: String { "Credentials(\(self.accessKeyID), secret redacted)" }
    }

    /// What `x-amz-content-sha256` says of the body.
    public enum Payload: Sendable, Hashable {
        /// The body's SHA-256, lowercase hex.
        case sha256(String)
        /// `UNSIGNED-PAYLOAD`: the body is not covered by the signature (its own checksum header protects it).
        case unsigned

        /// The SHA-256 of no bytes.
        public static let empty = Payload.sha256("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")

        var headerValue: String {
            switch self {
            case .sha256(let hex): hex
            case .unsigned: "UNSIGNED-PAYLOAD"
            }
        }
    }

    /// A signed request's headers (lowercase names, in canonical order, `authorization` last) and the
    /// intermediate texts, which tests compare with another signer's.
    public struct Signed: Sendable, Hashable {
        public var headers: [(name: String, value: String)]
        public var canonicalRequest: String
        public var stringToSign: String
        public var authorization: String

        public static func == (lhs: Signed, rhs: Signed) -> Bool {
            lhs.canonicalRequest == rhs.canonicalRequest && lhs.authorization == rhs.authorization
        }

        public func hash(into hasher: inout Hasher) { hasher.combine(self.authorization) }
    }

    public let credentials: Credentials
    public let region: String
    public let service: String

    public init(credentials: Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// Signs a request.
    /// - Parameters:
    ///   - path: the request path as sent, already encoded (``encodePath(_:)``).
    ///   - query: the query's pairs, not encoded (a flag such as `uploads` has the value "").
    ///   - headers: the headers to send and sign besides `host`, `x-amz-date` and `x-amz-content-sha256`.
    public func sign(
        method: String,
        host: String,
        path: String,
        query: [(String, String)],
        headers: [(String, String)],
        payload: Payload,
        date: Date
    ) -> Signed {
        let amzDate = Self.amzDate(date)
        let day = String(amzDate.prefix(8))
        var all: [String: [String]] = [:]
        for (name, value) in headers { all[name.lowercased(), default: []].append(value) }
        all["host"] = [host]
        all["x-amz-date"] = [amzDate]
        all["x-amz-content-sha256"] = [payload.headerValue]
        if let token = self.credentials.sessionToken { all["x-amz-security-token"] = [token] }
        let names = all.keys.sorted()
        let canonicalHeaders = names.map { name in
            "\(name):" + all[name]!.map(Self.trimAll).joined(separator: ",") + "\n"
        }.joined()
        let signedHeaders = names.joined(separator: ";")
        let canonicalRequest = [
            method.uppercased(),
            path.isEmpty ? "/" : path,
            Self.canonicalQuery(query),
            canonicalHeaders,
            signedHeaders,
            payload.headerValue,
        ].joined(separator: "\n")
        let scope = "\(day)/\(self.region)/\(self.service)/aws4_request"
        let stringToSign = [
            "AWS4-HMAC-SHA256", amzDate, scope, Self.hex(SHA256.hash(data: Data(canonicalRequest.utf8))),
        ].joined(separator: "\n")
        let signature = Self.hex(
            HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: self.signingKey(day: day))
        )
        let authorization =
            "AWS4-HMAC-SHA256 Credential=\(self.credentials.accessKeyID)/\(scope), "
            + "SignedHeaders=\(signedHeaders), Signature=\(signature)"
        var out = names.map { (name: $0, value: all[$0]!.joined(separator: ",")) }
        out.append((name: "authorization", value: authorization))
        return Signed(
            headers: out,
            canonicalRequest: canonicalRequest,
            stringToSign: stringToSign,
            authorization: authorization
        )
    }

    /// The key for one day: HMAC chained over the date, region, service and `aws4_request`.
    func signingKey(day: String) -> SymmetricKey {
        func hmac(_ key: SymmetricKey, _ text: String) -> SymmetricKey {
            SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key)))
        }
        let secret = SymmetricKey(data: Data(("AWS4" + self.credentials.secretAccessKey).utf8))
        return hmac(hmac(hmac(hmac(secret, day), self.region), self.service), "aws4_request")
    }

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC.
    public static func amzDate(_ date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let (year, month, day) = Self.civil(fromDays: days)
        let rest = seconds - days * 86_400
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)\(two(month))\(two(day))T\(two(rest / 3600))\(two(rest / 60 % 60))\(two(rest % 60))Z"
    }

    /// Howard Hinnant's days-to-civil: no calendar object, no locale.
    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// A key (or bucket and key) as an S3 path: every byte but the unreserved ones and `/` percent-encoded
    /// (uppercase hex), as botocore's serializer does.
    public static func encodePath(_ path: String) -> String { Self.percentEncode(path, keepSlash: true) }

    /// One query key or value: every byte but the unreserved ones percent-encoded.
    public static func encodeQueryComponent(_ text: String) -> String { Self.percentEncode(text, keepSlash: false) }

    /// The query's pairs encoded and sorted by key, then value.
    public static func canonicalQuery(_ query: [(String, String)]) -> String {
        query.map { (Self.encodeQueryComponent($0.0), Self.encodeQueryComponent($0.1)) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            .map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    private static func percentEncode(_ text: String, keepSlash: Bool) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        let digits = Array("0123456789ABCDEF")
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                out.append("%")
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0x0F)])
            }
        }
        return out
    }

    /// Leading and trailing white space removed, inner runs made one space (botocore's `' '.join(v.split())`).
    static func trimAll(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).joined(separator: " ")
    }

    static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 { HexText.lowercase(bytes) }
}
