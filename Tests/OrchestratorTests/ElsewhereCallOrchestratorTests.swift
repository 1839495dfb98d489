import Catalog
import ExotelClient
import ExotelKit
import Foundation
import Ingest
import Logging
import MediaStore
import Orchestrator
import Testing

/// Calls placed elsewhere in the orchestrator: their call.json follows the folder the catalog fixed, and the
/// reconciler asks Call Details about them like exorec's own calls.
@Suite(.timeLimit(.minutes(2))) struct ElsewhereCallOrchestratorTests {
    static func callback(_ fields: [String: String], at time: Timestamp) -> ReceivedCallback {
        let body = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
        return ReceivedCallback(receivedAt: time, contentType: "application/json", body: Array(body))
    }

    static func stream(callSid: String, account: String, streamSid: String, at time: Timestamp) throws -> StreamSidecar
    {
        let identity = StreamIdentity(
            account: try PathSafeIdentifier(account, field: "a"),
            callSid: try PathSafeIdentifier(callSid, field: "c"),
            streamSid: try PathSafeIdentifier(streamSid, field: "s"),
            from: "+919900000001",
            to: "+919900000002",
            customParameters: [:],
            queryParameters: [:]
        )
        return StreamSidecar(
            identity: identity,
            sampleRate: 8000,
            startedAt: time,
            file: "stream-\(streamSid).wav",
            exorecVersion: "test"
        )
    }

    /// A callback that names no account puts call.json under `_unknown`; the stream that names the account moves
    /// it into the stream's folder (one call.json, beside the stream), and the `_unknown` copy is gone.
    @Test(arguments: CatalogTestBackend.all) func callJsonMovesToTheStreamsFolderWhenTheAccountIsNamed(
        backend: CatalogTestBackend
    ) async throws {
        try await RecordingTests.withStore(backend) { root, catalog in
            let layout = StorageLayout(root: root)
            let sidecars = CallSidecarWriter(
                layout: layout,
                catalog: catalog,
                exorecVersion: "test",
                logger: RecordingTests.quietLogger()
            )
            let now = Timestamp.now()
            _ = try await catalog.storeCallback(
                Self.callback(["CallSid": "CAelse9", "EventType": "answered", "Status": "in-progress"], at: now),
                queuedAt: now
            )
            let first = try #require(try await sidecars.refresh(callSid: "CAelse9"))
            #expect(first.hasPrefix("\(root)/media/_unknown/") && FileSystem.exists(first))

            let startedAt = Timestamp(millisecondsSinceEpoch: now.millisecondsSinceEpoch + 500)
            let folder = layout.callDirectory(
                account: try PathSafeIdentifier("ACrec01", field: "a"),
                callSid: try PathSafeIdentifier("CAelse9", field: "c"),
                startedAt: startedAt
            )
            let wav = "\(folder)/stream-ST9.wav"
            let cataloger = StreamCataloger(
                events: AsyncStream { $0.finish() },
                catalog: catalog,
                layout: layout,
                logger: RecordingTests.quietLogger(),
                sidecars: sidecars
            )
            await cataloger.apply(
                .streamStarted(
                    try Self.stream(callSid: "CAelse9", account: "ACrec01", streamSid: "ST9", at: startedAt),
                    wavPath: wav
                )
            )

            let everywhere = FileSystem.files(under: "\(root)/media", withSuffix: "call.json")
            #expect(everywhere == ["\(folder)/call.json"], "\(everywhere)")
            #expect(!FileSystem.exists(first))
            let sidecar = try CallSidecar.load(from: "\(folder)/call.json")
            #expect(sidecar.accountSid == "ACrec01" && sidecar.origin == "elsewhere" && sidecar.callbacks.count == 1)
        }
    }

    /// The reconciler asks about a call placed elsewhere whose account is not known (the answer names it and
    /// ends it, and its recording is queued) and handles a 404 as for any call; another account's call is not
    /// asked about with these credentials.
    @Test(arguments: CatalogTestBackend.all) func theReconcilerAsksAboutCallsPlacedElsewhere(
        backend: CatalogTestBackend
    ) async throws {
        try await RecordingTests.withStore(backend) { _, catalog in
            let clock = ScaledClock(rate: 1000)
            let transport = FakeTransport { request in
                guard request.url.contains("CAelse1") else { return FakeTransport.status(404) }
                let json =
                    #"{"Call":{"Sid":"CAelse1","AccountSid":"ACrec01","Status":"completed","RecordingUrl":"https://recordings.exotel.com/exotelrecordings/ACrec01/CAelse1.mp3"}}"#
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
            let early = time.advance(.now(), by: .seconds(-3600))
            for (sid, account) in [("CAelse1", nil), ("CAelse2", "ACother"), ("CAelse3", nil)] as [(String, String?)] {
                var fields = ["CallSid": sid, "EventType": "answered", "Status": "in-progress"]
                fields["AccountSid"] = account
                _ = try await catalog.storeCallback(Self.callback(fields, at: early), queuedAt: early)
            }
            let reconciler = Reconciler(
                catalog: catalog,
                client: client,
                queue: RecordingQueue(catalog: catalog, time: time),
                configuration: ReconcilerConfiguration(terminalGrace: .seconds(60)),
                time: time,
                logger: RecordingTests.quietLogger()
            )
            let report = try await reconciler.reconcileOnce()

            #expect(
                report.asked == 2 && report.notFound == 1 && report.becameTerminal == 1 && report.recordingsQueued == 1
            )
            #expect(transport.count(where: "CAelse2") == 0, "another account's call is not asked about")
            let one = try #require(try await catalog.call(sid: "CAelse1"))
            #expect(one.accountSid == "ACrec01" && one.status == "completed" && one.origin == .elsewhere)
            #expect(one.folder?.hasPrefix("media/ACrec01/") == true)
            #expect(try await catalog.downloadJobs(callSid: "CAelse1").count == 1)
            #expect(
                try await catalog.auditEntries(callSid: "CAelse3").contains { $0.action == Reconciler.notFoundAction }
            )
            #expect(try await catalog.call(sid: "CAelse3")?.isTerminal == false)
        }
    }
}
