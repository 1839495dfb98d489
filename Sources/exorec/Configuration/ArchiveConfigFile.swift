import Foundation
import Ingest

/// The `archive` section of `exorec.yaml`: the WORM archive on an S3 bucket with Object Lock (docs/ARCHIVE.md).
/// Plain values only (the fuzzed config parser compiles this file); `ArchiveSetup` turns them into the
/// object store's configuration.
///
/// | key | type | default |
/// |---|---|---|
/// | `archive.s3.endpoint` | `http://` or `https://` URL of the store | none (archive off) |
/// | `archive.s3.region` | text | `us-east-1` |
/// | `archive.s3.bucket` | an S3 bucket name, created with Object Lock enabled | required with `endpoint` |
/// | `archive.s3.prefix` | key prefix, ends in `/` (or empty) | `exorec/` |
/// | `archive.s3.addressing` | `path` or `virtual-host` | `path` |
/// | `archive.s3.access_key_id`, `archive.s3.secret_access_key` | text; `EXOREC_S3_ACCESS_KEY_ID`, `EXOREC_S3_SECRET_ACCESS_KEY` (or `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) replace them | required |
/// | `archive.s3.retention.mode` | `compliance` or `governance` | `compliance` |
/// | `archive.s3.retention.period` | `30d`, `7y`, `12h`, … (1s to 100y) | `7y` |
/// | `archive.keep_local` | duration (`7d`): evict local media that long after a verified upload | none (keep) |
/// | `archive.workers` | integer 1-64: uploads at once per process | `4` |
/// | `archive.call_json_after` | duration: seal `call.json` this long after the call ended | `60s` |
struct ArchiveConfigFile: Sendable {
    var endpoint: String?
    var region = "us-east-1"
    var bucket: String?
    var prefix = "exorec/"
    var addressing = "path"
    var accessKeyID: String?
    var secretAccessKey: String?
    var sessionToken: String?
    var retentionMode = "compliance"
    /// Milliseconds.
    var retentionPeriodMs: Int64 = 7 * 365 * 86_400_000
    var keepLocalMs: Int64?
    var workers = 4
    var callJSONAfterMs: Int64 = 60_000

    var isConfigured: Bool { self.endpoint != nil }

    mutating func apply(_ root: ConfigFile.Section) throws {
        guard let archive = try root.section("archive") else { return }
        try archive.only(["s3", "keep_local", "workers", "call_json_after"])
        if let text = try archive.string("keep_local") {
            self.keepLocalMs = try Self.period(text, key: "archive.keep_local")
        }
        if let n = try archive.integer("workers", in: 1...64) { self.workers = n }
        if let text = try archive.string("call_json_after") {
            self.callJSONAfterMs = try Self.period(text, key: "archive.call_json_after", allowZero: true)
        }
        guard let s3 = try archive.section("s3") else { return }
        try s3.only([
            "endpoint", "region", "bucket", "prefix", "addressing", "access_key_id", "secret_access_key", "retention",
        ])
        if let endpoint = try s3.string("endpoint") {
            let lower = endpoint.lowercased()
            guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), endpoint.utf8.count <= 2048 else {
                throw IngestError.configuration(
                    key: "archive.s3.endpoint",
                    reason: "must be an http:// or https:// URL"
                )
            }
            self.endpoint = endpoint
        }
        if let region = try s3.string("region") { self.region = region }
        if let bucket = try s3.string("bucket") { self.bucket = bucket }
        if let prefix = try s3.string("prefix") {
            guard prefix.isEmpty || (prefix.hasSuffix("/") && !prefix.hasPrefix("/") && prefix.utf8.count <= 512),
                !prefix.contains("..")
            else {
                throw IngestError.configuration(
                    key: "archive.s3.prefix",
                    reason: "must be empty or end in '/' (not start with it, no '..'), at most 512 bytes"
                )
            }
            self.prefix = prefix
        }
        if let addressing = try s3.string("addressing") {
            guard ["path", "virtual-host"].contains(addressing) else {
                throw IngestError.configuration(key: "archive.s3.addressing", reason: "must be path or virtual-host")
            }
            self.addressing = addressing
        }
        if let key = try s3.string("access_key_id") { self.accessKeyID = key }
        if let secret = try s3.string("secret_access_key") { self.secretAccessKey = secret }
        if let retention = try s3.section("retention") {
            try retention.only(["mode", "period"])
            if let mode = try retention.string("mode") {
                guard ["compliance", "governance"].contains(mode.lowercased()) else {
                    throw IngestError.configuration(
                        key: "archive.s3.retention.mode",
                        reason: "must be compliance or governance"
                    )
                }
                self.retentionMode = mode.lowercased()
            }
            if let text = try retention.string("period") {
                self.retentionPeriodMs = try Self.period(text, key: "archive.s3.retention.period")
            }
        }
        if self.endpoint != nil, self.bucket == nil {
            throw IngestError.configuration(key: "archive.s3.bucket", reason: "is required with archive.s3.endpoint")
        }
    }

    mutating func applyEnvironment(_ environment: [String: String]) {
        let key = environment["EXOREC_S3_ACCESS_KEY_ID"] ?? environment["AWS_ACCESS_KEY_ID"]
        let secret = environment["EXOREC_S3_SECRET_ACCESS_KEY"] ?? environment["AWS_SECRET_ACCESS_KEY"]
        if let key, let secret, !key.isEmpty, !secret.isEmpty {
            self.accessKeyID = key
            self.secretAccessKey = secret
            self.sessionToken = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        }
    }

    /// `90d`, `7y` (365 days each), `12h`, `30m`, `45s`, `250ms`: milliseconds, from 1 s (0 with `allowZero`)
    /// to 100 years.
    static func period(_ text: String, key: String, allowZero: Bool = false) throws -> Int64 {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [
            ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("y", 365 * 86_400_000),
        ]
        let longest = 100.0 * 365 * 86_400_000
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            if suffix == "s", trimmed.hasSuffix("ms") { continue }
            if let number = Double(trimmed.dropLast(suffix.count)), number.isFinite, number >= 0,
                number * factor <= longest, allowZero || number * factor >= 1000
            {
                return Int64(number * factor)
            }
            break
        }
        throw IngestError.configuration(
            key: key,
            reason: "'\(text)' is not a period like 30d, 7y, 12h or 45s (\(allowZero ? "0" : "1s") to 100y)"
        )
    }
}
