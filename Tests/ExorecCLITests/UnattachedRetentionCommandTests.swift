import ExorecTesting
import Foundation
import MediaStore
import Testing

/// Issue 12: `exorec hold --stream` and `exorec retention apply` on a storage holding streams without a call
/// (written as exorec writes them, catalogued by `exorec catalog rebuild`).
@Suite(.timeLimit(.minutes(3)))
struct UnattachedRetentionCommandTests {
    struct Plan: Decodable {
        struct Item: Decodable {
            struct Candidate: Decodable {
                var kind: String
                var call_sid: String
                var stream_sid: String?
                var path: String?
                var time_source: String
            }
            var call: Candidate
            var files: [String]
        }
        struct Kept: Decodable {
            var kind: String
            var stream_sid: String?
            var path: String?
        }

        var delete: [Item]
        var held: [Kept]
    }

    struct Hold: Decodable { var call_sid: String }

    static let day: Int64 = 86_400_000

    /// A mono 8 kHz 16-bit WAV of 0.1 s.
    static func wav() -> [UInt8] {
        func le32(_ v: UInt32) -> [UInt8] {
            [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)]
        }
        func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }
        let data = (0..<800).flatMap { le16(UInt16(bitPattern: Int16(3000 * sin(Double($0) * 0.3)))) }
        return Array("RIFF".utf8) + le32(UInt32(36 + data.count)) + Array("WAVEfmt ".utf8) + le32(16) + le16(1)
            + le16(1)
            + le32(8000) + le32(16000) + le16(2) + le16(16) + Array("data".utf8) + le32(UInt32(data.count)) + data
    }

    /// A finished stream without a call under `media/_streams/`, started `daysAgo` days ago; its WAV's path
    /// relative to the storage.
    static func stream(_ streamSid: String, daysAgo: Int64, storage: String) throws -> String {
        let startedAt = Timestamp(millisecondsSinceEpoch: Timestamp.now().millisecondsSinceEpoch - daysAgo * Self.day)
        let identity = StreamIdentity(
            account: nil,
            callSid: nil,
            streamSid: try PathSafeIdentifier(streamSid, field: "stream"),
            from: nil,
            to: nil,
            customParameters: [:],
            queryParameters: [:]
        )
        let directory = identity.directory(in: StorageLayout(root: storage), startedAt: startedAt)
        try FileSystem.makeDirectories(directory)
        let wav = "\(directory)/stream-\(streamSid).wav"
        try FileSystem.writeAtomically(Self.wav(), to: wav, durable: false)
        try FileSystem.makeReadOnly(wav)
        var sidecar = StreamSidecar(
            identity: identity,
            sampleRate: 8000,
            startedAt: startedAt,
            file: "stream-\(streamSid).wav",
            exorecVersion: "test"
        )
        sidecar.state = .complete
        sidecar.channels = 1
        sidecar.endedAt = Timestamp(millisecondsSinceEpoch: startedAt.millisecondsSinceEpoch + 100)
        sidecar.frames = 800
        sidecar.durationSeconds = 0.1
        sidecar.bytes = try FileSystem.size(of: wav)
        sidecar.sha256 = try FileSystem.sha256(of: wav)
        try sidecar.write(to: "\(directory)/stream-\(streamSid).json", durable: false)
        return String(wav.dropFirst(storage.count + 1))
    }

    static func exorec(
        _ arguments: [String],
        _ storage: String
    ) async throws -> (status: Int32, output: String, errors: String) {
        try await ExorecProcess.run(arguments + ["--storage", storage])
    }

    /// An old stream without a call is listed apart and deleted, a recent one stays, one held with `hold add
    /// --stream` is kept; a rebuild afterwards does not bring the deleted one back; verify and the audit chain pass.
    @Test func retentionExpiresStreamsWithoutACall() async throws {
        let storage = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: storage) }
        let old = try Self.stream("MZcliold1", daysAgo: 200, storage: storage)
        let recent = try Self.stream("MZclinew1", daysAgo: 1, storage: storage)
        let held = try Self.stream("MZclihold1", daysAgo: 150, storage: storage)
        let rebuilt = try await Self.exorec(["catalog", "rebuild"], storage)
        #expect(rebuilt.status == 0, "\(rebuilt.output)\(rebuilt.errors)")

        let notACall = try await Self.exorec(["hold", "add", "MZclihold1", "--reason", "x"], storage)
        #expect(notACall.status == 4 && notACall.errors.contains("--stream"), "\(notACall.errors)")
        let unknown = try await Self.exorec(["hold", "add", "--stream", "MZnosuch", "--reason", "x"], storage)
        #expect(
            unknown.status == 4 && unknown.errors.contains("no stream without a call has stream_sid MZnosuch"),
            "\(unknown.errors)"
        )
        let added = try await Self.exorec(
            ["hold", "add", "--stream", "MZclihold1", "--reason", "fraud review 77", "--json"],
            storage
        )
        #expect(added.status == 0, "\(added.errors)")
        #expect(try JSONDecoder().decode(Hold.self, from: Data(added.output.utf8)).call_sid == "stream:MZclihold1")
        let twice = try await Self.exorec(["hold", "add", "--stream", "MZclihold1", "--reason", "again"], storage)
        #expect(
            twice.status == 1 && twice.errors.contains("stream without a call MZclihold1 is already on legal hold"),
            "\(twice.errors)"
        )
        let listed = try await Self.exorec(["hold", "ls"], storage)
        #expect(listed.output.contains("stream:MZclihold1"), "\(listed.output)")

        let dry = try await Self.exorec(["retention", "apply", "--older-than", "90d"], storage)
        #expect(dry.status == 0, "\(dry.errors)")
        #expect(dry.output.contains("streams without a call:") && dry.output.contains(old), "\(dry.output)")
        #expect(
            dry.output.contains("would delete 0 calls and 1 streams without a call older than 90d"),
            "\(dry.output)"
        )
        #expect(dry.output.contains("streams without a call kept: 1 held, 0 busy"), "\(dry.output)")
        #expect(FileManager.default.fileExists(atPath: "\(storage)/\(old)"), "a dry run deletes nothing")

        let json = try await Self.exorec(["retention", "apply", "--older-than", "90d", "--json"], storage)
        let plan = try JSONDecoder().decode(Plan.self, from: Data(json.output.utf8))
        #expect(plan.delete.count == 1)
        let item = try #require(plan.delete.first)
        #expect(
            item.call.kind == "stream" && item.call.call_sid == "" && item.call.stream_sid == "MZcliold1"
                && item.call.path == old
        )
        #expect(item.call.time_source == "stream-started" && item.files.count == 2)
        #expect(
            plan.held.map(\.stream_sid) == ["MZclihold1"] && plan.held.first?.kind == "stream"
                && plan.held.first?.path == held
        )

        let applied = try await Self.exorec(["retention", "apply", "--older-than", "90d", "--yes", "--quiet"], storage)
        #expect(applied.status == 0, "\(applied.errors)")
        #expect(applied.output.contains("streams without a call kept: 1 held, 0 busy"), "\(applied.output)")
        #expect(
            applied.output.contains("deleted stream without a call MZcliold1 (\(old)): 2 files"),
            "\(applied.output)"
        )
        #expect(
            applied.output.contains("deleted 0 calls and 1 streams without a call older than 90d"),
            "\(applied.output)"
        )
        #expect(!FileManager.default.fileExists(atPath: "\(storage)/\(old)"))
        #expect(
            !FileManager.default.fileExists(atPath: "\(storage)/\(old[..<old.lastIndex(of: "/")!])"),
            "its folder is gone"
        )
        #expect(
            FileManager.default.fileExists(atPath: "\(storage)/\(recent)")
                && FileManager.default.fileExists(atPath: "\(storage)/\(held)")
        )

        let trail = try await Self.exorec(["audit", "ls", "--limit", "1000"], storage)
        #expect(
            trail.output.contains("retention.stream-deleted")
                && trail.output.components(separatedBy: "retention.file-deleted").count == 3
        )
        #expect(try await Self.exorec(["verify"], storage).status == 0)
        #expect(try await Self.exorec(["audit", "verify"], storage).status == 0)

        let again = try await Self.exorec(["catalog", "rebuild"], storage)
        #expect(again.status == 0, "\(again.output)\(again.errors)")
        let search = try await Self.exorec(["catalog", "search", "--unattached"], storage)
        #expect(
            search.status == 0 && search.output.contains("MZclinew1") && search.output.contains("MZclihold1"),
            "\(search.output)"
        )
        #expect(!search.output.contains("MZcliold1"), "a rebuild does not bring it back")
        #expect(
            try await Self.exorec(["hold", "ls"], storage).output.contains("stream:MZclihold1"),
            "the hold survives the rebuild"
        )
        let after = try await Self.exorec(["retention", "apply", "--older-than", "90d"], storage)
        #expect(after.output.contains("would delete 0 calls and 0 streams without a call"), "\(after.output)")
    }

    /// A run killed after the stream's first file leaves it pending: verify says deletion-pending (exit 3), the
    /// dry run lists it to finish, and the next `--yes` finishes it.
    @Test func anInterruptedStreamDeletionIsFinishedByTheNextRun() async throws {
        let storage = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: storage) }
        let old = try Self.stream("MZclicrash1", daysAgo: 200, storage: storage)
        #expect(try await Self.exorec(["catalog", "rebuild"], storage).status == 0)
        let killed = try await Self.exorec(
            ["retention", "apply", "--older-than", "90d", "--yes", "--fault-after-files", "1"],
            storage
        )
        #expect(killed.status == 137, "\(killed.output)\(killed.errors)")
        #expect(!FileManager.default.fileExists(atPath: "\(storage)/\(old)"))

        let during = try await Self.exorec(["verify"], storage)
        #expect(
            during.status == 3 && during.output.contains("deletion-pending") && !during.output.contains("missing"),
            "\(during.output)"
        )
        let dry = try await Self.exorec(["retention", "apply", "--older-than", "90d"], storage)
        #expect(dry.output.contains("interrupted deletions to finish: stream:MZclicrash1"), "\(dry.output)")
        let finished = try await Self.exorec(
            ["retention", "apply", "--older-than", "90d", "--yes", "--quiet"],
            storage
        )
        #expect(finished.status == 0, "\(finished.errors)")
        #expect(
            finished.output.contains("deleted stream without a call MZclicrash1")
                && finished.output.contains("(finishing an interrupted run)"),
            "\(finished.output)"
        )
        #expect(try await Self.exorec(["verify"], storage).status == 0)
        #expect(try await Self.exorec(["audit", "verify"], storage).status == 0)
        let search = try await Self.exorec(["catalog", "search", "--unattached"], storage)
        #expect(!search.output.contains("MZclicrash1"), "\(search.output)")
    }

    @Test func helpShowsTheStreamOption() async throws {
        let hold = try await ExorecProcess.run(["hold", "add", "--help"])
        #expect(hold.output.contains("--stream") && hold.output.contains("exorec hold add --stream"), "\(hold.output)")
        let retention = try await ExorecProcess.run(["retention", "apply", "--help"])
        #expect(
            retention.output.contains("media/_streams/") && retention.output.contains(#"select(.kind == "stream")"#),
            "\(retention.output)"
        )
    }
}
