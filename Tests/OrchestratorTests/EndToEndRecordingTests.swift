import Catalog
import ExotelKit
import ExotelSimulator
import Foundation
import MediaStore
import Orchestrator
import Testing

/// Issue 4's acceptance for recordings: one that the platform publishes late is fetched once it is there (after
/// 404s, retried with backoff), and a RecordingUrl on a host exorec does not allow is refused without writing
/// anything.
@Suite("End to end: recordings", .timeLimit(.minutes(2)))
struct EndToEndRecordingTests {
    /// The platform publishes the recording 5 minutes (platform time, 15 s here) after the call ends; the terminal
    /// callback comes at once, so the first attempts find nothing (404) and the fetcher backs off until it is there.
    /// The delay is long so that a machine that stalls the test for seconds (a fresh CI machine importing Python
    /// modules for the first time) still sees the callback before the recording.
    @Test(arguments: CatalogTestBackend.all) func aRecordingThatAppearsLateIsFetchedAfterRetries(
        backend: CatalogTestBackend
    ) async throws {
        let options = PipelineHarness.Options(
            rate: 20,
            recordingDelay: .seconds(300),
            initialBackoff: .seconds(8),
            maximumBackoff: .seconds(20)
        )
        try await PipelineHarness.run(options, backend: backend) { harness in
            let sid = try await harness.place(CallOrder(from: "+919900000501", destination: .number("+919900000601")))
                .callSid
            try await harness.eventually("the terminal callback of \(sid)") {
                try await harness.catalog.call(sid: sid)?.isTerminal == true
            }
            // The callback has come and the recording is not published yet: no file, a job waiting for a retry.
            let recording = try #require(
                await harness.platform.recording(accountSid: PipelineHarness.account.sid, callSid: sid)
            )
            #expect(harness.clock.now < recording.availableAt, "the test needs the callback to beat the recording")
            try await harness.eventually("a first attempt that found nothing") {
                try await harness.catalog.downloadJobs(callSid: sid).first.map {
                    $0.attempts >= 1 && $0.state == .queued
                } == true
            }
            #expect(try await harness.catalog.recordings(callSid: sid).isEmpty)

            try await harness.settle(sid)
            let job = try #require(try await harness.catalog.downloadJobs(callSid: sid).first)
            #expect(job.state == .done)
            #expect(job.attempts >= 2, "fetched on a retry, after \(job.attempts) attempt(s)")
            #expect(harness.clock.now >= recording.availableAt)
            let stored = try #require(try await harness.catalog.recordings(callSid: sid).first)
            #expect(stored.sha256 == (try PipelineHarness.freshSHA256(recording.path)), "the platform's bytes")
            #expect(stored.sha256 == (try PipelineHarness.freshSHA256(harness.absolute(stored.path))))
            let fetches = try await harness.catalog.auditEntries(callSid: sid, limit: 100).filter {
                $0.action == "download"
            }
            #expect(fetches.count == 1, "one stored download is audited once")
            #expect((harness.pipeline.fetcher?.metrics.retried ?? 0) >= 1)
        }
    }

    /// A terminal callback naming a RecordingUrl on another host (here posted by the test, for a call it placed
    /// and whose own callbacks the platform dropped): the download job is refused, nothing is written to the call's
    /// folder, and the call is still catalogued with the callback's status. `ORIGIN` is a live server on this
    /// machine reached as `localhost` (not the platform's host, `127.0.0.1`) that would serve an mp3: it must
    /// never be asked.
    @Test(arguments: [
        "https://evil.example/x.mp3",
        "https://user:secret@evil.example/x.mp3",
        "https://recordings.exotel.com.evil.example/x.mp3",
        "http://localhost:ORIGIN/x.mp3",
    ])
    func aRecordingURLOnADisallowedHostIsRefused(_ template: String) async throws {
        var options = PipelineHarness.Options(rate: 20, callbackFaults: CallbackFaults(drop: true))
        options.reconciler = ReconcilerConfiguration(terminalGrace: .seconds(24 * 3600))  // only our callback speaks
        try await PipelineHarness.run(options) { harness in
            let url = template.replacingOccurrences(of: "ORIGIN", with: "\(harness.origin.port ?? 0)")
            harness.origin.set("/x.mp3", Array("ID3".utf8) + [UInt8](repeating: 0x55, count: 2000))
            let sid = try await harness.place(CallOrder(from: "+919900000511", destination: .number("+919900000611")))
                .callSid
            await harness.platform.waitUntilIdle()
            try await harness.eventually("the stream of \(sid)") {
                try await harness.catalog.streams(callSid: sid).first?.state == .complete
            }
            #expect(try await harness.catalog.callbacks(callSid: sid).isEmpty, "the platform's callbacks were dropped")

            let body = try PipelineHarness.jsonCallback([
                "CallSid": sid, "EventType": "terminal", "Status": "completed", "DateUpdated": "2026-01-01 10:00:00",
                "ConversationDuration": 4, "RecordingUrl": url,
            ])
            let answer = try await harness.postCallback(body, contentType: "application/json")
            #expect(answer.status == 200 && answer.body.contains("stored"), "\(answer)")

            try await harness.eventually("the download of \(url) to be settled") {
                try await harness.catalog.downloadJobs(callSid: sid).first.map {
                    [.done, .failed, .refused].contains($0.state)
                } == true
            }
            let job = try #require(try await harness.catalog.downloadJobs(callSid: sid).first)
            #expect(job.state == .refused)
            #expect(job.url == url)
            #expect(job.attempts == 1, "refused for good on the first look")
            let host = template.contains("localhost") ? "localhost" : "evil.example"
            #expect(
                job.lastError?.contains(host) == true || job.lastError?.contains("credentials") == true,
                "\(job.lastError ?? "")"
            )
            #expect(harness.origin.requestCount("/x.mp3") == 0, "the disallowed host was never asked")

            let directory = try await harness.callDirectory(sid)
            let names = PipelineHarness.files(in: directory)
            #expect(!names.contains { $0.hasPrefix("recording") || $0.hasPrefix(".recording") }, "\(names)")
            #expect(try await harness.catalog.recordings(callSid: sid).isEmpty)
            #expect(try await harness.catalog.mediaFiles(callSid: sid).map(\.kind) == [.stream])
            let call = try #require(try await harness.catalog.call(sid: sid))
            #expect(call.status == "completed")
            #expect(call.recordingURL == url, "the callback is recorded as it came")
        }
    }
}
