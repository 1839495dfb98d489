import AsyncHTTPClient
import Crypto
import Dispatch
import ExotelKit
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// One version of an object, as HeadObject or a listing tells it.
public struct ObjectHead: Sendable, Hashable {
    public var key: String
    public var versionID: String?
    public var bytes: Int64
    /// `x-amz-checksum-sha256` as the store returns it: base64 of the SHA-256 for a single PUT,
    /// `base64-N` (a checksum of the parts' checksums) for a multipart upload.
    public var checksumSHA256: String?
    public var lock: ObjectLock?
    public var legalHold: Bool
    /// `x-amz-meta-*`, names without the prefix.
    public var metadata: [String: String]
}

/// One entry of ListObjectVersions (a version or a delete marker).
public struct ObjectVersion: Sendable, Hashable {
    public var key: String
    public var versionID: String
    public var isLatest: Bool
    public var isDeleteMarker: Bool
    public var bytes: Int64
}

/// A multipart upload the store still holds open.
public struct OpenMultipartUpload: Sendable, Hashable {
    public var key: String
    public var uploadID: String
}

/// What an upload left in the store.
public struct StoredObject: Sendable, Hashable {
    public var key: String
    public var versionID: String
    public var checksumSHA256: String
    public var bytes: Int64
}

/// An S3 client for the archive, on async-http-client and swift-crypto (``SigV4Signer``): the operations an
/// Object Lock archive needs and no more. Every answer is bounded (``S3Configuration/maxResponseBytes``)
/// and read as hostile; credentials appear in no log and no error.
///
/// ```swift
/// let client = S3Client(configuration: configuration, logger: logger)
/// let stored = try await client.putFile(at: "/srv/a.wav", key: "media/a.wav", lock: lock, legalHold: false)
/// try await client.shutdown()
/// ```
public final class S3Client: Sendable {
    public let configuration: S3Configuration
    private let http: HTTPClient
    private let signer: SigV4Signer
    private let logger: Logger

    public init(configuration: S3Configuration, httpClient: HTTPClient? = nil, logger: Logger) {
        self.configuration = configuration
        self.http = httpClient ?? Self.sharedHTTPClient
        self.signer = SigV4Signer(credentials: configuration.credentials, region: configuration.region)
        var logger = logger
        logger[metadataKey: "s3.bucket"] = "\(configuration.bucket)"
        self.logger = logger
    }

    /// The process's client for object stores, made at first use and never shut down (as AHC's own
    /// `HTTPClient.shared`, which cannot be used here: it follows redirects, and a signed request must not
    /// be replayed to another host). A client of its own per ``S3Client`` would have to be shut down on
    /// every path, the failed start-ups of `serve` included.
    static let sharedHTTPClient: HTTPClient = {
        var config = HTTPClient.Configuration()
        config.redirectConfiguration = .disallow
        // A store that is down fails a command within the connect timeout (the pool retries a refused
        // connection until then); a read that stalls fails after a minute.
        config.timeout = .init(connect: .seconds(5), read: .seconds(60))
        config.decompression = .disabled
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: config)
    }()

    /// Shuts down an HTTP client given to ``init(configuration:httpClient:logger:)`` is the giver's job; the
    /// shared one lives as long as the process. Kept so callers need not know which.
    public func shutdown() async throws {}

    // MARK: - Uploads

    /// Uploads a file: one PutObject up to the multipart threshold, a multipart upload above it. The store
    /// checks every byte against the SHA-256 sent (`x-amz-checksum-sha256`, per part for multipart), and the
    /// version gets the lock (and the legal hold) in the same request that creates it.
    /// - Parameter sha256: the file's SHA-256 as catalogued; the bytes read are hashed again and must match,
    ///   so a file changed on disk since it was catalogued is never archived under its record.
    public func putFile(
        at path: String,
        key: String,
        sha256: String?,
        lock: ObjectLock?,
        legalHold: Bool,
        metadata: [String: String] = [:]
    ) async throws -> StoredObject {
        let handle: FileHandle
        do { handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path)) } catch {
            throw ObjectStoreError.localFile(path: path, reason: "cannot open: \(error.localizedDescription)")
        }
        defer { try? handle.close() }
        let size: Int64
        do {
            size = Int64(try handle.seekToEnd())
            try handle.seek(toOffset: 0)
        } catch {
            throw ObjectStoreError.localFile(path: path, reason: "cannot read its size: \(error.localizedDescription)")
        }
        if size <= Int64(self.configuration.multipartThreshold) {
            let (data, digest) = try await BlockingWork.run {
                let data = try Self.read(handle, count: Int(size), path: path)
                return (data, Array(SHA256.hash(data: data)))
            }
            if let sha256, HexText.lowercase(digest) != sha256.lowercased() {
                throw ObjectStoreError.localFile(
                    path: path,
                    reason: "its SHA-256 is \(HexText.lowercase(digest)), the catalog has \(sha256)"
                )
            }
            return try await self.putObject(
                key: key,
                body: data,
                digest: Array(digest),
                lock: lock,
                legalHold: legalHold,
                metadata: metadata
            )
        }
        return try await self.putMultipart(
            handle: handle,
            path: path,
            size: size,
            key: key,
            sha256: sha256,
            lock: lock,
            legalHold: legalHold,
            metadata: metadata
        )
    }

    /// One PutObject of `body`.
    public func putObject(
        key: String,
        body: Data,
        digest: [UInt8]? = nil,
        lock: ObjectLock?,
        legalHold: Bool,
        metadata: [String: String] = [:]
    ) async throws -> StoredObject {
        let digest = digest ?? Array(SHA256.hash(data: body))
        let checksum = Data(digest).base64EncodedString()
        var headers: [(String, String)] = [
            ("content-length", "\(body.count)"), ("content-type", "application/octet-stream"),
            ("x-amz-checksum-sha256", checksum), ("x-amz-sdk-checksum-algorithm", "SHA256"),
        ]
        headers += Self.lockHeaders(lock: lock, legalHold: legalHold)
        headers += metadata.sorted { $0.key < $1.key }.map { ("x-amz-meta-\($0.key)", $0.value) }
        let response = try await self.send(
            "PutObject",
            method: .PUT,
            key: key,
            headers: headers,
            body: body,
            payload: .sha256(HexText.lowercase(digest))
        )
        guard let version = response.headers.first(name: "x-amz-version-id"), !version.isEmpty else {
            throw ObjectStoreError.badResponse(
                operation: "PutObject",
                key: key,
                reason: "no x-amz-version-id: the bucket must have versioning and Object Lock enabled"
            )
        }
        let stored = response.headers.first(name: "x-amz-checksum-sha256") ?? checksum
        guard stored == checksum else {
            throw ObjectStoreError.badResponse(
                operation: "PutObject",
                key: key,
                reason: "the store reports checksum \(S3ErrorBody.clean(stored)), exorec sent \(checksum)"
            )
        }
        return StoredObject(key: key, versionID: version, checksumSHA256: checksum, bytes: Int64(body.count))
    }

    private func putMultipart(
        handle: FileHandle,
        path: String,
        size: Int64,
        key: String,
        sha256: String?,
        lock: ObjectLock?,
        legalHold: Bool,
        metadata: [String: String]
    ) async throws -> StoredObject {
        let uploadID = try await self.createMultipartUpload(
            key: key,
            lock: lock,
            legalHold: legalHold,
            metadata: metadata
        )
        do {
            var whole = SHA256()
            var parts: [(number: Int, etag: String, checksum: String)] = []
            var offset: Int64 = 0
            var number = 1
            while offset < size {
                let count = Int(min(Int64(self.configuration.partSize), size - offset))
                let (data, digest) = try await BlockingWork.run {
                    let data = try Self.read(handle, count: count, path: path)
                    return (data, Array(SHA256.hash(data: data)))
                }
                whole.update(data: data)
                let etag = try await self.uploadPart(
                    key: key,
                    uploadID: uploadID,
                    number: number,
                    body: data,
                    digest: digest
                )
                parts.append((number, etag, Data(digest).base64EncodedString()))
                offset += Int64(count)
                number += 1
            }
            let total = HexText.lowercase(whole.finalize())
            if let sha256, total != sha256.lowercased() {
                throw ObjectStoreError.localFile(
                    path: path,
                    reason: "its SHA-256 is \(total), the catalog has \(sha256)"
                )
            }
            return try await self.completeMultipartUpload(key: key, uploadID: uploadID, parts: parts, bytes: size)
        } catch {
            // Best effort: a stale upload is also aborted by the archiver's next sweep (listMultipartUploads).
            try? await self.abortMultipartUpload(key: key, uploadID: uploadID)
            throw error
        }
    }

    public func createMultipartUpload(
        key: String,
        lock: ObjectLock?,
        legalHold: Bool,
        metadata: [String: String] = [:]
    ) async throws -> String {
        var headers: [(String, String)] = [
            ("content-type", "application/octet-stream"), ("x-amz-checksum-algorithm", "SHA256"),
        ]
        headers += Self.lockHeaders(lock: lock, legalHold: legalHold)
        headers += metadata.sorted { $0.key < $1.key }.map { ("x-amz-meta-\($0.key)", $0.value) }
        let response = try await self.send(
            "CreateMultipartUpload",
            method: .POST,
            key: key,
            query: [("uploads", "")],
            headers: headers
        )
        guard let id = response.xml?.value("UploadId"), !id.isEmpty else {
            throw ObjectStoreError.badResponse(operation: "CreateMultipartUpload", key: key, reason: "no UploadId")
        }
        return id
    }

    public func uploadPart(
        key: String,
        uploadID: String,
        number: Int,
        body: Data,
        digest: [UInt8]
    ) async throws
        -> String
    {
        let response = try await self.send(
            "UploadPart",
            method: .PUT,
            key: key,
            query: [("partNumber", "\(number)"), ("uploadId", uploadID)],
            headers: [
                ("content-length", "\(body.count)"), ("x-amz-checksum-sha256", Data(digest).base64EncodedString()),
            ],
            body: body,
            payload: .sha256(HexText.lowercase(digest))
        )
        guard let etag = response.headers.first(name: "etag") else {
            throw ObjectStoreError.badResponse(operation: "UploadPart", key: key, reason: "no ETag")
        }
        return etag
    }

    public func completeMultipartUpload(
        key: String,
        uploadID: String,
        parts: [(number: Int, etag: String, checksum: String)],
        bytes: Int64
    ) async throws -> StoredObject {
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for part in parts {
            xml += "<Part><PartNumber>\(part.number)</PartNumber><ETag>\(Self.escapeXML(part.etag))</ETag>"
            xml += "<ChecksumSHA256>\(part.checksum)</ChecksumSHA256></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let body = Data(xml.utf8)
        let response = try await self.send(
            "CompleteMultipartUpload",
            method: .POST,
            key: key,
            query: [("uploadId", uploadID)],
            headers: [("content-length", "\(body.count)"), ("content-type", "application/xml")],
            body: body,
            payload: .sha256(HexText.lowercase(SHA256.hash(data: body)))
        )
        // S3 may answer 200 with an error document after a while.
        if let root = response.xml, root.localName == "Error" {
            throw ObjectStoreError.refused(
                operation: "CompleteMultipartUpload",
                key: key,
                status: 200,
                s3Code: S3ErrorBody.clean(root.value("Code") ?? ""),
                message: S3ErrorBody.clean(root.value("Message") ?? "")
            )
        }
        guard let version = response.headers.first(name: "x-amz-version-id"), !version.isEmpty else {
            throw ObjectStoreError.badResponse(
                operation: "CompleteMultipartUpload",
                key: key,
                reason: "no x-amz-version-id: the bucket must have versioning and Object Lock enabled"
            )
        }
        let checksum =
            response.xml?.value("ChecksumSHA256") ?? response.headers.first(name: "x-amz-checksum-sha256") ?? ""
        return StoredObject(key: key, versionID: version, checksumSHA256: S3ErrorBody.clean(checksum), bytes: bytes)
    }

    public func abortMultipartUpload(key: String, uploadID: String) async throws {
        _ = try await self.send("AbortMultipartUpload", method: .DELETE, key: key, query: [("uploadId", uploadID)])
    }

    /// The multipart uploads still open under `prefix` (first page of up to 1,000).
    public func listMultipartUploads(prefix: String) async throws -> [OpenMultipartUpload] {
        let response = try await self.send(
            "ListMultipartUploads",
            method: .GET,
            key: "",
            query: [("uploads", ""), ("prefix", prefix)]
        )
        return (response.xml?.children("Upload") ?? []).compactMap { upload in
            guard let key = upload.value("Key"), let id = upload.value("UploadId") else { return nil }
            return OpenMultipartUpload(key: key, uploadID: id)
        }
    }

    // MARK: - Reads

    /// HeadObject of a version (the latest without one); nil when the store has no such key or version.
    public func headObject(key: String, versionID: String? = nil) async throws -> ObjectHead? {
        var query: [(String, String)] = []
        if let versionID { query.append(("versionId", versionID)) }
        do {
            let response = try await self.send(
                "HeadObject",
                method: .HEAD,
                key: key,
                query: query,
                headers: [("x-amz-checksum-mode", "ENABLED")]
            )
            return Self.head(key: key, response.headers)
        } catch let error as ObjectStoreError where error.isNotFound {
            return nil
        } catch ObjectStoreError.refused(_, _, 400, _, _) where versionID != nil {
            // Some stores answer a version id they never issued with 400 rather than 404.
            return nil
        }
    }

    /// GetObject of a byte range (`first...last`, inclusive) of a version, into memory; the range must fit
    /// ``S3Configuration/maxResponseBytes``.
    public func getObject(key: String, versionID: String?, range: ClosedRange<Int64>?) async throws -> Data {
        var query: [(String, String)] = []
        if let versionID { query.append(("versionId", versionID)) }
        var headers: [(String, String)] = []
        if let range { headers.append(("range", "bytes=\(range.lowerBound)-\(range.upperBound)")) }
        let response = try await self.send("GetObject", method: .GET, key: key, query: query, headers: headers)
        return response.body
    }

    /// GetObject of a whole version, streamed into a new file at `path` (created `0600`); returns the SHA-256
    /// of what was written.
    public func download(
        key: String,
        versionID: String?,
        to path: String
    ) async throws -> (bytes: Int64, sha256: String) {
        var query: [(String, String)] = []
        if let versionID { query.append(("versionId", versionID)) }
        let request = try self.request(method: .GET, key: key, query: query, headers: [], body: nil, payload: .empty)
        let response: HTTPClientResponse
        do { response = try await self.http.execute(request, timeout: .seconds(3600)) } catch {
            throw ObjectStoreError.unreachable(
                operation: "GetObject",
                endpoint: self.configuration.endpointDescription,
                reason: "\(error)"
            )
        }
        guard response.status == .ok else {
            let body = try? await response.body.collect(upTo: 64 * 1024)
            let parsed = body.flatMap { S3ErrorBody.parse(Data($0.readableBytesView)) }
            throw ObjectStoreError.refused(
                operation: "GetObject",
                key: key,
                status: Int(response.status.code),
                s3Code: parsed?.code ?? "",
                message: parsed?.message ?? ""
            )
        }
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
            let handle = FileHandle(forWritingAtPath: path)
        else { throw ObjectStoreError.localFile(path: path, reason: "cannot create it") }
        defer { try? handle.close() }
        var hash = SHA256()
        var total: Int64 = 0
        do {
            for try await chunk in response.body {
                let data = Data(chunk.readableBytesView)
                hash.update(data: data)
                try handle.write(contentsOf: data)
                total += Int64(data.count)
            }
        } catch let error as ObjectStoreError {
            throw error
        } catch {
            throw ObjectStoreError.unreachable(
                operation: "GetObject",
                endpoint: self.configuration.endpointDescription,
                reason: "\(error)"
            )
        }
        return (total, HexText.lowercase(hash.finalize()))
    }

    /// Every version and delete marker under `prefix`, following the listing's pages.
    public func listObjectVersions(prefix: String) async throws -> [ObjectVersion] {
        var out: [ObjectVersion] = []
        var keyMarker: String?
        var versionMarker: String?
        for _ in 0..<100_000 {
            var query: [(String, String)] = [("versions", ""), ("prefix", prefix)]
            if let keyMarker { query.append(("key-marker", keyMarker)) }
            if let versionMarker { query.append(("version-id-marker", versionMarker)) }
            let response = try await self.send("ListObjectVersions", method: .GET, key: "", query: query)
            guard let root = response.xml else {
                throw ObjectStoreError.badResponse(operation: "ListObjectVersions", key: prefix, reason: "no XML")
            }
            for element in root.children where element.localName == "Version" || element.localName == "DeleteMarker" {
                guard let key = element.value("Key"), let version = element.value("VersionId") else { continue }
                out.append(
                    ObjectVersion(
                        key: key,
                        versionID: version,
                        isLatest: element.value("IsLatest") == "true",
                        isDeleteMarker: element.localName == "DeleteMarker",
                        bytes: Int64(element.value("Size") ?? "") ?? 0
                    )
                )
            }
            guard root.value("IsTruncated") == "true" else { return out }
            let nextKey = root.value("NextKeyMarker")
            let nextVersion = root.value("NextVersionIdMarker")
            guard nextKey != nil, nextKey != keyMarker || nextVersion != versionMarker else { return out }
            keyMarker = nextKey
            versionMarker = nextVersion
        }
        return out
    }

    // MARK: - Locks

    /// Sets or clears the legal hold of one version.
    public func putLegalHold(key: String, versionID: String, on: Bool) async throws {
        let xml =
            "<LegalHold xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>\(on ? "ON" : "OFF")</Status></LegalHold>"
        let body = Data(xml.utf8)
        let digest = Array(SHA256.hash(data: body))
        _ = try await self.send(
            "PutObjectLegalHold",
            method: .PUT,
            key: key,
            query: [("legal-hold", ""), ("versionId", versionID)],
            headers: [
                ("content-length", "\(body.count)"), ("content-type", "application/xml"),
                ("content-md5", Data(Insecure.MD5.hash(data: body)).base64EncodedString()),
            ],
            body: body,
            payload: .sha256(HexText.lowercase(digest))
        )
    }

    /// Creates a bucket with Object Lock (and so versioning) enabled; for tests and first set-up.
    public func createBucket(objectLock: Bool = true) async throws {
        var headers: [(String, String)] = [("content-length", "0")]
        if objectLock { headers.append(("x-amz-bucket-object-lock-enabled", "true")) }
        _ = try await self.send("CreateBucket", method: .PUT, key: "", headers: headers)
    }

    // MARK: - Requests

    struct Response {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: Data
        var xml: S3XML? { self.body.isEmpty ? nil : S3XML.parse(self.body) }
    }

    func send(
        _ operation: String,
        method: HTTPMethod,
        key: String,
        query: [(String, String)] = [],
        headers: [(String, String)] = [],
        body: Data? = nil,
        payload: SigV4Signer.Payload = .empty
    ) async throws -> Response {
        let request = try self.request(
            method: method,
            key: key,
            query: query,
            headers: headers,
            body: body,
            payload: payload
        )
        let response: HTTPClientResponse
        let collected: ByteBuffer
        do {
            response = try await self.http.execute(request, timeout: .init(self.configuration.requestTimeout))
            collected = try await response.body.collect(upTo: self.configuration.maxResponseBytes)
        } catch let error as NIOTooManyBytesError {
            throw ObjectStoreError.badResponse(
                operation: operation,
                key: key,
                reason: "the answer is over \(self.configuration.maxResponseBytes) bytes (\(error))"
            )
        } catch {
            throw ObjectStoreError.unreachable(
                operation: operation,
                endpoint: self.configuration.endpointDescription,
                reason: "\(error)"
            )
        }
        let data = Data(collected.readableBytesView)
        guard (200..<300).contains(Int(response.status.code)) else {
            let parsed = S3ErrorBody.parse(data)
            let error = ObjectStoreError.refused(
                operation: operation,
                key: key,
                status: Int(response.status.code),
                s3Code: parsed?.code ?? "",
                message: parsed?.message ?? ""
            )
            self.logger.debug(
                "object store refused a request",
                metadata: [
                    "s3.operation": "\(operation)", "s3.status": "\(response.status.code)",
                    "s3.code": "\(parsed?.code ?? "")",
                ]
            )
            throw error
        }
        return Response(status: response.status, headers: response.headers, body: data)
    }

    func request(
        method: HTTPMethod,
        key: String,
        query: [(String, String)],
        headers: [(String, String)],
        body: Data?,
        payload: SigV4Signer.Payload
    ) throws -> HTTPClientRequest {
        let endpoint = self.configuration.endpoint
        let scheme = endpoint.scheme?.lowercased() ?? "http"
        var host = endpoint.host ?? ""
        if host.contains(":") { host = "[\(host)]" }
        var path: String
        switch self.configuration.addressing {
        case .path:
            path = "/\(self.configuration.bucket)" + (key.isEmpty ? "" : "/\(key)")
        case .virtualHost:
            host = "\(self.configuration.bucket).\(host)"
            path = "/\(key)"
        }
        let defaultPort = scheme == "https" ? 443 : 80
        let hostHeader = endpoint.port.map { $0 == defaultPort ? host : "\(host):\($0)" } ?? host
        let encodedPath = SigV4Signer.encodePath(path)
        let signed = self.signer.sign(
            method: method.rawValue,
            host: hostHeader,
            path: encodedPath,
            query: query,
            headers: headers,
            payload: payload,
            date: Date()
        )
        let queryText = query.map {
            $0.1.isEmpty && $0.0 != "prefix"
                ? SigV4Signer.encodeQueryComponent($0.0)
                : "\(SigV4Signer.encodeQueryComponent($0.0))=\(SigV4Signer.encodeQueryComponent($0.1))"
        }.joined(separator: "&")
        var request = HTTPClientRequest(
            url: "\(scheme)://\(hostHeader)\(encodedPath)" + (queryText.isEmpty ? "" : "?\(queryText)")
        )
        request.method = method
        for (name, value) in signed.headers where name != "content-length" {
            request.headers.add(name: name, value: value)
        }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        return request
    }

    static func lockHeaders(lock: ObjectLock?, legalHold: Bool) -> [(String, String)] {
        var headers: [(String, String)] = []
        if let lock {
            headers.append(("x-amz-object-lock-mode", lock.mode.rawValue))
            headers.append(("x-amz-object-lock-retain-until-date", S3Time.format(lock.retainUntil)))
        }
        if legalHold { headers.append(("x-amz-object-lock-legal-hold", "ON")) }
        return headers
    }

    static func head(key: String, _ headers: HTTPHeaders) -> ObjectHead {
        var lock: ObjectLock?
        if let mode = headers.first(name: "x-amz-object-lock-mode").flatMap({
            ObjectLock.Mode(rawValue: $0.uppercased())
        }),
            let until = headers.first(name: "x-amz-object-lock-retain-until-date").flatMap(S3Time.parse)
        {
            lock = ObjectLock(mode: mode, retainUntil: until)
        }
        var metadata: [String: String] = [:]
        for (name, value) in headers where name.lowercased().hasPrefix("x-amz-meta-") {
            metadata[String(name.lowercased().dropFirst("x-amz-meta-".count))] = S3ErrorBody.clean(value)
        }
        return ObjectHead(
            key: key,
            versionID: headers.first(name: "x-amz-version-id"),
            bytes: Int64(headers.first(name: "content-length") ?? "") ?? 0,
            checksumSHA256: headers.first(name: "x-amz-checksum-sha256"),
            lock: lock,
            legalHold: headers.first(name: "x-amz-object-lock-legal-hold")?.uppercased() == "ON",
            metadata: metadata
        )
    }

    static func read(_ handle: FileHandle, count: Int, path: String) throws -> Data {
        do {
            let data = try handle.read(upToCount: count) ?? Data()
            guard data.count == count else {
                throw ObjectStoreError.localFile(path: path, reason: "read \(data.count) of \(count) bytes: it shrank")
            }
            return data
        } catch let error as ObjectStoreError {
            throw error
        } catch {
            throw ObjectStoreError.localFile(path: path, reason: error.localizedDescription)
        }
    }

    static func escapeXML(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

/// S3's ISO 8601 times (`2026-12-05T07:35:28Z`), written and read without a shared formatter.
public enum S3Time {
    public static func format(_ date: Date) -> String {
        let amz = SigV4Signer.amzDate(date)  // yyyyMMddTHHmmssZ
        let c = Array(amz)
        return
            "\(String(c[0..<4]))-\(String(c[4..<6]))-\(String(c[6..<8]))T\(String(c[9..<11])):\(String(c[11..<13])):\(String(c[13..<15]))Z"
    }

    public static func parse(_ text: String) -> Date? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.utf8.count <= 40 else { return nil }
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(trimmed) { return date }
        return try? Date.ISO8601FormatStyle().parse(trimmed)
    }
}
