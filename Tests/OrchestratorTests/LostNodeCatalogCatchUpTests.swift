import Catalog
import ExorecTesting
import Ingest
import MediaStore
import Orchestrator
import Testing

/// A process killed between finalizing a stream and cataloguing it leaves a final sidecar beside a catalog
/// row that still says `recording`; the catch-up (run by a survivor for a lost node, and by a node for its own
/// earlier process) catalogs its end, once, and only for the node it is asked about.
@Suite struct LostNodeCatalogCatchUpTests {
    @Test(arguments: CatalogTestBackend.all) func finishedButUncataloguedStreamsAreCaughtUp(
        backend: CatalogTestBackend
    ) async throws {
        try await RecordingTests.withStore(backend) { root, catalog in
            let layout = StorageLayout(root: root)
            let logger = RecordingTests.quietLogger()
            let (events, _) = AsyncStream<IngestEvent>.makeStream()
            let cataloger = StreamCataloger(events: events, catalog: catalog, layout: layout, logger: logger)
            var paths: [String: String] = [:]
            for (stream, node) in [("MZalpha", "alpha"), ("MZbeta", "beta")] {
                let recorder = try openTestRecorder(
                    layout: layout,
                    stream: stream,
                    startedAt: Timestamp(millisecondsSinceEpoch: 1_000)
                )
                var started = try StreamSidecar.load(from: recorder.sidecarPath)
                started.node = node
                // The catalog learnt of the start...
                await cataloger.apply(.streamStarted(started, wavPath: recorder.wavPath))
                // ...and the process finalized the stream but died before cataloguing its end.
                var ended = recorder.finish(
                    closeReason: "stop:callended",
                    endedAt: Timestamp(millisecondsSinceEpoch: 2_000)
                )
                ended.node = node
                _ = try StreamFinalizer.finalize(ended, wavPath: recorder.wavPath, sidecarPath: recorder.sidecarPath)
                paths[node] = layout.relative(recorder.wavPath)
            }
            #expect(try await catalog.streamPathsStillRecording() == paths.values.sorted())

            let repairer = LostNodeRepairer(
                layout: layout,
                catalog: catalog,
                cataloger: cataloger,
                grace: .seconds(15),
                logger: logger
            )
            #expect(await repairer.catchUpCatalog(node: "alpha", states: [.complete]) == 1)
            #expect(try await catalog.streamPathsStillRecording() == [paths["beta"]!])
            let alpha = try #require(try await catalog.streams(callSid: "CAMZalpha").first)
            #expect(alpha.state == .complete)
            // Once caught up, nothing is left to do for alpha; beta's stream waits for its own node.
            #expect(await repairer.catchUpCatalog(node: "alpha", states: [.complete]) == 0)
            // A stream that ended after the given time is this process's own: left to its event.
            #expect(
                await repairer.catchUpCatalog(
                    node: "beta",
                    states: [.complete],
                    endedBefore: Timestamp(millisecondsSinceEpoch: 1_500)
                ) == 0
            )
            #expect(await repairer.catchUpCatalog(node: "beta", states: [.complete]) == 1)
            #expect(try await catalog.streamPathsStillRecording().isEmpty)
        }
    }
}
