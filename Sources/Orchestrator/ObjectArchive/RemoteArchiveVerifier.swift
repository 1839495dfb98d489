public import Catalog
import Foundation
import MediaStore
public import ObjectStore

/// `exorec verify --remote`: every archived object checked in the bucket, and the bucket's versions under
/// the prefix checked against the catalog (docs/ARCHIVE.md, "Verifying the archive").
public struct RemoteArchiveVerifier: Sendable {
    /// One thing wrong with the archive.
    public struct Problem: Sendable, Hashable, Codable {
        public enum Kind: String, Sendable, Hashable, Codable {
            /// The catalogued version is gone (or never was).
            case missing
            /// The version's checksum or size differs, or a newer version now covers the key.
            case changed
            /// No lock in force, or one that ends before the catalogued date.
            case unlocked
            /// The store's legal hold differs from the catalog's hold on the call.
            case legalHold = "legal-hold"
            /// A version under the prefix the catalog does not know.
            case unexpected
        }

        public var kind: Kind
        public var path: String?
        public var key: String
        public var versionID: String?
        public var detail: String

        enum CodingKeys: String, CodingKey {
            case kind, path, key, detail
            case versionID = "version_id"
        }
    }

    public struct Report: Sendable, Hashable, Encodable {
        public var bucket: String
        public var prefix: String
        public var checked = 0
        public var versionsListed = 0
        public var problems: [Problem] = []
        public var ok: Bool { self.problems.isEmpty }

        enum CodingKeys: String, CodingKey {
            case bucket, prefix, checked, problems, ok
            case versionsListed = "versions_listed"
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(self.bucket, forKey: .bucket)
            try container.encode(self.prefix, forKey: .prefix)
            try container.encode(self.checked, forKey: .checked)
            try container.encode(self.versionsListed, forKey: .versionsListed)
            try container.encode(self.problems, forKey: .problems)
            try container.encode(self.ok, forKey: .ok)
        }
    }

    public let catalog: Catalog
    public let client: S3Client
    public let prefix: String

    public init(catalog: Catalog, client: S3Client, prefix: String) {
        self.catalog = catalog
        self.client = client
        self.prefix = prefix
    }

    public func verify(now: Date = Date(), progress: (@Sendable (Int) -> Void)? = nil) async throws -> Report {
        var report = Report(bucket: self.client.configuration.bucket, prefix: self.prefix)
        var known: [String: Set<String>] = [:]
        var latestExpected: [String: String] = [:]
        var after = ""
        while true {
            let page = try await self.catalog.archivedObjects(after: after, limit: 500)
            if page.isEmpty { break }
            for object in page {
                after = object.path
                report.checked += 1
                known[object.key, default: []].insert(object.versionID)
                latestExpected[object.key] = object.versionID
                let wanted = try await self.catalog.archiveHoldWanted(callSid: object.callSid, path: object.path)
                report.problems += try await self.check(object, holdWanted: wanted, now: now)
                progress?(report.checked)
            }
        }
        let versions = try await self.client.listObjectVersions(prefix: self.prefix)
        report.versionsListed = versions.count
        for version in versions {
            if version.isLatest, let expected = latestExpected[version.key], expected != version.versionID {
                report.problems.append(
                    Problem(
                        kind: .changed,
                        path: nil,
                        key: version.key,
                        versionID: version.versionID,
                        detail: version.isDeleteMarker
                            ? "a delete marker now hides the archived version \(expected)"
                            : "a newer version (\(version.versionID)) covers the archived one (\(expected))"
                    )
                )
            }
            guard !version.isDeleteMarker else { continue }
            if !(known[version.key]?.contains(version.versionID) ?? false) {
                report.problems.append(
                    Problem(
                        kind: .unexpected,
                        path: nil,
                        key: version.key,
                        versionID: version.versionID,
                        detail: "a version the catalog does not know (\(version.bytes) bytes)"
                    )
                )
            }
        }
        return report
    }

    func check(_ object: ArchivedObject, holdWanted: Bool?, now: Date) async throws -> [Problem] {
        func problem(_ kind: Problem.Kind, _ detail: String) -> Problem {
            Problem(kind: kind, path: object.path, key: object.key, versionID: object.versionID, detail: detail)
        }
        guard let head = try await self.client.headObject(key: object.key, versionID: object.versionID) else {
            if let until = object.retainUntil, until.millisecondsSinceEpoch < Int64(now.timeIntervalSince1970 * 1000) {
                return []  // its retention ended: the store may have expired it
            }
            return [problem(.missing, "the version is not in the bucket")]
        }
        var problems: [Problem] = []
        if head.bytes != object.bytes {
            problems.append(problem(.changed, "\(head.bytes) bytes in the bucket, \(object.bytes) archived"))
        }
        if let checksum = head.checksumSHA256, !object.checksum.isEmpty, checksum != object.checksum {
            problems.append(problem(.changed, "checksum \(checksum) in the bucket, \(object.checksum) archived"))
        } else if head.checksumSHA256 == nil, head.metadata["exorec-sha256"] != object.sha256 {
            problems.append(problem(.changed, "the store reports no SHA-256 checksum for the version"))
        }
        if let expectedUntil = object.retainUntil {
            let expected = Date(timeIntervalSince1970: Double(expectedUntil.millisecondsSinceEpoch) / 1000)
            if let lock = head.lock {
                if lock.retainUntil.addingTimeInterval(1) < expected {
                    problems.append(
                        problem(
                            .unlocked,
                            "locked until \(S3Time.format(lock.retainUntil)), expected \(S3Time.format(expected))"
                        )
                    )
                } else if let mode = object.lockMode, lock.mode.rawValue != mode {
                    problems.append(problem(.unlocked, "lock mode \(lock.mode.rawValue), expected \(mode)"))
                }
            } else if expected > now {
                problems.append(
                    problem(.unlocked, "no retention on the version; expected until \(S3Time.format(expected))")
                )
            }
        }
        if let holdWanted, head.legalHold != holdWanted {
            problems.append(
                problem(
                    .legalHold,
                    "legal hold \(head.legalHold ? "on" : "off") in the bucket, the call is \(holdWanted ? "" : "not ")held"
                )
            )
        }
        return problems
    }
}
