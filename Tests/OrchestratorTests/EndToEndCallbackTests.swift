import Catalog
import ExotelClient
import ExotelKit
import ExotelSimulator
import Foundation
import MediaStore
import Orchestrator
import Testing

/// Issue 4's acceptance: duplicate and late status callbacks change nothing. The platform delivers twice, late,
/// or after the call is long over; the catalog counts the deliveries and keeps the first body, and the call, its
/// download and its media stay as they were.
@Suite("End to end: duplicate and late callbacks", .timeLimit(.minutes(3)))
struct EndToEndCallbackTests {
    /// What a call came to, without its ids: equal shapes mean the pipeline did the same thing.
    struct CallShape: Hashable, CustomStringConvertible {
        var status: String
        var history: [String]
        var callbacks: [String]
        var jobs: [String]
        var media: [String]
        var files: [String]

        var description: String {
            "status \(self.status); history \(self.history); callbacks \(self.callbacks); jobs \(self.jobs); media \(self.media); files \(self.files)"
        }
    }

    static func shape(of callSid: String, in harness: PipelineHarness) async throws -> CallShape {
        let catalog = harness.catalog
        let call = try #require(try await catalog.call(sid: callSid))
        let streams = try await catalog.streams(callSid: callSid)
        let files = PipelineHarness.files(in: try await harness.callDirectory(callSid)).map { name in
            streams.reduce(name) { $0.replacingOccurrences(of: $1.streamSid, with: "SID") }
        }
        return CallShape(
            status: call.status,
            // Placed first, then the callbacks in the order they arrived, which this comparison leaves free.
            history: try await catalog.statusHistory(callSid: callSid).map { "\($0.source.rawValue):\($0.status)" }
                .sorted(),
            callbacks: try await catalog.callbacks(callSid: callSid).map {
                "\($0.eventType ?? "-"):\($0.status ?? "-")"
            }.sorted(),
            jobs: try await catalog.downloadJobs(callSid: callSid).map(\.state.rawValue),
            media: try await catalog.mediaFiles(callSid: callSid).map { "\($0.kind.rawValue):\($0.state.rawValue)" }
                .sorted(),
            files: files
        )
    }

    /// The shape of a completed, streamed, recorded call that got each callback once.
    static let completedShape = CallShape(
        status: "completed",
        history: ["callback:completed", "callback:in-progress", "callback:in-progress", "placed:in-progress"],
        callbacks: ["answered:in-progress", "answered:in-progress", "terminal:completed"],
        jobs: ["done"],
        media: ["recording:complete", "stream:complete"],
        files: ["call.json", "recording.json", "recording.mp3", "stream-SID.json", "stream-SID.wav"]
    )

    struct Faults: Sendable, CustomTestStringConvertible {
        var name: String
        var faults: CallbackFaults
        var testDescription: String { self.name }
    }

    static let faultCases = [
        Faults(name: "none", faults: CallbackFaults()),
        Faults(name: "duplicate", faults: CallbackFaults(duplicate: true)),
        Faults(name: "delayed 30 s", faults: CallbackFaults(delay: .seconds(30))),
        Faults(name: "delayed and duplicate", faults: CallbackFaults(delay: .seconds(30), duplicate: true)),
    ]

    @Test(arguments: Self.faultCases, CatalogTestBackend.all)
    func duplicateAndDelayedCallbacksChangeNothing(_ faults: Faults, backend: CatalogTestBackend) async throws {
        try await PipelineHarness.run(.init(rate: 20, callbackFaults: faults.faults), backend: backend) { harness in
            let orders = [
                CallOrder(
                    from: "+919900000301",
                    destination: .number("+919900000401"),
                    statusCallbackContentType: .multipart
                ),
                CallOrder(
                    from: "+919900000302",
                    destination: .number("+919900000402"),
                    recordingChannels: .single,
                    statusCallbackContentType: .json
                ),
            ]
            var sids: [String] = []
            for order in orders { sids.append(try await harness.place(order).callSid) }
            await harness.platform.waitUntilIdle()  // every callback delivered, duplicates included
            for sid in sids { try await harness.settle(sid) }

            let copies = faults.faults.duplicate ? 2 : 1
            let attempts = await harness.platform.callbackAttempts()
            for sid in sids {
                let label = Comment(rawValue: "\(faults.name), \(sid)")
                #expect(try await Self.shape(of: sid, in: harness) == Self.completedShape, label)
                let callbacks = try await harness.catalog.callbacks(callSid: sid)
                #expect(
                    callbacks.allSatisfy { $0.deliveries == copies },
                    "deliveries \(callbacks.map(\.deliveries)) \(label)"
                )
                // The simulator really sent every copy, and each was answered 200 (a duplicate is not an error).
                let sent = attempts.filter { $0.callSid == sid }
                #expect(sent.count == 3 * copies, label)
                #expect(
                    sent.allSatisfy { $0.statusCode == 200 },
                    Comment(
                        rawValue: "answers \(sent.map { $0.statusCode.map(String.init) ?? "none" }), \(label.rawValue)"
                    )
                )
                let recordings = try await harness.catalog.recordings(callSid: sid)
                #expect(recordings.count == 1, label)
            }
        }
    }

    /// After the call has ended and its recording is stored: a retried `answered` (same body), the terminal callback
    /// again in the other encoding, and an `answered` the platform dated later than everything else. The first two
    /// are duplicates; the third is kept as a new callback, but the call stays completed, with the same terminal
    /// time, the same download and the same files.
    @Test(arguments: CatalogTestBackend.all) func callbacksArrivingAfterTheCallIsDoneChangeNothing(
        backend: CatalogTestBackend
    ) async throws {
        try await PipelineHarness.run(.init(rate: 20), backend: backend) { harness in
            let sid = try await harness.place(
                CallOrder(
                    from: "+919900000311",
                    destination: .number("+919900000411"),
                    statusCallbackContentType: .multipart
                )
            ).callSid
            await harness.platform.waitUntilIdle()
            try await harness.settle(sid)

            let catalog = harness.catalog
            let before = try #require(try await catalog.call(sid: sid))
            let mediaBefore = try await catalog.mediaFiles(callSid: sid)
            let jobsBefore = try await catalog.downloadJobs(callSid: sid)
            let directory = try await harness.callDirectory(sid)
            let recordingAttributes = try FileManager.default.attributesOfItem(atPath: "\(directory)/recording.mp3")
            let callbacks = try await catalog.callbacks(callSid: sid)
            let answered = try #require(callbacks.first { $0.eventType == "answered" })
            let terminal = try #require(callbacks.first { $0.eventType == "terminal" })

            // 1. The platform retries an answered callback byte for byte.
            let retried = try await harness.postCallback(Array(answered.rawBody), contentType: answered.contentType)
            #expect(retried.status == 200 && retried.body.contains("duplicate"), "\(retried)")
            // 2. The terminal callback again, JSON this time (another encoding of the same fields is the same callback).
            let parsed = try StatusCallback.parse(body: Array(terminal.rawBody), contentType: terminal.contentType)
            let reencoded = parsed.encoded(as: .json)
            let again = try await harness.postCallback(reencoded.body, contentType: reencoded.contentType)
            #expect(again.status == 200 && again.body.contains("duplicate"), "\(again)")
            // 3. An answered callback dated after the end of the call.
            var late = try StatusCallback.parse(body: Array(answered.rawBody), contentType: answered.contentType)
            late.dateUpdated = "2099-01-01 00:00:00"
            let lateBody = late.encoded(as: .multipart)
            let stored = try await harness.postCallback(lateBody.body, contentType: lateBody.contentType)
            #expect(stored.status == 200 && stored.body.contains("stored"), "\(stored)")

            let after = try #require(try await catalog.call(sid: sid))
            #expect(after.status == "completed")
            #expect(after.terminalAt == before.terminalAt)
            #expect(after.recordingURL == before.recordingURL)
            #expect(after.conversationDuration == before.conversationDuration)
            #expect(try await catalog.downloadJobs(callSid: sid) == jobsBefore, "no new download")
            #expect(try await catalog.mediaFiles(callSid: sid) == mediaBefore, "the media rows are untouched")
            let recordingNow = try FileManager.default.attributesOfItem(atPath: "\(directory)/recording.mp3")
            #expect(recordingNow[.modificationDate] as? Date == recordingAttributes[.modificationDate] as? Date)
            #expect(recordingNow[.systemFileNumber] as? Int == recordingAttributes[.systemFileNumber] as? Int)
            #expect(
                PipelineHarness.files(in: directory).filter { $0.hasPrefix("recording") } == [
                    "recording.json", "recording.mp3",
                ]
            )

            let callbacksNow = try await catalog.callbacks(callSid: sid)
            #expect(callbacksNow.count == 4, "three from the platform and the late one")
            #expect(callbacksNow.first { $0.id == answered.id }?.deliveries == 2)
            #expect(callbacksNow.first { $0.id == answered.id }?.rawBody == answered.rawBody, "the first body is kept")
            #expect(callbacksNow.first { $0.id == terminal.id }?.deliveries == 2)
            // The late callback is in the history (it arrived) without undoing the terminal status.
            let history = try await catalog.statusHistory(callSid: sid)
            #expect(history.last?.status == "in-progress")
            let sidecar = try CallSidecar.load(from: "\(directory)/call.json")
            #expect(sidecar.callbacks.count == 4)
            #expect(sidecar.statusHistory.count == history.count)
        }
    }

    /// The platform can call back before the placing process has catalogued its call (a slow catalog, a crash
    /// between the answer and the insert). Its stream and callbacks make it a call placed elsewhere (before calls
    /// placed elsewhere, they were only kept in `_unknown/…/call.json` and nothing was downloaded), in the stream's
    /// folder, its recording fetched; once exorec's placement is catalogued it wins (origin exorec) and the
    /// callbacks' statuses are applied again after it in arrival order, one call.json stays, and a rebuild
    /// reproduces it all.
    @Test(arguments: CatalogTestBackend.all) func callbacksThatBeatThePlacementAreAppliedOnceTheCallIsCatalogued(
        backend: CatalogTestBackend
    ) async throws {
        var options = PipelineHarness.Options(rate: 20)
        options.reconciler = ReconcilerConfiguration(terminalGrace: .seconds(24 * 3600), interval: .seconds(10))
        try await PipelineHarness.run(options, backend: backend) { harness in
            let order = CallOrder(from: "+919900000321", destination: .number("+919900000421"))
            let request = try await harness.placer.request(for: order)
            let response = try await harness.client.connect(request)  // placed; the catalog does not know it yet
            let sid = response.sid
            await harness.platform.waitUntilIdle()
            try await harness.eventually("the stream of \(sid) to be finalized") {
                FileSystem.files(under: harness.layout.mediaRoot, withSuffix: ".json").contains {
                    $0.contains("/\(sid)/stream-") && (try? StreamSidecar.load(from: $0))?.state == .complete
                }
            }
            let early = try await harness.catalog.callbacks(callSid: sid)
            #expect(early.count == 3 && early.allSatisfy(\.unknownCall), "\(early.map(\.unknownCall))")
            #expect(try await harness.catalog.call(sid: sid)?.origin == .elsewhere)
            #expect(
                try await harness.catalog.downloadJobs(callSid: sid).count == 1,
                "its recording is fetched as for any call"
            )
            func sidecars() -> [String] {
                FileSystem.files(under: harness.layout.mediaRoot, withSuffix: "call.json").filter {
                    $0.contains("/\(sid)/")
                }
            }
            #expect(
                sidecars().count == 1 && !sidecars().contains { $0.contains("/\(CallSidecar.unknownAccount)/") },
                "\(sidecars())"
            )

            // The placing process catches up.
            let placed = PlacedCall(
                request: request,
                response: response,
                accountSid: PipelineHarness.account.sid,
                placedAt: .now()
            )
            #expect(try await harness.catalog.recordPlacedCall(placed))
            #expect(try await harness.catalog.call(sid: sid)?.origin == .exorec)
            try await harness.pipeline.sidecars.refresh(callSid: sid)

            try await harness.eventually("the recording of \(sid)") {
                try await !harness.catalog.recordings(callSid: sid).isEmpty
            }
            try await harness.settle(sid)
            #expect(try await Self.shape(of: sid, in: harness) == Self.completedShape)
            #expect(
                sidecars().count == 1 && !sidecars().contains { $0.contains("/\(CallSidecar.unknownAccount)/") },
                "\(sidecars())"
            )
            let sidecar = try CallSidecar.load(from: "\(try await harness.callDirectory(sid))/call.json")
            #expect(sidecar.callbacks.count == 3 && sidecar.statusHistory.count == 4)

            let (live, rebuilt, report) = try await EndToEndRebuildTests.stopAndRebuild(harness)
            #expect(report.problems.isEmpty, "\(report.problems)")
            let differences = rebuilt.differences(from: live)
            #expect(differences.isEmpty, "\(EndToEndRebuildTests.describe(differences, live, rebuilt))")
        }
    }
}
