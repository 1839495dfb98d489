import Foundation

/// Where the archive's bucket is and how to reach it.
public struct S3Configuration: Sendable, Hashable {
    /// How the bucket is named in a request: in the path (`http://host/bucket/key`: MinIO, SeaweedFS, Ceph
    /// by default) or in the host name (`http://bucket.host/key`: AWS S3's default).
    public enum Addressing: String, Sendable, Hashable, CaseIterable, Codable {
        case path
        case virtualHost = "virtual-host"
    }

    /// `http` or `https`, a host and a port.
    public var endpoint: URL
    public var region: String
    public var bucket: String
    public var credentials: SigV4Signer.Credentials
    public var addressing: Addressing
    /// Files up to this size go in one PutObject; larger ones in parts of ``partSize``.
    public var multipartThreshold: Int
    /// A multipart upload's part size (S3: at least 5 MiB but for the last part).
    public var partSize: Int
    /// The longest a request may take, connection and body included.
    public var requestTimeout: Duration
    /// The largest response body read into memory (listings, error documents).
    public var maxResponseBytes: Int

    public init(
        endpoint: URL,
        region: String,
        bucket: String,
        credentials: SigV4Signer.Credentials,
        addressing: Addressing = .path,
        multipartThreshold: Int = 16 * 1024 * 1024,
        partSize: Int = 8 * 1024 * 1024,
        requestTimeout: Duration = .seconds(120),
        maxResponseBytes: Int = 8 * 1024 * 1024
    ) throws {
        guard let scheme = endpoint.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = endpoint.host, !host.isEmpty
        else {
            throw ObjectStoreError.invalidConfiguration(
                reason: "endpoint must be an http:// or https:// URL with a host, not \(endpoint.absoluteString)"
            )
        }
        guard Self.isValidBucketName(bucket) else {
            throw ObjectStoreError.invalidConfiguration(
                reason: "bucket \"\(bucket)\" is no valid bucket name (3–63 of a-z, 0-9, '.', '-')"
            )
        }
        guard !region.isEmpty, region.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw ObjectStoreError.invalidConfiguration(reason: "region must be a non-empty word (us-east-1, say)")
        }
        guard partSize >= 5 * 1024 * 1024, multipartThreshold >= partSize else {
            throw ObjectStoreError.invalidConfiguration(
                reason: "part size must be at least 5 MiB and the multipart threshold at least one part"
            )
        }
        self.endpoint = endpoint
        self.region = region
        self.bucket = bucket
        self.credentials = credentials
        self.addressing = addressing
        self.multipartThreshold = multipartThreshold
        self.partSize = partSize
        self.requestTimeout = requestTimeout
        self.maxResponseBytes = maxResponseBytes
    }

    /// S3's rules for a bucket name, strict enough that it is safe in a host name and a path.
    public static func isValidBucketName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (3...63).contains(bytes.count) else { return false }
        func alnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
        guard alnum(bytes.first!), alnum(bytes.last!) else { return false }
        return bytes.allSatisfy { alnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
    }

    /// The endpoint for logs: scheme, host and port only.
    public var endpointDescription: String {
        let port = self.endpoint.port.map { ":\($0)" } ?? ""
        return "\(self.endpoint.scheme ?? "http")://\(self.endpoint.host ?? "")\(port)"
    }
}

/// Object Lock retention of one version.
public struct ObjectLock: Sendable, Hashable, Codable {
    public enum Mode: String, Sendable, Hashable, Codable, CaseIterable {
        /// Nobody, the root account included, can delete the version or shorten its retention.
        case compliance = "COMPLIANCE"
        /// Users with `s3:BypassGovernanceRetention` can.
        case governance = "GOVERNANCE"
    }

    public var mode: Mode
    public var retainUntil: Date

    public init(mode: Mode, retainUntil: Date) {
        self.mode = mode
        self.retainUntil = retainUntil
    }
}
