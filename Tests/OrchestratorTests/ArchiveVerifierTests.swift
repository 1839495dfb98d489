import Catalog
import ExorecTesting
import ExotelKit
import ExotelSimulator
import Foundation
import Glibc
import Logging
import MediaStore
import Orchestrator
import Synchronization
import Testing

/// `ArchiveVerifier` over real files in a temporary storage root: a recording (mp3 bytes, `RecordingSidecar`)
/// and a stream (a real 16-bit WAV, sidecar) per call, catalogued through the Catalog API.
@Suite(.timeLimit(.minutes(2))) struct ArchiveVerifierTests {
    struct Archive {
        let root: String
        let catalog: Catalog
        /// Per call: the recording's and the stream's paths, relative to the root.
        var recordings: [String: String] = [:]
        var streams: [String: String] = [:]

        func absolute(_ path: String) -> String { "\(self.root)/\(path)" }

        func verifier() -> ArchiveVerifier {
            ArchiveVerifier(
                catalog: self.catalog,
                layout: StorageLayout(root: self.root),
                logger: RecordingTests.quietLogger()
            )
        }
    }

    static let placedAt = Timestamp(millisecondsSinceEpoch: 1_795_000_000_000)

    /// A mono 8 kHz 16-bit WAV of a 440 Hz tone, `samples` long.
    static func wav(samples: Int, seed: Int) -> [UInt8] {
        func le32(_ v: UInt32) -> [UInt8] {
            [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)]
        }
        func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }
        var data: [UInt8] = []
        for i in 0..<samples {
            let value = Int16(8000 * sin(Double(i + seed) * 2 * .pi * 440 / 8000))
            data += le16(UInt16(bitPattern: value))
        }
        return Array("RIFF".utf8) + le32(UInt32(36 + data.count)) + Array("WAVEfmt ".utf8) + le32(16) + le16(1)
            + le16(1)
            + le32(8000) + le32(16000) + le16(2) + le16(16) + Array("data".utf8) + le32(UInt32(data.count)) + data
    }

    /// Calls `CAarch1`, `CAarch2`, each with a finished stream and recording (read-only files).
    static func withArchive(
        calls: [String] = ["CAarch1", "CAarch2"],
        _ backend: CatalogTestBackend = .sqlite,
        _ body: (inout Archive) async throws -> Void
    ) async throws {
        try await RecordingTests.withStore(backend) { root, catalog in
            var archive = Archive(root: root, catalog: catalog)
            for (index, callSid) in calls.enumerated() {
                let placedAt = Timestamp(
                    millisecondsSinceEpoch: Self.placedAt.millisecondsSinceEpoch + Int64(index) * 86_400_000
                )
                try await RecordingTests.recordCall(callSid, in: catalog, placedAt: placedAt)
                let directory = try RecordingTests.callDirectory(root: root, callSid: callSid, placedAt: placedAt)
                try FileSystem.makeDirectories(directory)
                let relative = String(directory.dropFirst(root.count + 1))
                try FileSystem.writeAtomically(
                    Array(#"{"call_sid":"\#(callSid)"}"#.utf8),
                    to: "\(directory)/call.json",
                    durable: false
                )

                let mp3 = RecordingTests.fakeMP3 + Array(repeating: UInt8(index + 1), count: 4096)
                try FileSystem.writeAtomically(mp3, to: "\(directory)/recording.mp3", durable: false)
                try FileSystem.makeReadOnly("\(directory)/recording.mp3")
                let recording = RecordingSidecar(
                    state: .complete,
                    accountSid: RecordingTests.account.sid,
                    callSid: callSid,
                    url: "https://recordings.example/\(callSid).mp3",
                    fetchedAt: placedAt,
                    contentType: "audio/mpeg",
                    format: "mp3",
                    channels: 1,
                    sampleRate: 8000,
                    durationSeconds: 1,
                    bytes: Int64(mp3.count),
                    sha256: try FileSystem.sha256(of: "\(directory)/recording.mp3"),
                    exorecVersion: "test"
                )
                try recording.write(to: "\(directory)/recording.json", durable: false)
                try await catalog.upsertRecording(from: recording, path: "\(relative)/recording.mp3")
                archive.recordings[callSid] = "\(relative)/recording.mp3"

                let streamPath = "\(relative)/stream-ST\(index).wav"
                try FileSystem.writeAtomically(
                    Self.wav(samples: 8000, seed: index),
                    to: "\(root)/\(streamPath)",
                    durable: false
                )
                try FileSystem.makeReadOnly("\(root)/\(streamPath)")
                let sha = try FileSystem.sha256(of: "\(root)/\(streamPath)")
                let bytes = try FileSystem.size(of: "\(root)/\(streamPath)")
                let sidecar = #"{"bytes":\#(bytes),"call_sid":"\#(callSid)","sha256":"\#(sha)","state":"complete"}"#
                try FileSystem.writeAtomically(
                    Array(sidecar.utf8),
                    to: "\(directory)/stream-ST\(index).json",
                    durable: false
                )
                try await catalog.upsertMediaFile(
                    MediaFile(
                        callSid: callSid,
                        kind: .stream,
                        path: streamPath,
                        format: "wav",
                        sampleRate: 8000,
                        channels: 1,
                        durationSeconds: 1,
                        bytes: bytes,
                        sha256: sha,
                        state: .complete,
                        createdAt: placedAt,
                        updatedAt: placedAt
                    )
                )
                archive.streams[callSid] = streamPath
            }
            try await body(&archive)
        }
    }

    /// Changes one byte in the middle of a (read-only) file, keeping its size.
    static func flipByte(_ path: String) throws {
        #expect(chmod(path, 0o644) == 0)
        var bytes = try FileSystem.read(path)
        bytes[bytes.count / 2] ^= 0x5a
        try FileSystem.writeAtomically(bytes, to: path, durable: false)
    }

    static func auditActions(_ catalog: Catalog) async throws -> [AuditEntry] {
        try await catalog.auditEntries().filter { $0.action.hasPrefix("archive.") }
    }

    @Test(arguments: CatalogTestBackend.all) func anIntactArchiveChecksOutAndTheRunIsAudited(
        backend: CatalogTestBackend
    ) async throws {
        try await Self.withArchive(backend) { archive in
            let progress = ProgressLog()
            let report = try await archive.verifier().verify { progress.append($0) }
            #expect(report.isClean, "\(report.problems)")
            #expect(report.selected == 4)
            #expect(report.ok == 4)
            #expect(report.scannedForUnexpected)
            #expect(report.bytesHashed > 30_000)
            #expect(report.summaryLine.hasSuffix("no problems"))
            let steps = progress.values
            #expect(steps.first?.filesDone == 0)
            #expect(steps.last?.filesDone == 4 && steps.last?.filesTotal == 4)
            #expect(steps.last?.bytesDone == steps.last?.bytesTotal)

            let entries = try await Self.auditActions(archive.catalog)
            #expect(entries.map(\.action) == ["archive.verified"])
            #expect(entries.first?.actor == "cli")
            #expect(entries.first?.detailMap["problems"] == "0")
            #expect(entries.first?.detailMap["selected"] == "4")
            #expect(try await archive.catalog.verifyAuditChain().isIntact)
        }
    }

    @Test(arguments: CatalogTestBackend.all) func aTamperedFileIsReportedChanged(
        backend: CatalogTestBackend
    ) async throws {
        try await Self.withArchive(backend) { archive in
            let wav = try #require(archive.streams["CAarch1"])
            try Self.flipByte(archive.absolute(wav))
            let report = try await archive.verifier().verify()
            #expect(report.problems.map(\.kind) == [.changed])
            #expect(report.problems.first?.path == wav)
            #expect(report.problems.first?.callSid == "CAarch1")
            #expect(report.problems.first?.detail.contains("sha256") == true)
            #expect(report.ok == 3)
            #expect(report.problemTable.count == 2)
            #expect(report.summaryLine.contains("1 changed"))

            let entries = try await Self.auditActions(archive.catalog)
            #expect(entries.map(\.action) == ["archive.problem", "archive.verified"])
            #expect(entries.first?.path == wav)
            #expect(entries.first?.detailMap["kind"] == "changed")
            #expect(entries.last?.detailMap["changed"] == "1")
        }
    }

    @Test(arguments: CatalogTestBackend.all) func aFileOfAnotherSizeIsReportedChanged(
        backend: CatalogTestBackend
    ) async throws {
        try await Self.withArchive(backend) { archive in
            let mp3 = try #require(archive.recordings["CAarch2"])
            #expect(chmod(archive.absolute(mp3), 0o644) == 0)
            try FileSystem.writeAtomically(RecordingTests.fakeMP3, to: archive.absolute(mp3), durable: false)
            let report = try await archive.verifier().verify()
            #expect(report.problems.map(\.kind) == [.changed])
            #expect(report.problems.first?.detail.contains("bytes") == true)
        }
    }

    @Test(arguments: CatalogTestBackend.all) func aDeletedFileIsReportedMissing(
        backend: CatalogTestBackend
    ) async throws {
        try await Self.withArchive(backend) { archive in
            let mp3 = try #require(archive.recordings["CAarch1"])
            #expect(unlink(archive.absolute(mp3)) == 0)
            let report = try await archive.verifier().verify()
            #expect(report.problems.map(\.kind) == [.missing])
            #expect(report.problems.first?.path == mp3)
            #expect(report.ok == 3)
        }
    }

    @Test(arguments: CatalogTestBackend.all) func unexpectedAndTemporaryFilesAreReportedAndKnownSidecarsAreNot(
        backend: CatalogTestBackend
    ) async throws {
        try await Self.withArchive(backend) { archive in
            let directory = String(
                try #require(archive.streams["CAarch1"]).split(separator: "/").dropLast().joined(separator: "/")
            )
            try FileSystem.writeAtomically([1, 2, 3], to: archive.absolute("\(directory)/extra.wav"), durable: false)
            try FileSystem.writeAtomically([1], to: archive.absolute("\(directory)/stray.json"), durable: false)
            try FileSystem.writeAtomically(
                [1],
                to: archive.absolute("\(directory)/.recording-7-abc.part"),
                durable: false
            )
            try FileSystem.makeDirectories(archive.absolute("media/other/2026/01/01/CAnobody"))
            try FileSystem.writeAtomically(
                [1],
                to: archive.absolute("media/other/2026/01/01/CAnobody/call.json"),
                durable: false
            )
            try FileSystem.makeDirectories(archive.absolute("media/_unknown/2026/01/01/CAlate"))
            try FileSystem.writeAtomically(
                [1],
                to: archive.absolute("media/_unknown/2026/01/01/CAlate/call.json"),
                durable: false
            )

            let report = try await archive.verifier().verify()
            let found = Dictionary(report.problems.map { ($0.path, $0.kind) }, uniquingKeysWith: { a, _ in a })
            #expect(
                found == [
                    "\(directory)/extra.wav": .unexpected, "\(directory)/stray.json": .unexpected,
                    "\(directory)/.recording-7-abc.part": .incompleteDownload,
                    "media/other/2026/01/01/CAnobody/call.json": .unexpected,
                ]
            )
            #expect(report.problems.count == 4)
            #expect(report.problems.first { $0.path.hasSuffix("extra.wav") }?.callSid == "CAarch1")
            #expect(report.ok == 4)
        }
    }

    @Test(arguments: CatalogTestBackend.all) func anEditedSidecarIsReported(backend: CatalogTestBackend) async throws {
        try await Self.withArchive(backend) { archive in
            let mp3 = try #require(archive.recordings["CAarch2"])
            let sidecarPath = archive.absolute(mp3.replacingOccurrences(of: ".mp3", with: ".json"))
            var sidecar = try RecordingSidecar.load(from: sidecarPath)
            sidecar.sha256 = String(repeating: "ab", count: 32)
            try sidecar.write(to: sidecarPath, durable: false)
            let report = try await archive.verifier().verify()
            #expect(report.problems.map(\.kind) == [.sidecarMismatch])
            #expect(report.problems.first?.path == mp3)
        }
    }

    @Test(arguments: CatalogTestBackend.all) func aSelectionChecksOnlyItsFiles(backend: CatalogTestBackend) async throws
    {
        try await Self.withArchive(backend) { archive in
            // Damage call 1 only; selections that leave it out come back clean.
            try Self.flipByte(archive.absolute(try #require(archive.streams["CAarch1"])))
            try FileSystem.writeAtomically([1], to: archive.absolute("media/stray.bin"), durable: false)

            let byCall = try await archive.verifier().verify(.init(callSids: ["CAarch2"]))
            #expect(byCall.selected == 2)
            #expect(byCall.isClean, "\(byCall.problems)")
            #expect(byCall.scannedForUnexpected)

            let byKind = try await archive.verifier().verify(.init(kind: .recording))
            #expect(byKind.selected == 2)
            #expect(byKind.isClean)
            #expect(!byKind.scannedForUnexpected)

            let since = Timestamp(millisecondsSinceEpoch: Self.placedAt.millisecondsSinceEpoch + 3_600_000)
            let bySince = try await archive.verifier().verify(.init(since: since))
            #expect(bySince.selected == 2)
            #expect(bySince.isClean)

            let everything = try await archive.verifier().verify()
            #expect(Set(everything.problems.map(\.kind)) == [.changed, .unexpected])
            let summary = try await Self.auditActions(archive.catalog).filter { $0.action == "archive.verified" }
            #expect(summary.map { $0.detailMap["call_sids"] } == ["CAarch2", nil, nil, nil])
            #expect(summary.map { $0.detailMap["kind"] } == [nil, "recording", nil, nil])
        }
    }

    @Test func sinceAndAnchorTextsParse() throws {
        let now = Timestamp(millisecondsSinceEpoch: 1_800_000_000_000)
        let day = try #require(ArchiveVerifier.Selection.parseSince("24h", now: now))
        #expect(day == Timestamp(millisecondsSinceEpoch: 1_799_913_600_000))
        let minutes = try #require(ArchiveVerifier.Selection.parseSince("90m", now: now))
        #expect(minutes == Timestamp(millisecondsSinceEpoch: 1_799_994_600_000))
        #expect(ArchiveVerifier.Selection.parseSince("2026-11-24")?.description == "2026-11-24T00:00:00.000Z")
        #expect(ArchiveVerifier.Selection.parseSince("2026-11-24T09:30:00Z")?.description == "2026-11-24T09:30:00.000Z")
        #expect(ArchiveVerifier.Selection.parseSince("yesterday") == nil)
        #expect(ArchiveVerifier.Selection.parseSince("2026-13") == nil)

        let hash = String(repeating: "0f", count: 32)
        #expect(AuditAnchor(text: "12:\(hash)") == AuditAnchor(seq: 12, hash: hash))
        #expect(AuditAnchor(text: "12:\(hash.uppercased())") == AuditAnchor(seq: 12, hash: hash))
        #expect(AuditAnchor(seq: 12, hash: hash).text == "12:\(hash)")
        #expect(AuditAnchor(text: "0:\(hash)") == nil)
        #expect(AuditAnchor(text: "12:\(hash.dropLast())") == nil)
        #expect(AuditAnchor(text: "12") == nil)
        #expect(AuditAnchor(text: "x:\(hash)") == nil)
    }

    /// A whole archive as `exorec demo` leaves it (streams, recordings, call.json of completed and failed
    /// calls) checks out: the verifier's idea of the layout is the pipeline's.
    @Test func aDemoArchiveChecksOut() async throws {
        let root = try RecordingTests.temporaryDirectory("demo")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let demo = try await ExorecProcess.run(["demo", "--storage", root, "--speed", "40", "--json"])
        #expect(demo.status == 0, "\(demo.errors)")
        try await Catalog.withCatalog(path: "\(root)/catalog.sqlite", logger: RecordingTests.quietLogger()) { catalog in
            let verifier = ArchiveVerifier(
                catalog: catalog,
                layout: StorageLayout(root: root),
                logger: RecordingTests.quietLogger()
            )
            let report = try await verifier.verify()
            #expect(report.isClean, "\(report.problems)")
            #expect(report.selected >= 4)
            #expect(report.ok == report.selected)
        }
    }
}

/// Progress values as the verifier reported them.
final class ProgressLog: Sendable {
    private let store = Mutex<[ArchiveVerifier.Progress]>([])
    func append(_ value: ArchiveVerifier.Progress) { self.store.withLock { $0.append(value) } }
    var values: [ArchiveVerifier.Progress] { self.store.withLock { $0 } }
}
