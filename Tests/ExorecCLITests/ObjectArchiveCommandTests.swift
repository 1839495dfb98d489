import ExorecTesting
import Foundation
import MediaStore
import Testing

/// The object archive against a real object store (SeaweedFS, `tools/s3-test-server`), as a user runs it:
/// an archive `exorec demo` made, sealed with `exorec archive upload`, checked from outside with boto3
/// (`tools/s3_outside.py`). Skipped, with a note, when `EXOREC_TEST_S3_ENDPOINT` is not set (`make test` sets it).
@Suite(.timeLimit(.minutes(4)), .enabled(if: S3TestStore.isAvailable, S3TestStore.skipNote))
struct ObjectArchiveCommandTests {
    struct UploadReport: Decodable {
        var uploaded: Int
        var adopted: Int
        var failed: Int
        var bytes: Int64
        var evicted: Int
        var errors: [String]
    }

    struct Version: Decodable {
        var key: String
        var version_id: String
        var is_latest: Bool
        var size: Int64
        var delete_marker: Bool
    }

    struct Head: Decodable {
        var size: Int64
        var checksum_sha256: String?
        var lock_mode: String
        var retain_until: Double
        var legal_hold: Bool
        var sha256: String
    }

    struct RemoteReport: Decodable {
        struct Problem: Decodable {
            var kind: String
            var key: String
            var path: String?
        }
        var checked: Int
        var problems: [Problem]
        var ok: Bool
    }

    static let apiToken = "archive-test-token-0123456789"

    /// A demo archive (5 calls: 3 with a stream and a recording) and a configuration sealing it in a new bucket.
    static func demoArchive(
        mode: String = "compliance",
        keepLocal: String? = nil,
        catalogURL: String? = nil
    ) async throws -> (storage: String, config: String, bucket: String) {
        let storage = makeTemporaryDirectory()
        let demo = try await ExorecProcess.run(["demo", "--storage", storage, "--speed", "40", "--quiet"])
        try #require(demo.status == 0, "\(demo.errors)")
        if let catalogURL {
            let moved = try await ExorecProcess.run([
                "catalog", "migrate", "--storage", storage, "--to", catalogURL, "-q",
            ])
            try #require(moved.status == 0, "\(moved.errors)")
            for suffix in ["", "-wal", "-shm"] {
                try? FileManager.default.removeItem(atPath: "\(storage)/catalog.sqlite" + suffix)
            }
        }
        let bucket = "exorec-test-\(UUID().uuidString.prefix(8).lowercased())"
        _ = try await S3TestStore.outside(["create-bucket", bucket])
        let config = "\(storage)/exorec.yaml"
        var yaml = """
            storage: \(storage)
            archive:
              call_json_after: 0s
            \(keepLocal.map { "  keep_local: \($0)\n" } ?? "")  s3:
                endpoint: \(S3TestStore.endpoint)
                bucket: \(bucket)
                retention: {mode: \(mode), period: 1d}

            """
        if let catalogURL { yaml += "catalog:\n  url: \"\(catalogURL)\"\n" }
        yaml += "api:\n  port: 0\n  token: \(Self.apiToken)\ningest:\n  port: 0\n  auth: {disabled: true}\n"
        try yaml.write(toFile: config, atomically: true, encoding: .utf8)
        return (storage, config, bucket)
    }

    static func exorec(
        _ arguments: [String],
        config: String
    ) async throws -> (
        status: Int32, output: String, errors: String
    ) {
        try await ExorecProcess.run(arguments + ["--config", config], environment: S3TestStore.credentialsEnvironment)
    }

    /// Every file under `media/`, relative to the storage root.
    static func files(_ storage: String) -> [String] {
        (FileManager.default.enumerator(atPath: "\(storage)/media")?.allObjects as? [String] ?? [])
            .filter { name in
                var isDirectory: ObjCBool = false
                return FileManager.default.fileExists(atPath: "\(storage)/media/\(name)", isDirectory: &isDirectory)
                    && !isDirectory.boolValue
            }
            .map { "media/\($0)" }.sorted()
    }

    static func sha256(_ path: String) throws -> String {
        try FileSystem.sha256(of: path)
    }

    static func versions(_ bucket: String) async throws -> [Version] {
        try JSONDecoder().decode(
            [Version].self,
            from: Data(try await S3TestStore.outside(["versions", bucket, ""]).utf8)
        )
    }

    static func head(_ bucket: String, _ version: Version) async throws -> Head {
        try JSONDecoder().decode(
            Head.self,
            from: Data(try await S3TestStore.outside(["head", bucket, version.key, version.version_id]).utf8)
        )
    }

    /// Every file of the demo's calls ends up in the bucket, one version per file, with its SHA-256 checked by
    /// the store and compliance retention until the configured date; a delete of a locked version is refused
    /// (with or without the governance bypass) and a PutObject over it leaves it intact; `hold add` sets the legal
    /// hold on every object of the call and `hold rm` clears it; `verify --remote` passes. On both catalogs.
    @Test(arguments: CatalogTestBackend.all) func demoCallsAreSealed(backend: CatalogTestBackend) async throws {
        switch backend {
        case .sqlite: try await Self.demoCallsAreSealed(catalogURL: nil)
        case .postgres: try await TestPostgres.withSchema { try await Self.demoCallsAreSealed(catalogURL: $0) }
        }
    }

    static func demoCallsAreSealed(catalogURL: String?) async throws {
        let (storage, config, bucket) = try await Self.demoArchive(catalogURL: catalogURL)
        let started = Date()
        let upload = try await Self.exorec(["archive", "upload", "--json"], config: config)
        try #require(upload.status == 0, "\(upload.output) \(upload.errors)")
        let report = try JSONDecoder().decode(UploadReport.self, from: Data(upload.output.utf8))
        let files = Self.files(storage)
        #expect(files.filter { $0.hasSuffix("/call.json") }.count == 5)
        #expect(report.uploaded == files.count && report.failed == 0, "\(upload.output)")

        let versions = try await Self.versions(bucket)
        #expect(versions.map(\.key).sorted() == files.map { "exorec/\($0)" }, "one version per file, no other")
        for version in versions {
            let head = try await Self.head(bucket, version)
            let path = "\(storage)/\(version.key.dropFirst("exorec/".count))"
            let local = try Self.sha256(path)
            #expect(head.sha256 == local, "\(version.key): the bucket's bytes are the file's")
            let expected = Data(try #require(Data(hexString: local))).base64EncodedString()
            #expect(head.checksum_sha256 == expected, "\(version.key): the store kept the SHA-256 exorec sent")
            #expect(head.lock_mode == "COMPLIANCE")
            let until = Date(timeIntervalSince1970: head.retain_until)
            #expect(until > started.addingTimeInterval(86_400 - 120) && until < Date().addingTimeInterval(86_400 + 120))
            #expect(!head.legal_hold)
        }

        // The store's own API cannot delete a locked version, even with the governance bypass.
        let locked = try #require(versions.first { $0.key.hasSuffix(".wav") })
        for bypass in [false, true] {
            let refused = try await S3TestStore.outside(
                ["delete", bucket, locked.key, locked.version_id] + (bypass ? ["--bypass"] : [])
            )
            #expect(refused.contains("\"refused\""), "delete of a locked version: \(refused)")
        }
        _ = try await S3TestStore.outside(["overwrite", bucket, locked.key])
        let after = try await Self.head(bucket, locked)
        #expect(after.lock_mode == "COMPLIANCE")
        #expect(after.sha256 == (try Self.sha256("\(storage)/\(locked.key.dropFirst("exorec/".count))")))

        // A hold sets the legal hold on every object of the call; a release clears it.
        let callSid = try #require(locked.key.split(separator: "/").dropLast().last.map(String.init))
        let callVersions = versions.filter { $0.key.contains("/\(callSid)/") }
        #expect(callVersions.count == 5, "stream, recording, their sidecars and call.json")
        let held = try await Self.exorec(["hold", "add", callSid, "--reason", "subpoena 7"], config: config)
        #expect(held.status == 0 && held.errors.isEmpty, "\(held.errors)")
        for version in callVersions { #expect(try await Self.head(bucket, version).legal_hold, "\(version.key)") }
        let other = try #require(versions.first { !$0.key.contains("/\(callSid)/") })
        #expect(!(try await Self.head(bucket, other).legal_hold))
        let released = try await Self.exorec(["hold", "rm", callSid, "--reason", "closed"], config: config)
        #expect(released.status == 0 && released.errors.isEmpty, "\(released.errors)")
        for version in callVersions { #expect(!(try await Self.head(bucket, version).legal_hold), "\(version.key)") }

        let status = try await Self.exorec(["archive", "status", "--json"], config: config)
        #expect(
            status.output.contains("\"objects\":\(files.count)") && status.output.contains("\"hold_sync_pending\":0")
        )
        let audit = try await Self.exorec(["audit", "verify"], config: config)
        #expect(audit.status == 0, "\(audit.output) \(audit.errors)")
    }

    /// `verify --remote` reports an object changed behind exorec's back (a new version PutObject wrote over it)
    /// and one deleted with the governance bypass: missing, changed, unexpected; exit 3.
    @Test func verifyRemoteCatchesChangedAndMissingObjects() async throws {
        let (_, config, bucket) = try await Self.demoArchive(mode: "governance")
        let upload = try await Self.exorec(["archive", "upload", "-q"], config: config)
        try #require(upload.status == 0, "\(upload.output) \(upload.errors)")
        let clean = try await Self.exorec(["verify", "--remote", "--json"], config: config)
        #expect(clean.status == 0, "\(clean.output) \(clean.errors)")

        let wavs = try await Self.versions(bucket).filter { $0.key.hasSuffix(".wav") }
        try #require(wavs.count >= 2)
        _ = try await S3TestStore.outside(["overwrite", bucket, wavs[0].key])
        let deleted = try await S3TestStore.outside(["delete", bucket, wavs[1].key, wavs[1].version_id, "--bypass"])
        #expect(deleted.contains("\"deleted\""), "governance mode lets the bypass delete: \(deleted)")

        let checked = try await Self.exorec(["verify", "--remote", "--json"], config: config)
        #expect(checked.status == 3, "\(checked.errors)")
        let report = try JSONDecoder().decode(RemoteReport.self, from: Data(checked.output.utf8))
        #expect(!report.ok)
        let kinds = Set(report.problems.map { "\($0.kind) \($0.key)" })
        #expect(kinds.contains("changed \(wavs[0].key)"), "\(kinds)")
        #expect(kinds.contains("unexpected \(wavs[0].key)"), "\(kinds)")
        #expect(kinds.contains("missing \(wavs[1].key)"), "\(kinds)")
        #expect(report.problems.count == 3, "\(kinds)")
    }

    /// A process killed after the store created the versions but before the catalog recorded them (its claims
    /// still leased, no `archived_objects` rows), with a multipart upload of another file left open, is resumed by
    /// the next run: the versions are found and recorded (not uploaded again), the open upload is aborted, and the
    /// bucket holds exactly one version per file.
    @Test func killedUploadResumesWithoutDuplicates() async throws {
        let (storage, config, bucket) = try await Self.demoArchive(mode: "governance")
        let first = try await Self.exorec(["archive", "upload", "-q"], config: config)
        try #require(first.status == 0, "\(first.output) \(first.errors)")
        let files = Self.files(storage)
        // The state a kill -9 between the PutObject and the catalog's transaction leaves: claims held (lease run
        // out), nothing recorded.
        _ = try HoldRetentionCommandTests.sqlite(
            "\(storage)/catalog.sqlite",
            "DELETE FROM archived_objects; UPDATE archive_queue SET state = 'running', lease_until = 0, claim_token = 'dead';"
        )
        let mp3 = try #require(files.first { $0.hasSuffix(".mp3") })
        // The recording's upload was a multipart one the kill left open, and never completed: no version.
        let versions = try await Self.versions(bucket)
        let mp3Version = try #require(versions.first { $0.key == "exorec/\(mp3)" })
        _ = try await S3TestStore.outside(["delete", bucket, mp3Version.key, mp3Version.version_id, "--bypass"])
        _ = try await S3TestStore.outside(["open-multipart", bucket, "exorec/\(mp3)"])

        let second = try await Self.exorec(["archive", "upload", "--json"], config: config)
        #expect(second.status == 0, "\(second.output) \(second.errors)")
        let report = try JSONDecoder().decode(UploadReport.self, from: Data(second.output.utf8))
        #expect(report.adopted == files.count - 1 && report.uploaded == 1, "\(second.output)")
        let after = try await Self.versions(bucket)
        #expect(after.map(\.key).sorted() == files.map { "exorec/\($0)" }, "one version per file")
        #expect(try await S3TestStore.outside(["open-uploads", bucket, ""]) == "[]")
        let verified = try await Self.exorec(["verify", "--remote"], config: config)
        #expect(verified.status == 0, "\(verified.output) \(verified.errors)")
    }
}

extension ObjectArchiveCommandTests {
    /// With `archive.keep_local`, local media are evicted after their upload (sidecars and `call.json` stay);
    /// then `exorec verify` checks them in the bucket, `exorec export` exports them from it, and `serve`'s
    /// `GET /v1/media/ID` serves a range of one from it.
    @Test func evictedMediaAreReadFromTheBucket() async throws {
        let (storage, config, _) = try await Self.demoArchive(mode: "governance", keepLocal: "1s")
        let before = Self.files(storage)
        let media = before.filter { $0.hasSuffix(".wav") || $0.hasSuffix(".mp3") }
        var digests: [String: String] = [:]
        for path in media { digests[path] = try Self.sha256("\(storage)/\(path)") }
        // Eviction waits for keep_local (1 s) after the upload: run the archiver until it has evicted them all.
        // The first round may evict some already (on a loaded machine its first uploads are more than 1 s old
        // when it ends). The deadline is for a failure only: on a loaded machine a store that answers slowly
        // fails a round, whose jobs are retried after their backoff.
        let deadline = ContinuousClock.now + .seconds(180)
        var evicted = 0
        var problems: [String] = []
        while evicted < media.count, ContinuousClock.now < deadline {
            let run = try await Self.exorec(["archive", "upload", "--json"], config: config)
            try #require(run.status == 0, "\(run.output) \(run.errors)")
            let report = try JSONDecoder().decode(UploadReport.self, from: Data(run.output.utf8))
            evicted += report.evicted
            problems += report.errors
        }
        #expect(evicted == media.count, "the rounds' errors: \(problems)")
        #expect(Self.files(storage) == before.filter { !media.contains($0) }, "sidecars and call.json stay")

        let verified = try await Self.exorec(["verify", "--json"], config: config)
        #expect(verified.status == 0, "evicted files are checked in the bucket: \(verified.output) \(verified.errors)")
        #expect(verified.output.contains("\"ok\":\(media.count)"), "\(verified.output)")

        let wav = try #require(media.first { $0.hasSuffix(".wav") })
        let callSid = try #require(wav.split(separator: "/").dropLast().last.map(String.init))
        let destination = makeTemporaryDirectory() + "/export"
        let exported = try await Self.exorec(["export", destination, "--call-sid", callSid, "-q"], config: config)
        #expect(exported.status == 0, "\(exported.output) \(exported.errors)")
        let exportedFiles = (FileManager.default.enumerator(atPath: destination)?.allObjects as? [String] ?? [])
        let exportedWav = try #require(exportedFiles.first { $0.hasSuffix(".wav") }, "\(exportedFiles)")
        #expect(try Self.sha256("\(destination)/\(exportedWav)") == digests[wav])
        #expect(!FileManager.default.fileExists(atPath: "\(storage)/\(wav)"), "evicted again after the export")

        let server = try ExorecProcess(
            ["serve", "--config", config, "--callbacks-port", "0", "--api-port", "0"],
            environment: S3TestStore.credentialsEnvironment
        )
        _ = try await server.waitForListening()
        let api = try await server.waitForDoor("internal")
        let id = try HoldRetentionCommandTests.sqlite(
            "\(storage)/catalog.sqlite",
            "SELECT media_id FROM media_files WHERE path = '\(wav)';"
        )
        let body = makeTemporaryDirectory() + "/range"
        let status = try await OutsideReader.run([
            "curl", "-s", "-o", body, "-w", "%{http_code}", "-H", "Authorization: Bearer \(Self.apiToken)",
            "-H", "Range: bytes=100-4195", "http://127.0.0.1:\(api)/v1/media/\(id)",
        ])
        #expect(status == "206")
        let whole = try Data(contentsOf: URL(fileURLWithPath: "\(destination)/\(exportedWav)"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: body)) == whole[100...4195])
        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0, "\(server.standardError)")
    }
}

extension ObjectArchiveCommandTests {
    /// `exorec serve` archives on its own: killed (SIGKILL) as soon as its first object is in the bucket, and
    /// started again, it finishes the queue, and the bucket holds exactly one version per file.
    @Test func serveArchivesAndResumesAfterAKill() async throws {
        let (storage, config, bucket) = try await Self.demoArchive(mode: "governance")
        let files = Self.files(storage)
        func serve() throws -> ExorecProcess {
            try ExorecProcess(
                ["serve", "--config", config, "--callbacks-port", "0", "--api-port", "0", "--log-level", "info"],
                environment: S3TestStore.credentialsEnvironment
            )
        }
        let first = try serve()
        _ = try await first.waitForListening()
        var deadline = ContinuousClock.now + .seconds(60)
        while try await Self.versions(bucket).isEmpty, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        first.signal(SIGKILL)
        _ = try await first.waitForExit()

        let second = try serve()
        _ = try await second.waitForListening()
        deadline = ContinuousClock.now + .seconds(90)
        var done = 0
        while done < files.count, ContinuousClock.now < deadline {
            let status = try await Self.exorec(["archive", "status", "--json"], config: config)
            let counts = try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any]
            done = counts?["objects"] as? Int ?? 0
            if done < files.count { try await Task.sleep(for: .milliseconds(100)) }
        }
        second.signal(SIGTERM)
        #expect(try await second.waitForExit() == 0, "\(second.standardError)")
        #expect(done == files.count, "\(second.standardError)")
        let versions = try await Self.versions(bucket)
        #expect(versions.map(\.key).sorted() == files.map { "exorec/\($0)" }, "one version per file")
        let verified = try await Self.exorec(["verify", "--remote"], config: config)
        #expect(verified.status == 0, "\(verified.output) \(verified.errors)")
    }
}

extension ObjectArchiveCommandTests {
    /// A store that is down ends `archive upload` with exit 1 and one clear sentence within the connect timeout,
    /// not after a timeout per file; the jobs stay queued for a retry.
    @Test func uploadFailsFastWhenTheStoreIsDown() async throws {
        let (_, config, _) = try await Self.demoArchive()
        var yaml = try String(contentsOfFile: config, encoding: .utf8)
        yaml = yaml.replacingOccurrences(of: S3TestStore.endpoint, with: "http://127.0.0.1:9")
        try yaml.write(toFile: config, atomically: true, encoding: .utf8)
        let started = ContinuousClock.now
        let upload = try await Self.exorec(["archive", "upload"], config: config)
        #expect(upload.status == 1, "\(upload.output) \(upload.errors)")
        #expect(upload.errors.contains("could not reach the object store at http://127.0.0.1:9"), "\(upload.errors)")
        #expect(ContinuousClock.now - started < .seconds(30))
        let status = try await Self.exorec(["archive", "status", "--json"], config: config)
        #expect(status.output.contains("\"objects\":0") && status.output.contains("\"done\":0"), "\(status.output)")
    }
}

extension ObjectArchiveCommandTests {
    /// A hold placed while the store is down is in the catalog at once (a warning says the store's legal hold
    /// waits); `verify --remote` reports the mismatch; the next archiver round sets it.
    @Test func holdPlacedWhileTheStoreIsDownIsSyncedLater() async throws {
        let (_, config, bucket) = try await Self.demoArchive(mode: "governance")
        let upload = try await Self.exorec(["archive", "upload", "-q"], config: config)
        try #require(upload.status == 0, "\(upload.output) \(upload.errors)")
        let versions = try await Self.versions(bucket)
        let wav = try #require(versions.first { $0.key.hasSuffix(".wav") })
        let callSid = try #require(wav.key.split(separator: "/").dropLast().last.map(String.init))

        let good = try String(contentsOfFile: config, encoding: .utf8)
        let down = config + ".down.yaml"
        try good.replacingOccurrences(of: S3TestStore.endpoint, with: "http://127.0.0.1:9")
            .write(toFile: down, atomically: true, encoding: .utf8)
        let held = try await Self.exorec(["hold", "add", callSid, "--reason", "subpoena 9"], config: down)
        #expect(held.status == 0, "the catalog's hold does not wait for the store: \(held.errors)")
        #expect(held.errors.contains("the archive's legal hold is not set on 5 objects yet"), "\(held.errors)")
        #expect(!(try await Self.head(bucket, wav).legal_hold))
        let pending = try await Self.exorec(["archive", "status", "--json"], config: config)
        #expect(pending.output.contains("\"hold_sync_pending\":5"), "\(pending.output)")
        let mismatch = try await Self.exorec(["verify", "--remote", "--json"], config: config)
        #expect(mismatch.status == 3 && mismatch.output.contains("\"legal-hold\""), "\(mismatch.output)")

        let synced = try await Self.exorec(["archive", "upload", "-q"], config: config)
        #expect(synced.status == 0, "\(synced.output) \(synced.errors)")
        #expect(try await Self.head(bucket, wav).legal_hold)
        let verified = try await Self.exorec(["verify", "--remote"], config: config)
        #expect(verified.status == 0, "\(verified.output) \(verified.errors)")
    }
}

extension ObjectArchiveCommandTests {
    /// Two nodes (`serve` under two node ids on one storage root and catalog) work one queue: every file ends up
    /// in the bucket once, whichever node took it (their leases keep them off each other's jobs).
    @Test func twoNodesShareTheQueueWithoutDuplicates() async throws {
        let (storage, config, bucket) = try await Self.demoArchive(mode: "governance")
        let files = Self.files(storage)
        var nodes: [ExorecProcess] = []
        for node in ["archive-a", "archive-b"] {
            let server = try ExorecProcess(
                ["serve", "--config", config, "--callbacks-port", "0", "--api-port", "0"],
                environment: S3TestStore.credentialsEnvironment.merging(["EXOREC_NODE_ID": node]) { $1 }
            )
            _ = try await server.waitForListening()
            nodes.append(server)
        }
        let deadline = ContinuousClock.now + .seconds(90)
        var objects = 0
        while objects < files.count, ContinuousClock.now < deadline {
            let status = try await Self.exorec(["archive", "status", "--json"], config: config)
            objects =
                (try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any])?["objects"]
                as? Int ?? 0
            if objects < files.count { try await Task.sleep(for: .milliseconds(100)) }
        }
        for server in nodes {
            server.signal(SIGTERM)
            #expect(try await server.waitForExit() == 0, "\(server.standardError)")
        }
        #expect(objects == files.count)
        let versions = try await Self.versions(bucket)
        #expect(versions.map(\.key).sorted() == files.map { "exorec/\($0)" }, "one version per file")
        let verified = try await Self.exorec(["verify", "--remote"], config: config)
        #expect(verified.status == 0, "\(verified.output) \(verified.errors)")
    }
}

/// The test object store `tools/s3-test-server` started (its environment), and boto3 through `tools/s3_outside.py`.
enum S3TestStore {
    static let environment = ProcessInfo.processInfo.environment
    static var isAvailable: Bool { !(environment["EXOREC_TEST_S3_ENDPOINT"] ?? "").isEmpty }
    static let skipNote: Comment =
        "EXOREC_TEST_S3_ENDPOINT is not set: the object archive's tests need tools/s3-test-server run -- (make test runs them)"
    static var endpoint: String { environment["EXOREC_TEST_S3_ENDPOINT"] ?? "" }
    static var credentialsEnvironment: [String: String] {
        [
            "EXOREC_S3_ACCESS_KEY_ID": environment["EXOREC_TEST_S3_ACCESS_KEY"] ?? "",
            "EXOREC_S3_SECRET_ACCESS_KEY": environment["EXOREC_TEST_S3_SECRET_KEY"] ?? "",
        ]
    }

    static func outside(_ arguments: [String]) async throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try await OutsideReader.run(
            ["python3", root.appendingPathComponent("tools/s3_outside.py").path] + arguments
        )
        .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

extension Data {
    init?(hexString: String) {
        var bytes: [UInt8] = []
        var index = hexString.startIndex
        while index < hexString.endIndex {
            let next = hexString.index(index, offsetBy: 2, limitedBy: hexString.endIndex) ?? hexString.endIndex
            guard let byte = UInt8(hexString[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self.init(bytes)
    }
}
