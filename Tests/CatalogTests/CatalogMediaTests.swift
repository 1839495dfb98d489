import Catalog
import MediaStore
import Testing

@Suite(.timeLimit(.minutes(1)))
struct CatalogMediaTests {
    /// A stream is upserted as its sidecar changes: started (recording), then complete with size and checksum.
    @Test(arguments: CatalogTestBackend.all) func streamFromSidecarThroughItsLife(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            let path = "media/acme/2025/11/23/CA1/stream-ST1.wav"
            let started = try Fixture.streamSidecar(callSid: "CA1", streamSid: "ST1", state: .recording)
            try await catalog.upsertStream(from: started, path: path)
            var file = try #require(try await catalog.mediaFiles(callSid: "CA1").first)
            #expect(file.state == .recording)
            #expect(file.sha256 == nil)
            #expect(file.kind == .stream)

            let done = try Fixture.streamSidecar(
                callSid: "CA1",
                streamSid: "ST1",
                bytes: 9_600_044,
                sha256: String(repeating: "ab", count: 32)
            )
            try await catalog.upsertStream(from: done, path: path)
            let streams = try await catalog.streams(callSid: "CA1")
            #expect(streams.count == 1)
            let stream = try #require(streams.first)
            #expect(stream.streamSid == "ST1")
            #expect(stream.state == .complete)
            #expect(stream.channels == 2)
            #expect(stream.frames == 2_400_000)
            #expect(stream.closeReason == "stop:callended")
            #expect(stream.customParameters == ["campaign": "spring"])
            #expect(stream.endedAt == done.endedAt)

            file = try #require(try await catalog.mediaFiles(callSid: "CA1").first)
            #expect(
                file
                    == MediaFile(
                        callSid: "CA1",
                        kind: .stream,
                        path: path,
                        format: "wav",
                        sampleRate: 8000,
                        channels: 2,
                        durationSeconds: 300,
                        bytes: 9_600_044,
                        sha256: String(repeating: "ab", count: 32),
                        state: .complete,
                        createdAt: done.startedAt,
                        updatedAt: try #require(done.endedAt)
                    )
            )
        }
    }

    /// A repeated stream_sid has a second file: two streams, two media files.
    @Test(arguments: CatalogTestBackend.all) func repeatedStreamSidIsASecondFile(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            let sidecar = try Fixture.streamSidecar(callSid: "CA1", streamSid: "ST1")
            try await catalog.upsertStream(from: sidecar, path: "media/acme/CA1/stream-ST1.wav")
            try await catalog.upsertStream(from: sidecar, path: "media/acme/CA1/stream-ST1-2.wav")
            #expect(
                try await catalog.streams(callSid: "CA1").map(\.path)
                    == ["media/acme/CA1/stream-ST1-2.wav", "media/acme/CA1/stream-ST1.wav"]
            )
            #expect(try await catalog.mediaFiles(callSid: "CA1").count == 2)
        }
    }

    @Test(arguments: CatalogTestBackend.all) func recordingFromSidecar(backend: CatalogTestBackend) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            let sidecar = Fixture.recordingSidecar(
                callSid: "CA1",
                url: "https://recordings.example/acme/CA1.mp3",
                bytes: 1234,
                sha256: String(repeating: "cd", count: 32)
            )
            try await catalog.upsertRecording(from: sidecar, path: "media/acme/CA1/recording.mp3")
            let recording = try #require(try await catalog.recordings(callSid: "CA1").first)
            #expect(recording.url == "https://recordings.example/acme/CA1.mp3")
            #expect(recording.bytes == 1234)
            #expect(recording.httpStatus == 200)
            #expect(recording.state == .complete)
            let file = try #require(try await catalog.mediaFile(path: "media/acme/CA1/recording.mp3"))
            #expect(file.kind == .recording)
            #expect(file.format == "mp3")
            #expect(file.createdAt == sidecar.fetchedAt)
        }
    }

    /// An update by path keeps the row's creation time and replaces the rest.
    @Test(arguments: CatalogTestBackend.all) func upsertMediaFileKeepsCreatedAt(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            var file = MediaFile(
                callSid: "CA1",
                kind: .recording,
                path: "media/x/recording.mp3",
                format: "mp3",
                sampleRate: nil,
                channels: nil,
                durationSeconds: nil,
                bytes: 10,
                sha256: nil,
                state: .incomplete,
                createdAt: at(1),
                updatedAt: at(1)
            )
            try await catalog.upsertMediaFile(file)
            file.state = .complete
            file.bytes = 20
            file.createdAt = at(50)
            file.updatedAt = at(50)
            try await catalog.upsertMediaFile(file)
            let stored = try #require(try await catalog.mediaFile(path: "media/x/recording.mp3"))
            #expect(stored.state == .complete)
            #expect(stored.bytes == 20)
            #expect(stored.createdAt == at(1))
            #expect(stored.updatedAt == at(50))
        }
    }
}
