import Catalog
import ExorecTesting
import ExotelClient
import ExotelKit
import ExotelSimulator
import Foundation
import Logging
import MediaStore
import Orchestrator
import ServiceLifecycle
import Synchronization
import Testing

/// The download path end to end: queue → claim → stream to disk → check → place → sidecar → catalog → audit.
@Suite(.timeLimit(.minutes(2))) struct RecordingFetcherTests {
    /// A recording the simulator publishes fifteen platform minutes after the call (9 s of real time, room
    /// for a heavily loaded machine to make its first attempt before): 404s first, then fetched;
    /// the stored file is the simulator's byte for byte, read-only, described and catalogued.
    @Test(arguments: CatalogTestBackend.all) func lateRecordingIsRetriedThenStored(
        backend: CatalogTestBackend
    ) async throws {
        try await RecordingTests.withSimulator(configure: { $0.recordingDelay = .seconds(900) }) { running, clock in
            try await RecordingTests.withStore(backend) { root, catalog in
                let client = try RecordingTests.client(running, clock: clock)
                let call = try await RecordingTests.placeRecordedCall(client: client, catalog: catalog)
                await running.platform.waitUntilIdle()
                let details = try await client.callDetails(sid: call.sid)
                let url = try #require(details.recordingURL)

                let fetcher = RecordingFetcher(
                    catalog: catalog,
                    client: client,
                    configuration: RecordingTests.fetcherConfiguration(root: root),
                    logger: RecordingTests.quietLogger()
                )
                let queued = try await fetcher.queue.enqueue(callSid: call.sid, url: url)
                #expect(queued.isNew)
                // The recording is not there yet: the first attempt is a 404 and the job goes back.
                let first = try #require(await fetcher.runOnce())
                guard case .retrying(_, let reason) = first.result else {
                    Issue.record("expected a retry, got \(first.result)")
                    return
                }
                #expect(reason.contains("404"))

                try await RecordingTests.running({ try await fetcher.run() }) {
                    try await RecordingTests.eventually("the recording is stored") {
                        try await catalog.downloadJob(id: queued.job.id)?.state == .done
                    }
                }

                let job = try #require(try await catalog.downloadJob(id: queued.job.id))
                #expect(job.attempts >= 2)
                let record = try #require(try await catalog.call(sid: call.sid))
                let directory = try RecordingTests.callDirectory(
                    root: root,
                    callSid: call.sid,
                    placedAt: record.placedAt
                )
                let media = "\(directory)/recording.mp3"
                let original = try #require(
                    await running.platform.recording(accountSid: RecordingTests.account.sid, callSid: call.sid)
                )
                #expect(try FileSystem.sha256(of: media) == (try FileSystem.sha256(of: original.path)))
                #expect(RecordingTests.isReadOnly(media))
                #expect(!RecordingTests.files(in: directory).contains { $0.hasSuffix(".part") })

                let sidecar = try RecordingSidecar.load(from: "\(directory)/recording.json")
                #expect(sidecar.sha256 == (try FileSystem.sha256(of: media)))
                #expect(sidecar.bytes == (try FileSystem.size(of: media)))
                #expect(sidecar.file == "recording.mp3")
                #expect(sidecar.url == url)
                #expect(sidecar.state == .complete)
                #expect(sidecar.channels == 2, "a dual recording, read back by libsndfile")

                let relative = String(media.dropFirst(root.count + 1))
                let files = try await catalog.mediaFiles(callSid: call.sid)
                #expect(files.map(\.path) == [relative])
                #expect(files.first?.kind == .recording)
                #expect(files.first?.sha256 == sidecar.sha256)
                #expect(try await catalog.recordings(callSid: call.sid).map(\.path) == [relative])
                let audit = try await catalog.auditEntries(callSid: call.sid).filter { $0.action == "download" }
                #expect(audit.count == 1)
                #expect(audit.first?.path == relative)
                #expect(audit.first?.detailMap["sha256"] == sidecar.sha256)
                #expect(fetcher.metrics.stored == 1)
                #expect(fetcher.metrics.retried >= 1)
            }
        }
    }

    /// A RecordingUrl on a host that is not allowed is refused before anything is sent or written, and the
    /// refusal is logged once at warning.
    @Test(arguments: CatalogTestBackend.all) func disallowedHostIsRefusedAndLogged(
        backend: CatalogTestBackend
    ) async throws {
        try await RecordingTests.withStore(backend) { root, catalog in
            let clock = ScaledClock(rate: 100)
            let transport = FakeTransport { _ in FakeTransport.audio() }
            let client = RecordingTests.client(transport: transport, clock: clock)
            let placedAt = Timestamp.now()
            try await RecordingTests.recordCall("CAhost", in: catalog, placedAt: placedAt)
            let (logger, logs) = CapturedLogs.logger()
            let fetcher = RecordingFetcher(
                catalog: catalog,
                client: client,
                configuration: RecordingTests.fetcherConfiguration(root: root),
                logger: logger
            )
            let queued = try await fetcher.queue.enqueue(
                callSid: "CAhost",
                url: "https://recordings.evil.example.com/CAhost.mp3"
            )

            let outcome = try #require(await fetcher.runOnce())

            guard case .refused(let reason) = outcome.result else {
                Issue.record("expected a refusal, got \(outcome.result)")
                return
            }
            #expect(reason.contains("recordings.evil.example.com"))
            #expect(transport.requests.isEmpty)
            let job = try #require(try await catalog.downloadJob(id: queued.job.id))
            #expect(job.state == .refused)
            #expect(job.lastError == reason)
            let directory = try RecordingTests.callDirectory(root: root, callSid: "CAhost", placedAt: placedAt)
            #expect(!FileManager.default.fileExists(atPath: directory))
            #expect(try await catalog.mediaFiles(callSid: "CAhost").isEmpty)
            let warnings = logs.all.filter { $0.level == .warning }
            #expect(warnings.count == 1)
            #expect(warnings.first?.message == "recording download refused")
            #expect(warnings.first?.metadata["download.reason"]?.contains("recordings.evil.example.com") == true)
            #expect(await fetcher.runOnce() == nil, "a refused job is never claimed again")
        }
    }

    /// A store answering 200 with an HTML error page: refused, nothing kept (not even the temporary file).
    @Test(arguments: CatalogTestBackend.all) func htmlBodyWith200IsRefused(backend: CatalogTestBackend) async throws {
        try await RecordingTests.withStore(backend) { root, catalog in
            let html = Array("<!DOCTYPE html><html><body>Access Denied</body></html>".utf8)
            let transport = FakeTransport { _ in FakeTransport.audio(html, type: "text/html; charset=utf-8") }
            let client = RecordingTests.client(transport: transport, clock: ScaledClock(rate: 100))
            let placedAt = Timestamp.now()
            try await RecordingTests.recordCall("CAhtml", in: catalog, placedAt: placedAt)
            let fetcher = RecordingFetcher(
                catalog: catalog,
                client: client,
                configuration: RecordingTests.fetcherConfiguration(root: root),
                logger: RecordingTests.quietLogger()
            )
            let queued = try await fetcher.queue.enqueue(
                callSid: "CAhtml",
                url: "https://recordings.exotel.com/CAhtml.mp3"
            )

            let outcome = try #require(await fetcher.runOnce())

            guard case .refused(let reason) = outcome.result else {
                Issue.record("expected a refusal, got \(outcome.result)")
                return
            }
            #expect(reason.contains("text/html"))
            #expect(transport.requests.count == 1)
            #expect(try await catalog.downloadJob(id: queued.job.id)?.state == .refused)
            let directory = try RecordingTests.callDirectory(root: root, callSid: "CAhtml", placedAt: placedAt)
            #expect(RecordingTests.files(in: directory).isEmpty)
            #expect(try await catalog.mediaFiles(callSid: "CAhtml").isEmpty)
        }
    }

    /// Audio labelled `application/octet-stream` (a plain object store) is recognised by its bytes; an
    /// `audio/*` label on markup is not believed.
    @Test func contentIsJudgedByItsBytes() {
        #expect(
            RecordingContent.check(
                contentType: "application/octet-stream",
                leadingBytes: RecordingTests.fakeMP3,
                url: "x"
            ) == .audio(fileExtension: "mp3")
        )
        let wav = Array("RIFF".utf8) + [0x24, 0, 0, 0] + Array("WAVEfmt ".utf8)
        #expect(
            RecordingContent.check(contentType: nil, leadingBytes: wav, url: "https://h/a.mp3")
                == .audio(fileExtension: "wav")
        )
        #expect(
            RecordingContent.check(contentType: "audio/ogg", leadingBytes: [1, 2, 3], url: "x")
                == .audio(fileExtension: "ogg")
        )
        guard
            case .notAudio = RecordingContent.check(
                contentType: "audio/mpeg",
                leadingBytes: Array("  <html>".utf8),
                url: "x"
            ),
            case .notAudio = RecordingContent.check(
                contentType: "application/octet-stream",
                leadingBytes: [1, 2, 3],
                url: "x"
            ),
            case .notAudio = RecordingContent.check(
                contentType: "audio/mpeg",
                leadingBytes: Array(#"{"RestException":{}}"#.utf8),
                url: "x"
            )
        else {
            Issue.record("markup or unknown bytes passed as audio")
            return
        }
    }

    /// 404 for longer than the give-up time: the job fails, with the last error, after retries paced on the
    /// platform's (fast) clock.
    @Test(arguments: CatalogTestBackend.all) func givesUpAfterTheConfiguredPlatformTime(
        backend: CatalogTestBackend
    ) async throws {
        try await RecordingTests.withStore(backend) { root, catalog in
            let clock = ScaledClock(rate: 100)
            let transport = FakeTransport { _ in FakeTransport.status(404) }
            let client = RecordingTests.client(transport: transport, clock: clock)
            try await RecordingTests.recordCall("CAlate", in: catalog)
            // 10 platform minutes (6 s of real time): attempts take real time (catalog commits are
            // synced), so a shorter span fits fewer than 3 of them on a loaded machine.
            var configuration = RecordingTests.fetcherConfiguration(root: root, giveUpAfter: .seconds(600))
            configuration.initialBackoff = .seconds(10)
            configuration.maximumBackoff = .seconds(40)
            let fetcher = RecordingFetcher(
                catalog: catalog,
                client: client,
                configuration: configuration,
                logger: RecordingTests.quietLogger()
            )
            let queued = try await fetcher.queue.enqueue(
                callSid: "CAlate",
                url: "https://recordings.exotel.com/CAlate.mp3"
            )

            try await RecordingTests.running({ try await fetcher.run() }) {
                try await RecordingTests.eventually("the job is given up") {
                    try await catalog.downloadJob(id: queued.job.id)?.state == .failed
                }
            }

            let job = try #require(try await catalog.downloadJob(id: queued.job.id))
            let lived = fetcher.time.platformDuration(from: job.createdAt, to: job.updatedAt)
            #expect(lived >= .seconds(600), "given up after \(lived) of platform time")
            // Backoffs of 10, 20, 40, 40… s (each 50–100 % of that) leave room for at least 3 attempts even when
            // a loaded machine delays each one.
            #expect(job.attempts >= 3)
            #expect(transport.requests.count == job.attempts)
            #expect(job.lastError?.contains("gave up") == true)
            #expect(job.lastError?.contains("404") == true)
            #expect(fetcher.metrics.failed == 1)
            let record = try #require(try await catalog.call(sid: "CAlate"))
            let directory = try RecordingTests.callDirectory(root: root, callSid: "CAlate", placedAt: record.placedAt)
            #expect(RecordingTests.files(in: directory).isEmpty, "nothing kept from 404 answers")
        }
    }

    /// A job left `running` by a worker that died (claimed, never finished) is claimed again once its lease
    /// has run out, and the dead worker's temporary file is cleaned up.
    @Test(arguments: CatalogTestBackend.all) func jobLeftRunningIsReclaimedAfterItsLease(
        backend: CatalogTestBackend
    ) async throws {
        try await RecordingTests.withStore(backend) { root, catalog in
            let transport = FakeTransport { _ in FakeTransport.audio() }
            let client = RecordingTests.client(transport: transport, clock: ScaledClock(rate: 100))
            let placedAt = Timestamp.now()
            try await RecordingTests.recordCall("CAcrash", in: catalog, placedAt: placedAt)
            // Long enough that no stall on a busy machine outlasts "the lease still holds".
            let lease = Duration.seconds(4)
            let fetcher = RecordingFetcher(
                catalog: catalog,
                client: client,
                configuration: RecordingTests.fetcherConfiguration(root: root, lease: lease),
                logger: RecordingTests.quietLogger()
            )
            let queued = try await fetcher.queue.enqueue(
                callSid: "CAcrash",
                url: "https://recordings.exotel.com/CAcrash.mp3"
            )

            // "Another process" claims the job and dies, leaving a half-written temporary file.
            let dead = try await Catalog.withCatalog(
                path: RecordingTests.reopenPath(catalog),
                logger: RecordingTests.quietLogger()
            ) {
                try #require(try await $0.claimNextDownload(now: .now(), lease: lease))
            }
            let directory = try RecordingTests.callDirectory(root: root, callSid: "CAcrash", placedAt: placedAt)
            try FileSystem.makeDirectories(directory)
            let leftover = "\(directory)/.recording-\(dead.id)-\(dead.claimToken!.prefix(8)).part"
            #expect(FileManager.default.createFile(atPath: leftover, contents: Data([1, 2, 3])))

            #expect(await fetcher.runOnce() == nil, "the lease still holds")
            #expect(transport.requests.isEmpty)
            try await Task.sleep(for: lease + .milliseconds(100))

            let outcome = try #require(await fetcher.runOnce())
            #expect(outcome.result == .stored(path: String("\(directory)/recording.mp3".dropFirst(root.count + 1))))
            let job = try #require(try await catalog.downloadJob(id: queued.job.id))
            #expect(job.state == .done)
            #expect(job.attempts == 2)
            #expect(RecordingTests.files(in: directory) == ["recording.json", "recording.mp3"])
            // The dead worker's claim can no longer finish the job.
            await #expect(throws: CatalogError.leaseLost(id: dead.id)) { try await catalog.completeDownload(dead) }
        }
    }

    /// Two fetchers on two catalog connections (two processes) share one queue: every job is downloaded
    /// exactly once.
    @Test(arguments: CatalogTestBackend.all) func twoFetchersNeverDownloadOneJobTwice(
        backend: CatalogTestBackend
    ) async throws {
        try await RecordingTests.withStore(backend) { root, catalog in
            // The first downloads are held until four are under way at once. One fetcher has three
            // workers, so both are then busy however late the second one started on a loaded machine.
            let started = Mutex(0)
            let transport = FakeTransport { _ in
                let deadline = ContinuousClock.now + .seconds(20)
                started.withLock { $0 += 1 }
                while started.withLock({ $0 }) < 4, ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .milliseconds(5))
                }
                try? await Task.sleep(for: .milliseconds(15))
                return FakeTransport.audio()
            }
            let clock = ScaledClock(rate: 100)
            let calls = (1...16).map { "CAtwo\($0)" }
            for sid in calls {
                try await RecordingTests.recordCall(sid, in: catalog)
                _ = try await catalog.enqueueDownload(
                    callSid: sid,
                    url: "https://recordings.exotel.com/\(sid).mp3",
                    notBefore: .now()
                )
            }
            let outcomes = try await Catalog.withCatalog(
                path: RecordingTests.reopenPath(catalog),
                logger: RecordingTests.quietLogger()
            ) { other in
                let first = RecordingFetcher(
                    catalog: catalog,
                    client: RecordingTests.client(transport: transport, clock: clock),
                    configuration: RecordingTests.fetcherConfiguration(root: root, workers: 3),
                    logger: RecordingTests.quietLogger()
                )
                let second = RecordingFetcher(
                    catalog: other,
                    client: RecordingTests.client(transport: transport, clock: clock),
                    configuration: RecordingTests.fetcherConfiguration(root: root, workers: 3),
                    logger: RecordingTests.quietLogger()
                )
                async let a = first.drain()
                async let b = second.drain()
                let (fromFirst, fromSecond) = await (a, b)
                #expect(
                    !fromFirst.isEmpty && !fromSecond.isEmpty,
                    "both fetchers took jobs: \(fromFirst.count) + \(fromSecond.count)"
                )
                return fromFirst + fromSecond
            }

            #expect(outcomes.count == calls.count)
            #expect(Set(outcomes.map(\.jobId)).count == calls.count)
            for sid in calls {
                #expect(transport.count("https://recordings.exotel.com/\(sid).mp3") == 1, "\(sid)")
            }
            #expect(try await catalog.downloadJobs(state: .done).count == calls.count)
            #expect(try await catalog.auditEntries().filter { $0.action == "download" }.count == calls.count)
        }
    }

    /// The same bytes found in place (an earlier attempt stored them and stopped) are adopted, not written
    /// again; different bytes for the same call are kept beside them under a suffixed name and flagged.
    @Test(arguments: CatalogTestBackend.all) func neverOverwritesAnExistingRecording(
        backend: CatalogTestBackend
    ) async throws {
        try await RecordingTests.withStore(backend) { root, catalog in
            let second = RecordingTests.fakeMP3 + [0x01]
            let transport = FakeTransport { request in
                FakeTransport.audio(request.url.hasSuffix("other.mp3") ? second : RecordingTests.fakeMP3)
            }
            let client = RecordingTests.client(transport: transport, clock: ScaledClock(rate: 100))
            let placedAt = Timestamp.now()
            try await RecordingTests.recordCall("CAtwice", in: catalog, placedAt: placedAt)
            let directory = try RecordingTests.callDirectory(root: root, callSid: "CAtwice", placedAt: placedAt)
            try FileSystem.makeDirectories(directory)
            // A previous run stored the file and died before writing its sidecar.
            #expect(
                FileManager.default.createFile(
                    atPath: "\(directory)/recording.mp3",
                    contents: Data(RecordingTests.fakeMP3)
                )
            )
            let (logger, logs) = CapturedLogs.logger()
            let fetcher = RecordingFetcher(
                catalog: catalog,
                client: client,
                configuration: RecordingTests.fetcherConfiguration(root: root),
                logger: logger
            )

            try await fetcher.queue.enqueue(callSid: "CAtwice", url: "https://recordings.exotel.com/CAtwice.mp3")
            let adopted = try #require(await fetcher.runOnce())
            let relative = String(directory.dropFirst(root.count + 1))
            #expect(adopted.result == .alreadyStored(path: "\(relative)/recording.mp3"))
            #expect(RecordingTests.isReadOnly("\(directory)/recording.mp3"))

            try await fetcher.queue.enqueue(callSid: "CAtwice", url: "https://recordings.exotel.com/other.mp3")
            let beside = try #require(await fetcher.runOnce())
            #expect(
                beside.result
                    == .storedBesideConflict(path: "\(relative)/recording-2.mp3", conflictWith: "recording.json")
            )

            #expect(
                try Data(contentsOf: URL(fileURLWithPath: "\(directory)/recording.mp3")) == Data(RecordingTests.fakeMP3)
            )
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/recording-2.mp3")) == Data(second))
            #expect(try RecordingSidecar.load(from: "\(directory)/recording-2.json").file == "recording-2.mp3")
            #expect(
                try await catalog.mediaFiles(callSid: "CAtwice").map(\.path) == [
                    "\(relative)/recording-2.mp3", "\(relative)/recording.mp3",
                ]
            )
            let audit = try await catalog.auditEntries(callSid: "CAtwice").filter { $0.action == "download" }
            #expect(audit.map { $0.detailMap["outcome"] } == ["already-stored", "stored-beside-conflict"])
            #expect(audit.last?.detailMap["conflict_with"] == "recording.json")
            #expect(logs.all.contains { $0.level == .warning && $0.message.contains("different recording") })
            #expect(fetcher.metrics.conflicts == 1)
        }
    }

    /// A graceful shutdown stops a download in flight and puts its job back as due at once; a new fetcher
    /// (the restarted server) on a new catalog connection completes it.
    @Test(arguments: CatalogTestBackend.all) func shutdownPutsTheRunningDownloadBackForTheNextRun(
        backend: CatalogTestBackend
    ) async throws {
        try await RecordingTests.withStore(backend) { root, catalog in
            let slow = FakeTransport { _ in
                do {
                    try await Task.sleep(for: .seconds(60))
                } catch {
                    return .failure(.exchangeFailed("cancelled"))
                }
                return FakeTransport.audio()
            }
            let placedAt = Timestamp.now()
            try await RecordingTests.recordCall("CAstop", in: catalog, placedAt: placedAt)
            let logger = RecordingTests.quietLogger()
            let fetcher = RecordingFetcher(
                catalog: catalog,
                client: RecordingTests.client(transport: slow, clock: ScaledClock(rate: 100)),
                configuration: RecordingTests.fetcherConfiguration(root: root),
                logger: logger
            )
            let queued = try await fetcher.queue.enqueue(
                callSid: "CAstop",
                url: "https://recordings.exotel.com/CAstop.mp3"
            )

            let group = ServiceGroup(configuration: .init(services: [fetcher], logger: logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                try await RecordingTests.eventually("the download is in flight") { fetcher.metrics.inFlight == 1 }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }

            let job = try #require(try await catalog.downloadJob(id: queued.job.id))
            #expect(job.state == .queued)
            #expect(job.lastError?.contains("interrupted") == true)
            #expect(job.nextAttemptAt <= .now())
            #expect(fetcher.metrics.interrupted == 1)

            let restarted = try await Catalog.withCatalog(path: RecordingTests.reopenPath(catalog), logger: logger) {
                reopened in
                let fast = FakeTransport { _ in FakeTransport.audio() }
                let next = RecordingFetcher(
                    catalog: reopened,
                    client: RecordingTests.client(transport: fast, clock: ScaledClock(rate: 100)),
                    configuration: RecordingTests.fetcherConfiguration(root: root),
                    logger: logger
                )
                return await next.drain()
            }
            #expect(restarted.map(\.jobId) == [queued.job.id])
            #expect(try await catalog.downloadJob(id: queued.job.id)?.state == .done)
        }
    }
}
