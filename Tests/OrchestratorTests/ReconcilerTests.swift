import Catalog
import ExotelClient
import ExotelKit
import ExotelSimulator
import Foundation
import Logging
import MediaStore
import Orchestrator
import Testing

/// The reconciler: what the platform's Call Details say about calls whose terminal callback never came.
@Suite(.timeLimit(.minutes(2))) struct ReconcilerTests {
    /// Every callback is dropped: the call's terminal status and its recording still arrive, through Call
    /// Details and the same download path.
    @Test(arguments: CatalogTestBackend.all) func droppedCallbacksAreReconciledFromCallDetails(
        backend: CatalogTestBackend
    ) async throws {
        try await RecordingTests.withSimulator(configure: { $0.callbackFaults = CallbackFaults(drop: true) }) {
            running,
            clock in
            try await RecordingTests.withStore(backend) { root, catalog in
                let client = try RecordingTests.client(running, clock: clock)
                let call = try await RecordingTests.placeRecordedCall(client: client, catalog: catalog) { request in
                    request.statusCallback = "http://127.0.0.1:9/callbacks"
                    request.statusCallbackEvents = [.terminal, .answered]
                }
                await running.platform.waitUntilIdle()
                #expect(
                    await running.platform.callbackAttempts().isEmpty == false,
                    "the simulator had callbacks to drop"
                )
                #expect(try await catalog.call(sid: call.sid)?.isTerminal == false)

                let fetcher = RecordingFetcher(
                    catalog: catalog,
                    client: client,
                    configuration: RecordingTests.fetcherConfiguration(root: root),
                    logger: RecordingTests.quietLogger()
                )
                let changed = CallsChanged()
                let reconciler = Reconciler(
                    catalog: catalog,
                    client: client,
                    queue: fetcher.queue,
                    configuration: ReconcilerConfiguration(terminalGrace: .seconds(1)),
                    callChanged: { await changed.add($0) },
                    logger: RecordingTests.quietLogger()
                )

                let report = try await reconciler.reconcileOnce()

                #expect(report.asked == 1)
                #expect(report.updated == 1)
                #expect(report.becameTerminal == 1)
                #expect(report.recordingsQueued == 1)
                #expect(await changed.sids == [call.sid])
                let record = try #require(try await catalog.call(sid: call.sid))
                #expect(record.status == "completed")
                #expect(record.isTerminal)
                let history = try await catalog.statusHistory(callSid: call.sid)
                #expect(history.last?.source == .reconciler)
                #expect(history.last?.status == "completed")
                let url = try #require(record.recordingURL)

                let outcomes = await fetcher.drain()
                #expect(outcomes.count == 1)
                let directory = try RecordingTests.callDirectory(
                    root: root,
                    callSid: call.sid,
                    placedAt: record.placedAt
                )
                let original = try #require(
                    await running.platform.recording(accountSid: RecordingTests.account.sid, callSid: call.sid)
                )
                #expect(
                    try FileSystem.sha256(of: "\(directory)/recording.mp3")
                        == (try FileSystem.sha256(of: original.path))
                )
                #expect(try RecordingSidecar.load(from: "\(directory)/recording.json").url == url)
                #expect(try await catalog.downloadJobs(callSid: call.sid).map(\.state) == [.done])

                // Nothing is left to ask about, and the recording is queued once only.
                let again = try await reconciler.reconcileOnce()
                #expect(again.asked == 0)
                #expect(again.recordingsQueued == 0)
            }
        }
    }

    /// Calls placed less than the grace ago are not asked about; a call still going is asked again only
    /// after the recheck delay. The windows are long in real time (recheck 3 s, grace 36 s), so no stall
    /// on a busy machine between two sweeps can outlast them.
    @Test(arguments: CatalogTestBackend.all) func asksOnlyAfterTheGraceAndBacksOffWhileTheCallGoesOn(
        backend: CatalogTestBackend
    ) async throws {
        try await RecordingTests.withStore(backend) { _, catalog in
            let clock = ScaledClock(rate: 100)
            let transport = FakeTransport { request in
                let sid = request.url.contains("CAlong") ? "CAlong" : "CAnew"
                let json = #"{"Call":{"Sid":"\#(sid)","Status":"in-progress","RecordingUrl":null}}"#
                return .success(
                    TransportResponse(
                        status: 200,
                        headers: [("Content-Type", "application/json")],
                        body: Array(json.utf8)
                    )
                )
            }
            let client = RecordingTests.client(transport: transport, clock: clock)
            let time = PlatformTime(clock: clock)
            try await RecordingTests.recordCall(
                "CAlong",
                in: catalog,
                placedAt: time.advance(.now(), by: .seconds(-2 * 3600))
            )
            try await RecordingTests.recordCall("CAnew", in: catalog, placedAt: .now())
            let reconciler = Reconciler(
                catalog: catalog,
                client: client,
                queue: RecordingQueue(catalog: catalog, time: time),
                configuration: ReconcilerConfiguration(terminalGrace: .seconds(3600), recheckDelay: .seconds(300)),
                time: time,
                logger: RecordingTests.quietLogger()
            )

            let first = try await reconciler.reconcileOnce()
            #expect(first.asked == 1, "only the call placed two hours ago")
            #expect(transport.count(where: "CAlong") == 1)
            #expect(transport.count(where: "CAnew") == 0)

            let second = try await reconciler.reconcileOnce()
            #expect(second.asked == 0, "asked again only after the recheck delay")
            #expect(second.skipped == 1)

            try await Task.sleep(for: time.wallDuration(of: .seconds(300)) + .milliseconds(50))
            let third = try await reconciler.reconcileOnce()
            #expect(third.asked == 1)
            #expect(transport.count(where: "CAlong") == 2)
            #expect(try await catalog.call(sid: "CAlong")?.isTerminal == false)
        }
    }

    /// Two nodes' reconcilers sweep one catalog: each call is asked about once per recheck delay across both
    /// (a claim in the catalog), not once per node.
    @Test(arguments: CatalogTestBackend.all) func twoNodesAskAboutACallOnce(backend: CatalogTestBackend) async throws {
        try await RecordingTests.withStore(backend) { _, catalog in
            let clock = ScaledClock(rate: 100)
            let transport = FakeTransport { _ in
                let json = #"{"Call":{"Sid":"CAshared","Status":"in-progress","RecordingUrl":null}}"#
                return .success(
                    TransportResponse(
                        status: 200,
                        headers: [("Content-Type", "application/json")],
                        body: Array(json.utf8)
                    )
                )
            }
            let client = RecordingTests.client(transport: transport, clock: clock)
            let time = PlatformTime(clock: clock)
            try await RecordingTests.recordCall(
                "CAshared",
                in: catalog,
                placedAt: time.advance(.now(), by: .seconds(-7200))
            )
            func reconciler(_ node: String) -> Reconciler {
                var configuration = ReconcilerConfiguration(terminalGrace: .seconds(3600), recheckDelay: .seconds(300))
                configuration.node = node
                return Reconciler(
                    catalog: catalog,
                    client: client,
                    queue: RecordingQueue(catalog: catalog, time: time),
                    configuration: configuration,
                    time: time,
                    logger: RecordingTests.quietLogger()
                )
            }
            let alpha = reconciler("alpha")
            let beta = reconciler("beta")
            #expect(try await alpha.reconcileOnce().asked == 1)
            let betaSweep = try await beta.reconcileOnce()
            #expect(betaSweep.asked == 0 && betaSweep.skipped == 1)
            #expect(transport.count(where: "CAshared") == 1)
            // Once the claim ran out, whichever node sweeps next asks again.
            try await Task.sleep(for: time.wallDuration(of: .seconds(300)) + .milliseconds(50))
            #expect(try await beta.reconcileOnce().asked == 1)
            #expect(transport.count(where: "CAshared") == 2)
        }
    }

    /// A call the platform answers 404 for is asked `notFoundLimit` times, each 404 an audit entry, then
    /// never again, also not by a reconciler started afresh on the same catalog (a restarted server).
    @Test(arguments: CatalogTestBackend.all) func unknownCallsAreGivenUpDurably(
        backend: CatalogTestBackend
    ) async throws {
        try await RecordingTests.withStore(backend) { root, catalog in
            let clock = ScaledClock(rate: 1000)
            let transport = FakeTransport { _ in FakeTransport.status(404) }
            let client = RecordingTests.client(transport: transport, clock: clock)
            let time = PlatformTime(clock: clock)
            try await RecordingTests.recordCall(
                "CAghost",
                in: catalog,
                placedAt: time.advance(.now(), by: .seconds(-3600))
            )
            let configuration = ReconcilerConfiguration(
                terminalGrace: .seconds(60),
                recheckDelay: .seconds(5),
                notFoundLimit: 3
            )
            let reconciler = Reconciler(
                catalog: catalog,
                client: client,
                queue: RecordingQueue(catalog: catalog, time: time),
                configuration: configuration,
                time: time,
                logger: RecordingTests.quietLogger()
            )

            var notFound = 0
            var givenUp = 0
            for _ in 0..<12 {
                let report = try await reconciler.reconcileOnce()
                notFound += report.notFound
                givenUp += report.givenUp
                try await Task.sleep(for: time.wallDuration(of: .seconds(25)))
            }

            #expect(transport.requests.count == 3)
            #expect(notFound == 3)
            #expect(givenUp == 1)
            let entries = try await catalog.auditEntries(callSid: "CAghost").filter {
                $0.action == Reconciler.notFoundAction
            }
            #expect(entries.map { $0.detailMap["count"] } == ["1", "2", "3"])
            #expect(entries.last?.detailMap["given_up"] == "true")
            #expect(try await catalog.call(sid: "CAghost")?.isTerminal == false, "no status is made up for it")

            let restarted = try await Catalog.withCatalog(
                path: RecordingTests.reopenPath(catalog),
                logger: RecordingTests.quietLogger()
            ) { reopened in
                let fresh = Reconciler(
                    catalog: reopened,
                    client: client,
                    queue: RecordingQueue(catalog: reopened, time: time),
                    configuration: configuration,
                    time: time,
                    logger: RecordingTests.quietLogger()
                )
                return try await fresh.reconcileOnce()
            }
            #expect(restarted.asked == 0)
            #expect(restarted.skipped == 1)
            #expect(transport.requests.count == 3)
        }
    }

    /// Given-up calls never crowd out the ones that are due: a sweep's request budget goes to asking.
    @Test(arguments: CatalogTestBackend.all) func givenUpCallsDoNotCrowdOutDueOnes(
        backend: CatalogTestBackend
    ) async throws {
        try await RecordingTests.withStore(backend) { _, catalog in
            let clock = ScaledClock(rate: 1000)
            let transport = FakeTransport { request in
                guard request.url.contains("CAreal") else { return FakeTransport.status(404) }
                let json = #"{"Call":{"Sid":"CAreal","Status":"busy","RecordingUrl":null}}"#
                return .success(
                    TransportResponse(
                        status: 200,
                        headers: [("Content-Type", "application/json")],
                        body: Array(json.utf8)
                    )
                )
            }
            let client = RecordingTests.client(transport: transport, clock: clock)
            let time = PlatformTime(clock: clock)
            let old = time.advance(.now(), by: .seconds(-7200))
            for index in 0..<4 { try await RecordingTests.recordCall("CAghost\(index)", in: catalog, placedAt: old) }
            try await RecordingTests.recordCall(
                "CAreal",
                in: catalog,
                placedAt: time.advance(.now(), by: .seconds(-3600))
            )
            let reconciler = Reconciler(
                catalog: catalog,
                client: client,
                queue: RecordingQueue(catalog: catalog, time: time),
                configuration: ReconcilerConfiguration(
                    terminalGrace: .seconds(60),
                    maximumRequestsPerSweep: 2,
                    notFoundLimit: 1
                ),
                time: time,
                logger: RecordingTests.quietLogger()
            )

            var sweeps = 0
            while try await catalog.call(sid: "CAreal")?.isTerminal != true, sweeps < 10 {
                _ = try await reconciler.reconcileOnce()
                sweeps += 1
            }

            #expect(try await catalog.call(sid: "CAreal")?.status == "busy")
            #expect(sweeps == 3, "two sweeps give up the four unknown calls, the third reaches the real one")
            #expect(transport.requests.count == 5)
        }
    }

    /// A recording URL that reached the catalog but was never queued (a crash in between) is queued by the
    /// sweep, once.
    @Test(arguments: CatalogTestBackend.all) func queuesRecordingsThatWereNeverQueued(
        backend: CatalogTestBackend
    ) async throws {
        try await RecordingTests.withStore(backend) { _, catalog in
            let clock = ScaledClock(rate: 100)
            let transport = FakeTransport { _ in FakeTransport.status(500) }
            let client = RecordingTests.client(transport: transport, clock: clock)
            try await RecordingTests.recordCall("CAlost", in: catalog)
            let url = "https://recordings.exotel.com/CAlost.mp3"
            try await catalog.appendStatus(
                callSid: "CAlost",
                StatusChange(status: "completed", source: .callback, at: .now(), recordingURL: url)
            )
            let reconciler = Reconciler(
                catalog: catalog,
                client: client,
                queue: RecordingQueue(catalog: catalog),
                logger: RecordingTests.quietLogger()
            )

            let first = try await reconciler.reconcileOnce()
            let second = try await reconciler.reconcileOnce()

            #expect(first.recordingsQueued == 1)
            #expect(second.recordingsQueued == 0)
            #expect(try await catalog.downloadJobs(callSid: "CAlost").map(\.url) == [url])
            #expect(transport.requests.isEmpty, "a terminal call is not asked about")
        }
    }
}

/// CallSids passed to the reconciler's `callChanged`.
actor CallsChanged {
    private(set) var sids: [String] = []
    func add(_ sid: String) { self.sids.append(sid) }
}

extension FakeTransport {
    func count(where fragment: String) -> Int { self.requests.count { $0.url.contains(fragment) } }
}
