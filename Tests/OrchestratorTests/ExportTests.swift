import Catalog
import ExorecTesting
import Foundation
import Glibc
import Logging
import MediaStore
import Orchestrator
import Testing

/// `MediaExporter` over real files in a temporary storage root: three calls placed a day apart, each with a dual
/// (2-channel) 8 kHz stream WAV and a mono mp3 recording, catalogued through the Catalog API. Exported files are
/// opened by Python's soundfile and bags validated by Python's `bagit`: readers exorec did not write.
@Suite(.timeLimit(.minutes(3))) struct ExportTests {
    /// What the fault hook throws to stop a run where a kill would.
    struct InjectedFault: Error {}

    struct Archive {
        let root: String
        let catalog: Catalog
        /// Per call: the stream's and the recording's paths, relative to the root.
        var streams: [String: String] = [:]
        var recordings: [String: String] = [:]

        func exporter() -> MediaExporter {
            MediaExporter(
                catalog: self.catalog,
                layout: StorageLayout(root: self.root),
                exorecVersion: "test",
                logger: RecordingTests.quietLogger("export")
            )
        }

        /// A destination path that does not exist yet.
        func destination(_ name: String) -> String { "\(self.root)/exports/\(name)" }
    }

    static let calls = ["CAexp1", "CAexp2", "CAexp3"]
    static let firstPlacedAt = Timestamp(millisecondsSinceEpoch: 1_795_000_000_000)
    static let frames = 8000

    static func placedAt(_ index: Int) -> Timestamp {
        Timestamp(millisecondsSinceEpoch: Self.firstPlacedAt.millisecondsSinceEpoch + Int64(index) * 86_400_000)
    }

    static func withArchive(
        _ backend: CatalogTestBackend = .sqlite,
        _ body: (inout Archive) async throws -> Void
    ) async throws {
        try await RecordingTests.withStore(backend) { root, catalog in
            var archive = Archive(root: root, catalog: catalog)
            for (index, callSid) in Self.calls.enumerated() {
                let placedAt = Self.placedAt(index)
                try await RecordingTests.recordCall(
                    callSid,
                    in: catalog,
                    placedAt: placedAt,
                    metadata: ["case": "case-\(callSid)", "name": "Doe, Jane"]
                )
                let directory = try RecordingTests.callDirectory(root: root, callSid: callSid, placedAt: placedAt)
                try FileSystem.makeDirectories(directory)
                let relative = String(directory.dropFirst(root.count + 1))

                let stream = "\(relative)/stream-ST\(index).wav"
                try FileSystem.writeAtomically(
                    ToneWAV.bytes(frequency: 300 + Double(index) * 100, seconds: 1, channels: 2),
                    to: "\(root)/\(stream)",
                    durable: false
                )
                try await Self.catalogue(
                    stream,
                    kind: .stream,
                    format: "wav",
                    channels: 2,
                    callSid: callSid,
                    archive: archive,
                    at: placedAt
                )
                archive.streams[callSid] = stream

                let tone = "\(directory)/tone.tmp.wav"
                try FileSystem.writeAtomically(ToneWAV.bytes(frequency: 500, seconds: 1), to: tone, durable: false)
                let recording = "\(relative)/recording.mp3"
                try AudioTranscoder.transcode(source: tone, format: .mp3, outputs: ["\(root)/\(recording)"])
                unlink(tone)
                try await Self.catalogue(
                    recording,
                    kind: .recording,
                    format: "mp3",
                    channels: 1,
                    callSid: callSid,
                    archive: archive,
                    at: placedAt
                )
                archive.recordings[callSid] = recording
            }
            try await body(&archive)
        }
    }

    /// Makes the file read-only and enters it in the catalog with its size and SHA-256, as a finished file.
    static func catalogue(
        _ path: String,
        kind: MediaKind,
        format: String,
        channels: Int,
        callSid: String,
        archive: Archive,
        at time: Timestamp
    ) async throws {
        let absolute = "\(archive.root)/\(path)"
        try FileSystem.makeReadOnly(absolute)
        try await archive.catalog.upsertMediaFile(
            MediaFile(
                callSid: callSid,
                kind: kind,
                path: path,
                format: format,
                sampleRate: 8000,
                channels: channels,
                durationSeconds: 1,
                bytes: try FileSystem.size(of: absolute),
                sha256: try FileSystem.sha256(of: absolute),
                state: .complete,
                createdAt: time,
                updatedAt: time
            )
        )
    }

    static func request(
        _ destination: String,
        format: ExportFormat = .original,
        split: Bool = false,
        bag: Bool = false
    ) -> ExportRequest {
        ExportRequest(destination: destination, search: CallSearch(), format: format, splitLegs: split, bag: bag)
    }

    /// Payload files (relative to `root`), sorted.
    static func files(under root: String) -> [String] {
        FileSystem.files(under: root, withSuffix: "").map { String($0.dropFirst(root.count + 1)) }
    }

    static func flipByte(_ path: String) throws {
        #expect(chmod(path, 0o644) == 0)
        var bytes = try FileSystem.read(path)
        bytes[bytes.count / 2] ^= 0x5a
        try FileSystem.writeAtomically(bytes, to: path, durable: false)
    }

    @Test(arguments: CatalogTestBackend.all) func aBagOfSplitFlacLegsValidatesWithPythonBagitAndATamperedPayloadDoesNot(
        backend: CatalogTestBackend
    ) async throws {
        try await Self.withArchive(backend) { archive in
            let destination = archive.destination("bag")
            let report = try await archive.exporter().export(
                Self.request(destination, format: .flac, split: true, bag: true)
            )
            #expect(report.isClean, "\(report.problems)")
            #expect(report.calls == 3 && report.selected == 6 && report.exported == 6)
            // Per call: call-detail.json, two stream legs, the mono recording; plus export.json.
            #expect(report.payloadFiles == 3 * 4 + 1)

            #expect(try await OutsideReader.bagitProblem(destination) == nil)
            let top = Set(try FileManager.default.contentsOfDirectory(atPath: destination))
            #expect(
                top == [
                    "bagit.txt", "bag-info.txt", "data", "manifest-sha256.txt", "manifest-sha512.txt",
                    "tagmanifest-sha256.txt",
                    "tagmanifest-sha512.txt",
                ]
            )
            let declaration = try String(contentsOfFile: "\(destination)/bagit.txt", encoding: .utf8)
            #expect(declaration == "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
            let info = try String(contentsOfFile: "\(destination)/bag-info.txt", encoding: .utf8)
            #expect(info.contains("Payload-Oxum: \(report.payloadBytes).\(report.payloadFiles)\n"))
            #expect(info.contains("Bagging-Date: "))
            let sha512 = try String(contentsOfFile: "\(destination)/manifest-sha512.txt", encoding: .utf8)
            #expect(sha512.split(separator: "\n").count == report.payloadFiles)
            #expect(sha512.split(separator: "\n").allSatisfy { $0.split(separator: " ")[0].count == 128 })

            let payload = Self.files(under: "\(destination)/data")
            #expect(payload.contains("CAexp1/call-detail.json") && payload.contains("export.json"))
            for callSid in Self.calls {
                for leg in 1...2 {
                    let info = try await OutsideReader.soundfileInfo(
                        "\(destination)/data/\(callSid)/stream-ST\(Self.calls.firstIndex(of: callSid)!)-leg\(leg).flac"
                    )
                    #expect(info.format == "FLAC" && info.subtype == "PCM_16")
                    #expect(info.sampleRate == 8000 && info.channels == 1 && info.frames == Self.frames)
                }
                let recording = try await OutsideReader.soundfileInfo("\(destination)/data/\(callSid)/recording.flac")
                #expect(recording.format == "FLAC" && recording.sampleRate == 8000 && recording.channels == 1)
            }
            let detail = try JSONDecoder().decode(
                CallDetail.self,
                from: Data(contentsOf: URL(fileURLWithPath: "\(destination)/data/CAexp2/call-detail.json"))
            )
            #expect(detail.call.callSid == "CAexp2")
            #expect(detail.call.metadata == ["case": "case-CAexp2", "name": "Doe, Jane"])
            #expect(
                detail.mediaFiles.map(\.path).sorted()
                    == [archive.recordings["CAexp2"]!, archive.streams["CAexp2"]!].sorted()
            )

            // The outside check can fail: one changed byte in the payload makes the bag invalid.
            try Self.flipByte("\(destination)/data/CAexp1/stream-ST0-leg2.flac")
            let problem = try await OutsideReader.bagitProblem(destination)
            #expect(problem?.contains("stream-ST0-leg2.flac") == true, "\(problem ?? "valid")")
        }
    }

    @Test(arguments: [ExportFormat.wav, .flac, .mp3, .ogg])
    func everyFormatOpensWithTheExpectedFormatRateAndChannels(_ format: ExportFormat) async throws {
        let expected: [ExportFormat: (String, String)] = [
            .wav: ("WAV", "PCM_16"), .flac: ("FLAC", "PCM_16"), .mp3: ("MP3", "MPEG_LAYER_III"),
            .ogg: ("OGG", "VORBIS"),
        ]
        try await Self.withArchive { archive in
            for split in [false, true] {
                var request = Self.request(
                    archive.destination("\(format.rawValue)-\(split)"),
                    format: format,
                    split: split
                )
                request.search.callSid = "CAexp2"
                let report = try await archive.exporter().export(request)
                #expect(report.isClean && report.exported == 2, "\(report.problems)")
                let stems = split ? ["stream-ST1-leg1", "stream-ST1-leg2", "recording"] : ["stream-ST1", "recording"]
                let audio = Self.files(under: request.destination).filter { !$0.hasSuffix(".json") }
                #expect(audio.sorted() == stems.map { "CAexp2/\($0).\(format.rawValue)" }.sorted())
                for stem in stems {
                    let info = try await OutsideReader.soundfileInfo(
                        "\(request.destination)/CAexp2/\(stem).\(format.rawValue)"
                    )
                    #expect(
                        info.format == expected[format]!.0 && info.subtype == expected[format]!.1,
                        "\(stem): \(info)"
                    )
                    #expect(info.sampleRate == 8000)
                    #expect(info.channels == (stem == "stream-ST1" ? 2 : 1), "\(stem)")
                    // Lossy codecs may pad or trim a frame's worth at the edges.
                    #expect(
                        abs(info.frames - Self.frames) <= (format == .wav || format == .flac ? 0 : 1200),
                        "\(stem): \(info.frames)"
                    )
                }
            }
        }
    }

    @Test(arguments: CatalogTestBackend.all) func originalCopiesAreByteIdenticalAndAFolderHasNoBagFiles(
        backend: CatalogTestBackend
    ) async throws {
        try await Self.withArchive(backend) { archive in
            let destination = archive.destination("copy")
            let report = try await archive.exporter().export(Self.request(destination))
            #expect(report.isClean && report.exported == 6)
            for callSid in Self.calls {
                let stream = try #require(archive.streams[callSid])
                let copied = "\(destination)/\(callSid)/\(URL(fileURLWithPath: stream).lastPathComponent)"
                #expect(try FileSystem.sha256(of: copied) == (try FileSystem.sha256(of: "\(archive.root)/\(stream)")))
                #expect(
                    try FileSystem.sha256(of: "\(destination)/\(callSid)/recording.mp3")
                        == (try FileSystem.sha256(of: "\(archive.root)/\(archive.recordings[callSid]!)"))
                )
            }
            let top = Set(try FileManager.default.contentsOfDirectory(atPath: destination))
            #expect(top == Set(Self.calls + ["export.json"]), "no journal, no bag files: \(top)")
        }
    }

    @Test(arguments: CatalogTestBackend.all) func aTamperedOrMissingSourceIsReportedNotExported(
        backend: CatalogTestBackend
    ) async throws {
        try await Self.withArchive(backend) { archive in
            let tampered = try #require(archive.streams["CAexp1"])
            try Self.flipByte("\(archive.root)/\(tampered)")
            let missing = try #require(archive.recordings["CAexp3"])
            #expect(unlink("\(archive.root)/\(missing)") == 0)

            for format in [ExportFormat.original, .wav] {
                let destination = archive.destination("damaged-\(format.rawValue)")
                let report = try await archive.exporter().export(Self.request(destination, format: format, bag: true))
                #expect(report.exported == 4)
                #expect(report.problems.map(\.kind).sorted { $0.rawValue < $1.rawValue } == [.changed, .missing])
                #expect(report.problems.first { $0.kind == .changed }?.path == tampered)
                #expect(report.problems.first { $0.kind == .missing }?.path == missing)
                #expect(report.summaryLine.hasSuffix("1 missing, 1 changed"))
                let payload = Self.files(under: "\(destination)/data")
                #expect(!payload.contains { $0.hasPrefix("CAexp1/stream-ST0") }, "the altered source is not exported")
                #expect(!payload.contains("CAexp3/recording.\(format == .original ? "mp3" : "wav")"))
                #expect(!payload.contains { $0.hasSuffix(".exorec-partial") })
                #expect(
                    try await OutsideReader.bagitProblem(destination) == nil,
                    "what was exported is still a valid bag"
                )
                let summary = try String(contentsOfFile: "\(destination)/data/export.json", encoding: .utf8)
                #expect(summary.contains(tampered) && summary.contains("\"changed\""))
            }
            let problems = try await archive.catalog.auditEntries().filter { $0.action == "export.problem" }
            #expect(problems.count == 4)
            #expect(problems.contains { $0.path == tampered && $0.detailMap["kind"] == "changed" })
        }
    }

    @Test(arguments: CatalogTestBackend.all) func anInterruptedBagResumesToAValidBagAndOnlyTheSameRequestResumesIt(
        backend: CatalogTestBackend
    ) async throws {
        try await Self.withArchive(backend) { archive in
            let destination = archive.destination("resumed")
            let request = Self.request(destination, format: .ogg, split: true, bag: true)
            var interrupted = archive.exporter()
            interrupted.faultInjection = { exported in if exported == 2 { throw InjectedFault() } }
            await #expect(throws: InjectedFault.self) { try await interrupted.export(request) }
            #expect(FileSystem.exists("\(destination)/.exorec-export-journal.json"))
            #expect(!FileSystem.exists("\(destination)/bagit.txt"), "a partial bag does not look like a bag")
            #expect(try await OutsideReader.bagitProblem(destination) != nil)
            // A kill in the middle of the next file leaves its temporary file behind.
            try FileSystem.makeDirectories("\(destination)/data/CAexp2")
            try FileSystem.writeAtomically(
                [1, 2, 3],
                to: "\(destination)/data/CAexp2/recording.ogg.exorec-partial",
                durable: false
            )

            var other = request
            other.format = .mp3
            await #expect(throws: ExportError.self) { try await archive.exporter().export(other) }
            do {
                _ = try await archive.exporter().export(other)
            } catch let error as ExportError {
                guard case .otherExportInProgress = error else {
                    Issue.record("\(error)")
                    return
                }
            }

            let report = try await archive.exporter().export(request)
            #expect(report.isClean, "\(report.problems)")
            #expect(report.resumed == 2 && report.exported == 6)
            #expect(try await OutsideReader.bagitProblem(destination) == nil)
            #expect(!FileSystem.exists("\(destination)/.exorec-export-journal.json"))
            let payload = Self.files(under: "\(destination)/data")
            #expect(!payload.contains { $0.hasSuffix(".exorec-partial") })
            #expect(payload.filter { $0.hasSuffix(".ogg") }.count == 9)
            for file in payload where file.hasSuffix(".ogg") {
                let info = try await OutsideReader.soundfileInfo("\(destination)/data/\(file)")
                #expect(info.format == "OGG" && info.channels == 1 && info.sampleRate == 8000, "\(file)")
            }
        }
    }

    @Test(arguments: CatalogTestBackend.all) func refusesToOverwriteAndWritesNothingWhenNothingMatches(
        backend: CatalogTestBackend
    ) async throws {
        try await Self.withArchive(backend) { archive in
            let occupied = archive.destination("occupied")
            try FileSystem.makeDirectories(occupied)
            try FileSystem.writeAtomically(Array("keep me".utf8), to: "\(occupied)/notes.txt", durable: false)
            await #expect(throws: ExportError.destinationNotEmpty(path: occupied)) {
                try await archive.exporter().export(Self.request(occupied))
            }
            #expect(try String(contentsOfFile: "\(occupied)/notes.txt", encoding: .utf8) == "keep me")
            #expect(Self.files(under: occupied) == ["notes.txt"])

            let file = "\(occupied)/notes.txt"
            await #expect(throws: ExportError.destinationIsAFile(path: file)) {
                try await archive.exporter().export(Self.request(file))
            }

            let empty = archive.destination("empty")
            try FileSystem.makeDirectories(empty)
            #expect(
                try await archive.exporter().export(Self.request(empty, bag: true)).isClean,
                "an empty folder is fine"
            )
            await #expect(
                throws: ExportError.destinationNotEmpty(path: empty),
                "a finished export is not redone over itself"
            ) {
                try await archive.exporter().export(Self.request(empty, bag: true))
            }

            let inside = "\(archive.root)/media/export"
            await #expect(throws: ExportError.self, "an export inside the archive would be taken for strays") {
                try await archive.exporter().export(Self.request(inside))
            }
            #expect(!FileSystem.exists(inside))

            let busy = archive.destination("busy")
            try FileSystem.makeDirectories(busy)
            let held = open(busy, O_RDONLY | O_DIRECTORY)
            #expect(flock(held, LOCK_EX) == 0)
            await #expect(throws: ExportError.destinationBusy(path: busy)) {
                try await archive.exporter().export(Self.request(busy))
            }
            close(held)
            #expect(
                try await archive.exporter().export(Self.request(busy)).isClean,
                "free again once the other export ends"
            )

            var none = Self.request(archive.destination("none"))
            none.search.status = "no-such-status"
            await #expect(throws: ExportError.nothingMatched) { try await archive.exporter().export(none) }
            #expect(!FileSystem.exists(none.destination))

            var splitOriginal = Self.request(archive.destination("split"))
            splitOriginal.splitLegs = true
            #expect(splitOriginal.invalidReason != nil)
            await #expect(throws: ExportError.self) { try await archive.exporter().export(splitOriginal) }
        }
    }

    @Test(arguments: CatalogTestBackend.all) func filtersSelectTheCallsAndTheKindSelectsTheFiles(
        backend: CatalogTestBackend
    ) async throws {
        try await Self.withArchive(backend) { archive in
            var later = Self.request(archive.destination("later"))
            later.search.placedFrom = Self.placedAt(1)
            let laterReport = try await archive.exporter().export(later)
            #expect(laterReport.calls == 2)
            #expect(
                Set(try FileManager.default.contentsOfDirectory(atPath: later.destination)) == [
                    "CAexp2", "CAexp3", "export.json",
                ]
            )

            var recordings = Self.request(archive.destination("recordings"), format: .wav)
            recordings.search.mediaKind = .recording
            recordings.kind = .recording
            recordings.search.placedBefore = Self.placedAt(1)
            let report = try await archive.exporter().export(recordings)
            #expect(report.calls == 1 && report.selected == 1)
            #expect(
                Self.files(under: recordings.destination) == [
                    "CAexp1/call-detail.json", "CAexp1/recording.wav", "export.json",
                ]
            )

            var limited = Self.request(archive.destination("limited"))
            limited.search.limit = 2
            let limitedReport = try await archive.exporter().export(limited)
            #expect(limitedReport.calls == 2 && limitedReport.reachedLimit)
            #expect(
                Set(try FileManager.default.contentsOfDirectory(atPath: limited.destination)) == [
                    "CAexp2", "CAexp3", "export.json",
                ]
            )
        }
    }

    @Test(arguments: CatalogTestBackend.all) func theExportIsAuditedAndTheBagNamesItsAuditEntry(
        backend: CatalogTestBackend
    ) async throws {
        try await Self.withArchive(backend) { archive in
            let destination = archive.destination("audited")
            let report = try await archive.exporter().export(Self.request(destination, format: .mp3, bag: true))
            let entries = try await archive.catalog.auditEntries().filter { $0.action.hasPrefix("export.") }
            #expect(entries.map(\.action) == ["export.completed"])
            let entry = try #require(entries.first)
            #expect(entry.seq == report.auditSeq && entry.actor == "cli" && entry.path == destination)
            #expect(
                entry.detailMap["exported"] == "6" && entry.detailMap["format"] == "mp3"
                    && entry.detailMap["bag"] == "true"
            )
            #expect(entry.detailMap["call_sids"] == Self.calls.joined(separator: ","))
            #expect(
                entry.detailMap["manifest_sha256"] == (try FileSystem.sha256(of: "\(destination)/manifest-sha256.txt"))
            )
            let info = try String(contentsOfFile: "\(destination)/bag-info.txt", encoding: .utf8)
            #expect(info.contains("Exorec-Audit-Entry: \(entry.seq):\(entry.hash)\n"))
            #expect(try await archive.catalog.verifyAuditChain().isIntact)
        }
    }
}
