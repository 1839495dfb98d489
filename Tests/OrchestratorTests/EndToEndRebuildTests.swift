import Catalog
import ExotelKit
import ExotelSimulator
import Foundation
import MediaStore
import Orchestrator
import Testing

/// Issue 4's acceptance: `catalog rebuild` reproduces the catalog. The pipeline builds a catalog from live events
/// (placements, callbacks, streams, downloads); once it has stopped, ``CatalogRebuilder`` recreates the catalog from
/// the files and sidecars alone, and the two must hold the same calls, statuses, callbacks, streams, recordings and
/// media files (`CatalogSnapshot.differences(from:)` empty).
@Suite("End to end: catalog rebuild", .timeLimit(.minutes(2)))
struct EndToEndRebuildTests {
    static let scenario = Scenario(
        rules: [
            ScenarioRule(number: "+919700000003", outcome: .busy, ringSeconds: 1),
            ScenarioRule(number: "+919700000104", outcome: .noAnswer),
        ],
        defaultRingSeconds: 2,
        defaultTalkSeconds: 4
    )

    /// Completed calls in both layouts and encodings, a busy call, a call whose leg 2 never answered.
    static let orders = [
        CallOrder(from: "+919700000001", destination: .number("+919700000101"), customField: "dual"),
        CallOrder(
            from: "+919700000002",
            destination: .number("+919700000102"),
            streamBegin: .leg2Connect,
            recordingChannels: .single,
            statusCallbackContentType: .json
        ),
        CallOrder(from: "+919700000003", destination: .number("+919700000103")),  // busy: no media
        CallOrder(from: "+919700000004", destination: .number("+919700000104")),  // leg 2 no answer: a stream only
    ]

    /// Places ``orders`` and waits for everything to settle.
    static func placeAll(_ harness: PipelineHarness) async throws -> [String] {
        var sids: [String] = []
        for order in Self.orders { sids.append(try await harness.place(order).callSid) }
        await harness.platform.waitUntilIdle()
        for sid in sids { try await harness.settle(sid) }
        return sids
    }

    /// Stops the pipeline, snapshots its catalog, rebuilds from the storage, and returns both snapshots and the report.
    static func stopAndRebuild(
        _ harness: PipelineHarness
    ) async throws
        -> (live: CatalogSnapshot, rebuilt: CatalogSnapshot, report: CatalogRebuilder.Report)
    {
        try await harness.stop()
        let catalogPath = harness.catalogLocation
        let logger = PipelineHarness.logger("e2e-rebuild")
        let live = try await Catalog.withCatalog(path: catalogPath, logger: logger) { try await $0.snapshot() }
        let report = try await CatalogRebuilder(layout: harness.layout, catalogPath: catalogPath, logger: logger)
            .rebuild()
        let rebuilt = try await Catalog.withCatalog(path: catalogPath, logger: logger) { catalog in
            let chain = try await catalog.verifyAuditChain()
            #expect(chain.isIntact, "\(chain.problems)")
            return try await catalog.snapshot()
        }
        return (live, rebuilt, report)
    }

    static func describe(
        _ differences: [CatalogDifference],
        _ live: CatalogSnapshot,
        _ rebuilt: CatalogSnapshot
    ) -> String {
        differences.map { difference in
            let callback = live.callbacks[difference.key] ?? rebuilt.callbacks[difference.key]
            let about = callback.map { " (callback \($0.eventType ?? "-") of \($0.callSid))" } ?? ""
            return "\(difference)\(about)"
        }.joined(separator: "\n")
    }

    @Test(arguments: CatalogTestBackend.all) func rebuildingFromTheFilesReproducesTheCatalogThePipelineBuilt(
        backend: CatalogTestBackend
    ) async throws {
        try await PipelineHarness.run(.init(rate: 20, scenario: Self.scenario, timeOut: 6), backend: backend) {
            harness in
            _ = try await Self.placeAll(harness)
            let (live, rebuilt, report) = try await Self.stopAndRebuild(harness)
            #expect(live.calls.count == 4)
            #expect(live.streams.count == 3, "three calls reached StreamBegin")
            #expect(live.recordings.count == 2)
            #expect(live.mediaFiles.count == 5)
            #expect(report.problems.isEmpty, "\(report.problems)")
            #expect(report.calls == 4)
            #expect(report.streams == 3 && report.recordings == 2 && report.mediaFiles == 5)
            #expect(report.requeuedDownloads == 0, "every recording is on disk")
            #expect(report.auditCarriedOver)
            let differences = rebuilt.differences(from: live)
            #expect(differences.isEmpty, "\(Self.describe(differences, live, rebuilt))")
        }
    }

    /// The platform delivers every callback twice. The catalog counts the deliveries (2), and `call.json`, the
    /// record the rebuild reads, must follow every delivery: when it was only rewritten for a *new* callback, the
    /// duplicate of a call's last callback (the terminal one) never reached the file, and the rebuilt catalog said
    /// `deliveries` 1 where the live one said 2.
    @Test(arguments: CatalogTestBackend.all) func duplicateDeliveriesSurviveARebuild(
        backend: CatalogTestBackend
    ) async throws {
        let options = PipelineHarness.Options(
            rate: 20,
            scenario: Self.scenario,
            callbackFaults: CallbackFaults(duplicate: true),
            timeOut: 6
        )
        try await PipelineHarness.run(options, backend: backend) { harness in
            let sids = try await Self.placeAll(harness)
            for sid in sids {
                // What the file says right now, against the catalog.
                let directory = try await harness.callDirectory(sid)
                let sidecar = try CallSidecar.load(from: "\(directory)/call.json")
                let inCatalog = try await harness.catalog.callbacks(callSid: sid)
                #expect(inCatalog.allSatisfy { $0.deliveries == 2 })
                #expect(
                    sidecar.callbacks.map(\.deliveries).sorted() == inCatalog.map(\.deliveries).sorted(),
                    "call.json of \(sid) lags the catalog: \(sidecar.callbacks.map(\.deliveries)) vs \(inCatalog.map(\.deliveries))"
                )
            }
            let (live, rebuilt, _) = try await Self.stopAndRebuild(harness)
            let differences = rebuilt.differences(from: live)
            #expect(differences.isEmpty, "\(Self.describe(differences, live, rebuilt))")
        }
    }

    /// A callback for a CallSid exorec never placed is kept in the catalog, flagged (docs/INGEST.md), and makes it
    /// a call placed elsewhere (docs/CALLS.md); the callback names no account, so its `call.json` goes under the
    /// account folder `_unknown` (docs/CATALOG.md), and a rebuild gives the same call back. (None was written at
    /// first: the callback recorder returned before refreshing the sidecar, and the sidecar writer wrote nothing
    /// for a call without `placed_at`; the rebuild then lost the callback. Before calls placed elsewhere, only the
    /// callback was kept.)
    @Test(arguments: CatalogTestBackend.all) func aCallbackForAnUnknownCallSurvivesARebuild(
        backend: CatalogTestBackend
    ) async throws {
        try await PipelineHarness.run(.init(rate: 20), backend: backend) { harness in
            let unknownSid = "CAnobodyplacedthis01"
            let unknown = try PipelineHarness.jsonCallback([
                "CallSid": unknownSid, "EventType": "terminal", "Status": "completed",
                "DateUpdated": "2026-01-01 10:00:00",
            ])
            let answer = try await harness.postCallback(unknown, contentType: "application/json")
            #expect(answer.status == 200 && answer.body.contains("unknown-call"), "\(answer)")
            #expect(try await harness.catalog.callbacks(callSid: unknownSid).first?.unknownCall == true)
            let sidecars = FileSystem.files(under: harness.layout.mediaRoot, withSuffix: "call.json").filter {
                $0.contains("/\(unknownSid)/")
            }
            #expect(sidecars.count == 1, "call.json of the unknown call: \(sidecars)")
            #expect(sidecars.allSatisfy { $0.contains("/\(CallSidecar.unknownAccount)/") })
            let call = try #require(try await harness.catalog.call(sid: unknownSid))
            #expect(call.origin == .elsewhere && call.accountSid == "" && call.status == "completed")

            let (live, rebuilt, _) = try await Self.stopAndRebuild(harness)
            #expect(live.callbacks.values.contains { $0.callSid == unknownSid })
            #expect(rebuilt.calls[unknownSid]?.origin == .elsewhere)
            let differences = rebuilt.differences(from: live)
            #expect(differences.isEmpty, "\(Self.describe(differences, live, rebuilt))")
        }
    }
}
