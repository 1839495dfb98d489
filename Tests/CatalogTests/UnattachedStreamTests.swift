import ExotelKit
import Foundation
import MediaStore
import Testing

@testable import Catalog

/// Issue 12: a stream whose start named no call is catalogued as such (call_sid ""), found by
/// `unattachedStreams` and by its stream_sid, and `catalog rebuild` reproduces it from its sidecar under
/// `media/_streams/`.
@Suite(.timeLimit(.minutes(2)))
struct UnattachedStreamTests {
    static func thinSidecar(streamSid: String, layout: StorageLayout) throws -> (sidecar: StreamSidecar, wav: String) {
        let identity = StreamIdentity(
            account: nil,
            callSid: nil,
            streamSid: try PathSafeIdentifier(streamSid, field: "stream"),
            sourceEncoding: .muLaw,
            mediaFormatEncoding: "audio/x-mulaw",
            from: nil,
            to: nil,
            customParameters: [:],
            queryParameters: [:]
        )
        let directory = identity.directory(in: layout, startedAt: t0)
        try FileSystem.makeDirectories(directory)
        let wav = "\(directory)/stream-\(streamSid).wav"
        try FileSystem.writeAtomically(Array(repeating: 7, count: 1000), to: wav, durable: false)
        var sidecar = StreamSidecar(
            identity: identity,
            sampleRate: 8000,
            startedAt: t0,
            file: "stream-\(streamSid).wav",
            exorecVersion: "test"
        )
        sidecar.state = .complete
        sidecar.channels = 1
        sidecar.endedAt = at(10)
        sidecar.bytes = 1000
        sidecar.sha256 = try FileSystem.sha256(of: wav)
        try sidecar.write(to: "\(directory)/stream-\(streamSid).json", durable: false)
        return (sidecar, wav)
    }

    @Test func unattachedStreamIsCataloguedFoundAndRebuilt() async throws {
        try await withTemporaryDirectory { root async throws in
            let layout = StorageLayout(root: root)
            let (sidecar, wav) = try Self.thinSidecar(streamSid: "thin9", layout: layout)
            #expect(wav.hasPrefix("\(root)/media/_streams/"))
            let relative = String(wav.dropFirst(root.count + 1))
            let path = "\(root)/catalog.sqlite"
            let before = try await Catalog.withCatalog(path: path, logger: testLogger) { catalog async throws in
                try await catalog.upsertStream(from: sidecar, path: relative)
                let listed = try await catalog.unattachedStreams()
                #expect(listed.map(\.streamSid) == ["thin9"])
                #expect(listed.first?.isUnattached == true)
                #expect(listed.first?.path == relative)
                #expect(try await catalog.unattachedStreams(startedFrom: at(1)).isEmpty, "started before the window")
                let found = try await catalog.streams(streamSid: "thin9")
                #expect(found.count == 1 && found.first?.file?.sha256 == sidecar.sha256)
                #expect(try await catalog.mediaFile(path: relative)?.callSid == "")
                return try await catalog.snapshot()
            }
            let report = try await CatalogRebuilder(layout: layout, logger: testLogger).rebuild(at: at(5000))
            #expect(report.problems == [])
            #expect(report.streams == 1)
            try await Catalog.withCatalog(path: path, logger: testLogger) { rebuilt async throws in
                #expect(before.differences(from: try await rebuilt.snapshot()) == [])
                #expect(try await rebuilt.unattachedStreams().map(\.streamSid) == ["thin9"])
            }
        }
    }

    @Test func retentionDatesEachStreamWithoutACallByItsOwnStart() async throws {
        try await withTemporaryDirectory { root async throws in
            let layout = StorageLayout(root: root)
            let (old, wav) = try Self.thinSidecar(streamSid: "old1", layout: layout)
            var later = try Self.thinSidecar(streamSid: "later1", layout: layout)
            later.sidecar.startedAt = at(500_000)
            try await Catalog.withCatalog(path: "\(root)/catalog.sqlite", logger: testLogger) { catalog async throws in
                try await catalog.upsertStream(from: old, path: String(wav.dropFirst(root.count + 1)))
                try await catalog.upsertStream(from: later.sidecar, path: String(later.wav.dropFirst(root.count + 1)))
                // Grouped under call_sid "", every stream without a call would be dated by the oldest and deleted
                // with it: each is a candidate of its own, keyed stream:<stream_sid>, dated by its start.
                let candidates = try await catalog.retentionCandidates(before: at(1_000_000))
                #expect(candidates.map(\.key) == ["stream:old1", "stream:later1"], "\(candidates.map(\.key))")
                #expect(candidates.map(\.callTime) == [t0, at(500_000)])
                #expect(candidates.allSatisfy { $0.callSid.isEmpty && $0.kind == "stream" && $0.mediaFiles.count == 1 })
                #expect(try await catalog.retentionCandidates(before: at(1)).map(\.key) == ["stream:old1"])
            }
        }
    }
}
