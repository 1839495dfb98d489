import Catalog
import MediaStore
import Testing

/// The events feed: which changes add which events, in the transaction that made them, and what a
/// rebuild keeps.
@Suite(.timeLimit(.minutes(1)))
struct CatalogEventFeedTests {
    static let path = "media/acme/2025/11/23/CA1/stream-ST1.wav"

    /// A stream's life is started, progress (one per report), finished; repeats of a known state add nothing.
    @Test(arguments: CatalogTestBackend.all) func streamLifeIsStartedProgressFinished(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            let started = try Fixture.streamSidecar(callSid: "CA1", streamSid: "ST1", state: .recording)
            try await catalog.upsertStream(from: started, path: Self.path)
            try await catalog.upsertStream(from: started, path: Self.path)  // the same state again: no event
            let progress = StreamProgress(
                streamSid: "ST1",
                callSid: "CA1",
                path: Self.path,
                sampleRate: 8000,
                channels: 1,
                frames: 8000,
                durationSeconds: 1,
                bytes: 32_044,
                at: at(3)
            )
            #expect(try await catalog.recordStreamProgress([progress]) == 1)
            let done = try Fixture.streamSidecar(
                callSid: "CA1",
                streamSid: "ST1",
                bytes: 9_600_044,
                sha256: String(repeating: "ab", count: 32)
            )
            try await catalog.upsertStream(from: done, path: Self.path)
            try await catalog.upsertStream(from: done, path: Self.path)

            let events = try await catalog.events(after: 0)
            #expect(events.map(\.type) == [.streamStarted, .streamProgress, .streamFinished])
            #expect(events.map(\.id) == [1, 2, 3])
            let mediaID = MediaFile.id(forPath: Self.path)
            #expect(
                events.allSatisfy {
                    $0.mediaID == mediaID && $0.path == Self.path && $0.callSid == "CA1" && $0.streamSid == "ST1"
                }
            )
            #expect(events[1].detail.bytes == 32_044)
            #expect(events[1].detail.state == "recording")
            #expect(events[2].detail.state == "complete")
            #expect(events[2].detail.sha256 == String(repeating: "ab", count: 32))
            // The progress also moved the catalog's row while the stream grew.
            #expect(try await catalog.latestEventID() == 3)
            #expect(try await catalog.events(after: 2).map(\.id) == [3])
            #expect(try await catalog.events(after: 0, kinds: [.streamFinished]).map(\.id) == [3])
            // The media id finds the file.
            #expect(try await catalog.mediaFile(id: mediaID)?.path == Self.path)
            #expect(try await catalog.mediaFile(id: "0000000000000000") == nil)
            #expect(try await catalog.mediaFile(id: "../../etc/passwd") == nil)
        }
    }

    /// A batch larger than one statement's rows is recorded whole, and the detail written by hand decodes
    /// as the typed detail does.
    @Test(arguments: CatalogTestBackend.all) func aLargeProgressBatchIsRecordedWhole(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            let reports = (0..<1234).map { index in
                StreamProgress(
                    streamSid: "ST\(index)",
                    callSid: "CA\(index)",
                    path: "media/x/CA\(index)/stream-ST\(index).wav",
                    sampleRate: 16000,
                    channels: 2,
                    frames: 16000,
                    durationSeconds: 1.5,
                    bytes: 64_044,
                    at: at(3)
                )
            }
            #expect(try await catalog.recordStreamProgress(reports) == 1234)
            let events = try await catalog.events(after: 0, limit: 5000)
            #expect(events.count == 1234)
            #expect(events.map(\.callSid) == reports.map(\.callSid))
            let last = try #require(events.last)
            #expect(
                last.detail
                    == FeedEvent.Detail(
                        kind: .stream,
                        state: "recording",
                        format: "wav",
                        sampleRate: 16000,
                        channels: 2,
                        frames: 16000,
                        durationSeconds: 1.5,
                        bytes: 64_044
                    )
            )
            #expect(last.mediaID == MediaFile.id(forPath: "media/x/CA1233/stream-ST1233.wav"))
        }
    }

    /// A recording stored, and a call's first terminal status, are announced once each.
    @Test(arguments: CatalogTestBackend.all) func recordingStoredAndCallCompletedOnce(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1"))
            try await catalog.upsertStream(
                from: try Fixture.streamSidecar(callSid: "CA1", streamSid: "ST1"),
                path: Self.path
            )
            try await catalog.appendStatus(
                callSid: "CA1",
                StatusChange(callback: Fixture.callback(sid: "CA1"), at: at(300))
            )
            try await catalog.appendStatus(
                callSid: "CA1",
                StatusChange(callback: Fixture.callback(sid: "CA1"), at: at(301))
            )
            let sidecar = Fixture.recordingSidecar(
                callSid: "CA1",
                url: "https://recordings.example/acme/CA1.mp3",
                bytes: 1234,
                sha256: String(repeating: "cd", count: 32)
            )
            try await catalog.upsertRecording(from: sidecar, path: "media/acme/2025/11/23/CA1/recording.mp3")
            try await catalog.upsertRecording(from: sidecar, path: "media/acme/2025/11/23/CA1/recording.mp3")

            let events = try await catalog.events(after: 0)
            #expect(events.map(\.type) == [.streamFinished, .callCompleted, .recordingStored])
            let completed = events[1]
            #expect(completed.detail.status == "completed")
            #expect(completed.detail.media?.map(\.path) == [Self.path])
            #expect(completed.detail.media?.first?.mediaID == MediaFile.id(forPath: Self.path))
            let stored = events[2]
            #expect(stored.mediaID == MediaFile.id(forPath: "media/acme/2025/11/23/CA1/recording.mp3"))
            #expect(stored.detail.format == "mp3")
            #expect(stored.detail.sha256 == String(repeating: "cd", count: 32))
        }
    }

    /// A reader waiting for events wakes when one is written, not at its timeout.
    @Test(arguments: CatalogTestBackend.all) func waitingReaderWakesOnWrite(backend: CatalogTestBackend) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            let started = ContinuousClock.now
            async let waited = catalog.waitForEvents(after: 0, timeout: .seconds(20), pollInterval: .seconds(20))
            try await Task.sleep(for: .milliseconds(100))
            try await catalog.upsertStream(
                from: try Fixture.streamSidecar(callSid: "CA1", streamSid: "ST1", state: .recording),
                path: Self.path
            )
            let events = try await waited
            #expect(events.map(\.type) == [.streamStarted])
            #expect(ContinuousClock.now - started < .seconds(15))
            // Nothing newer: an empty answer after the timeout.
            #expect(try await catalog.waitForEvents(after: 1, timeout: .milliseconds(50)).isEmpty)
        }
    }

    /// Progress older than a day is pruned; ids keep growing after it (a consumer's position stays valid).
    @Test(arguments: CatalogTestBackend.all) func oldProgressIsPrunedAndIdsKeepGrowing(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            try await catalog.upsertStream(
                from: try Fixture.streamSidecar(callSid: "CA1", streamSid: "ST1", state: .recording),
                path: Self.path
            )
            try await catalog.recordStreamProgress([
                StreamProgress(
                    streamSid: "ST1",
                    callSid: "CA1",
                    path: Self.path,
                    sampleRate: 8000,
                    channels: 1,
                    frames: 8000,
                    durationSeconds: 1,
                    bytes: 32_044,
                    at: at(3)
                )
            ])
            let dayLater = Timestamp(
                millisecondsSinceEpoch: at(3).millisecondsSinceEpoch + FeedEvent.progressRetention + 1000
            )
            try await catalog.recordStreamProgress([
                StreamProgress(
                    streamSid: "ST1",
                    callSid: "CA1",
                    path: Self.path,
                    sampleRate: 8000,
                    channels: 1,
                    frames: 16000,
                    durationSeconds: 2,
                    bytes: 64_044,
                    at: dayLater
                )
            ])
            let events = try await catalog.events(after: 0)
            #expect(events.map(\.id) == [1, 3])
            #expect(events.map(\.type) == [.streamStarted, .streamProgress])
        }
    }
}
