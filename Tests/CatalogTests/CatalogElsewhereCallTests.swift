import ExotelKit
import Foundation
import MediaStore
import Testing

@testable import Catalog

/// Calls placed elsewhere: another tool placed the call with exorec's StreamUrl and StatusCallback.
@Suite(.timeLimit(.minutes(1)))
struct CatalogElsewhereCallTests {
    static func streamPath(
        _ callSid: String,
        account: String = Fixture.account,
        streamSid: String = "ST1"
    ) throws -> String {
        let folder = StorageLayout.relativeCallDirectory(
            account: try PathSafeIdentifier(account, field: "a"),
            callSid: try PathSafeIdentifier(callSid, field: "c"),
            startedAt: at(2)
        )
        return "\(folder)/stream-\(streamSid).wav"
    }

    /// A callback body as a tool's platform sends it, with or without `AccountSid`.
    static func jsonCallback(_ fields: [String: String], at time: Timestamp) -> ReceivedCallback {
        let body = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
        return ReceivedCallback(receivedAt: time, contentType: "application/json", body: Array(body))
    }

    /// The first stream start makes the call: origin elsewhere, the stream's account and folder, first seen at
    /// the stream's start, status unknown until a status arrives; searchable by origin.
    @Test(arguments: CatalogTestBackend.all) func aStreamMakesACallPlacedElsewhere(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1"))
            let path = try Self.streamPath("CAE1")
            let sighting = try await catalog.upsertStream(
                from: try Fixture.streamSidecar(callSid: "CAE1", streamSid: "ST1", state: .recording),
                path: path
            )
            #expect(sighting == .created)
            let call = try #require(try await catalog.call(sid: "CAE1"))
            #expect(call.origin == .elsewhere)
            #expect(call.accountSid == Fixture.account)
            #expect(call.folder == String(path.dropLast("/stream-ST1.wav".count)))
            #expect(call.placedAt == at(2))
            #expect(call.status == "unknown" && call.parameters.isEmpty && call.callerId == nil)
            // The numbers the stream reported are searched on.
            #expect(call.from == "09876543210" && call.to == "09123456789")
            #expect(try await catalog.statusHistory(callSid: "CAE1").isEmpty)
            // A later upsert of the same stream changes nothing.
            #expect(
                try await catalog.upsertStream(
                    from: try Fixture.streamSidecar(callSid: "CAE1", streamSid: "ST1"),
                    path: path
                ) == .unchanged
            )
            #expect(try await catalog.call(sid: "CA1")?.origin == .exorec)

            #expect(try await catalog.calls(CallQuery(origin: .elsewhere)).map(\.callSid) == ["CAE1"])
            #expect(try await catalog.calls(CallQuery(origin: .exorec)).map(\.callSid) == ["CA1"])
            var search = CallSearch()
            search.origin = .elsewhere
            #expect(try await search.run(on: catalog).map(\.call.callSid) == ["CAE1"])
            search.number = "+91 98765 43210"
            #expect(try await search.run(on: catalog).map(\.call.callSid) == ["CAE1"])

            // Its terminal callback is applied, its recording queued, and the feed says who placed it.
            let stored = try await catalog.storeCallback(
                Fixture.received(Fixture.callback(sid: "CAE1"), at: at(300)),
                queuedAt: at(301)
            )
            #expect(stored.record.unknownCall && !stored.createdElsewhereCall)
            #expect(stored.download?.isNew == true)
            #expect(try await catalog.call(sid: "CAE1")?.status == "completed")
            let completed = try await catalog.events(after: 0, kinds: [.callCompleted])
            #expect(completed.map(\.callSid) == ["CAE1"])
            #expect(completed.first?.detail.origin == "elsewhere")
            #expect(completed.first?.detail.media?.count == 1)
        }
    }

    /// A callback that names no account fixes a folder under `_unknown`, dated by the callback; the first stream
    /// names the account, and the call (nothing but call.json yet) moves to the stream's folder.
    @Test(arguments: CatalogTestBackend.all) func aCallbackFirstWithoutAccountLearnsItFromTheStream(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            let stored = try await catalog.storeCallback(
                Fixture.received(
                    Fixture.callback(sid: "CAE2", event: "answered", status: "in-progress", recordingURL: nil),
                    at: at(1)
                ),
                queuedAt: at(1)
            )
            #expect(stored.createdElsewhereCall && stored.download == nil)
            let first = try #require(try await catalog.call(sid: "CAE2"))
            #expect(first.accountSid == "")
            #expect(
                first.folder
                    == StorageLayout.relativeCallDirectory(
                        account: try PathSafeIdentifier("_unknown", field: "a"),
                        callSid: try PathSafeIdentifier("CAE2", field: "c"),
                        startedAt: at(1)
                    )
            )
            #expect(first.status == "in-progress")

            let path = try Self.streamPath("CAE2")
            #expect(
                try await catalog.upsertStream(
                    from: try Fixture.streamSidecar(callSid: "CAE2", streamSid: "ST2", state: .recording),
                    path: path
                ) == .accountLearnt
            )
            let call = try #require(try await catalog.call(sid: "CAE2"))
            #expect(call.accountSid == Fixture.account)
            #expect(call.folder.map { path.hasPrefix($0 + "/") } == true)
            #expect(call.placedAt == at(1))
        }
    }

    /// A callback that carries `AccountSid` gives the account and the folder at once; a CallSid that cannot name
    /// a folder makes no call (the callback is kept, flagged).
    @Test(arguments: CatalogTestBackend.all) func aCallbackWithAccountSidAndAHostileCallSid(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            let named = Self.jsonCallback(
                [
                    "CallSid": "CAE3", "AccountSid": "otherco", "Status": "completed", "EventType": "terminal",
                    "RecordingUrl": "https://recordings.example/otherco/CAE3.mp3",
                ],
                at: at(5)
            )
            let stored = try await catalog.storeCallback(named, queuedAt: at(5))
            #expect(stored.createdElsewhereCall && stored.download?.isNew == true)
            let call = try #require(try await catalog.call(sid: "CAE3"))
            #expect(call.accountSid == "otherco" && call.from == nil && call.customField == nil)
            #expect(call.folder?.hasPrefix("media/otherco/") == true && call.folder?.hasSuffix("/CAE3") == true)
            #expect(call.recordingURL == "https://recordings.example/otherco/CAE3.mp3")

            // Numbers that would forge a line or drive a terminal are not kept.
            let escapes = Self.jsonCallback(
                [
                    "CallSid": "CAE3b", "Status": "completed", "From": "+91\n99 fake line", "To": "\u{1B}[2J",
                    "CustomField": "ok",
                ],
                at: at(5)
            )
            _ = try await catalog.storeCallback(escapes, queuedAt: at(5))
            let escaped = try #require(try await catalog.call(sid: "CAE3b"))
            #expect(escaped.from == nil && escaped.to == nil && escaped.customField == "ok")

            let hostile = Self.jsonCallback(
                ["CallSid": "../../etc", "AccountSid": "a/b", "Status": "completed"],
                at: at(6)
            )
            let kept = try await catalog.storeCallback(hostile, queuedAt: at(6))
            #expect(kept.record.isNew && kept.record.unknownCall && !kept.createdElsewhereCall && kept.download == nil)
            #expect(try await catalog.call(sid: "../../etc") == nil)
        }
    }

    /// A placement whose answer was lost: its callbacks (and stream) came first and made a call placed elsewhere;
    /// exorec's own record arrives later and wins: origin exorec, its account, parameters and placement time, the
    /// history the placement's then the callbacks'; a folder with media that is not the one exorec's placement
    /// gives is kept (a stream that started the next day); call.completed is announced once.
    @Test(arguments: CatalogTestBackend.all) func exorecsLatePlacementMergesIntoTheCallPlacedElsewhere(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            let path = "media/acme/2025/11/24/CA1/stream-ST1.wav"
            try await catalog.upsertStream(
                from: try Fixture.streamSidecar(callSid: "CA1", streamSid: "ST1"),
                path: path
            )
            _ = try await catalog.storeCallback(
                Fixture.received(Fixture.callback(sid: "CA1"), at: at(300)),
                queuedAt: at(300)
            )
            #expect(try await catalog.events(after: 0, kinds: [.callCompleted]).count == 1)
            let folder = try #require(try await catalog.call(sid: "CA1")?.folder)

            #expect(try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1", at: t0)))
            let call = try #require(try await catalog.call(sid: "CA1"))
            #expect(call.origin == .exorec)
            #expect(call.accountSid == Fixture.account)
            #expect(call.placedAt == t0)
            #expect(call.customField == "order_12345" && call.parameters["Record"] == "true")
            #expect(call.status == "completed" && call.terminalAt == at(300))
            #expect(call.folder == folder && folder == "media/acme/2025/11/24/CA1")
            #expect(try await catalog.statusHistory(callSid: "CA1").map(\.source) == [.placed, .callback])
            #expect(try await catalog.events(after: 0, kinds: [.callCompleted]).count == 1)
            #expect(try await !catalog.recordPlacedCall(Fixture.placed(sid: "CA1", at: t0)))

            // A stream in the folder exorec's placement gives: nothing to keep.
            try await catalog.upsertStream(
                from: try Fixture.streamSidecar(callSid: "CA3", streamSid: "ST3"),
                path: try Self.streamPath("CA3", streamSid: "ST3")
            )
            #expect(try await catalog.recordPlacedCall(Fixture.placed(sid: "CA3", at: t0)))
            #expect(try await catalog.call(sid: "CA3")?.folder == nil)

            // Without media, a pending `_unknown` folder is given up for exorec's own.
            _ = try await catalog.storeCallback(
                Fixture.received(Fixture.callback(sid: "CA2"), at: at(400)),
                queuedAt: at(400)
            )
            #expect(try await catalog.call(sid: "CA2")?.folder?.hasPrefix("media/_unknown/") == true)
            #expect(try await catalog.recordPlacedCall(Fixture.placed(sid: "CA2", at: at(390))))
            #expect(try await catalog.call(sid: "CA2")?.folder == nil)
            #expect(try await catalog.callbacks(callSid: "CA2").map(\.unknownCall) == [true])
        }
    }

    /// Call Details (the reconciler) teaches a call placed elsewhere its account.
    @Test(arguments: CatalogTestBackend.all) func callDetailsNameTheAccount(backend: CatalogTestBackend) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            _ = try await catalog.storeCallback(
                Fixture.received(
                    Fixture.callback(sid: "CAE4", event: "answered", status: "in-progress", recordingURL: nil),
                    at: at(1)
                ),
                queuedAt: at(1)
            )
            var details = PlatformCall(sid: "CAE4", status: "completed")
            details.accountSid = "acme"
            #expect(try await catalog.recordCallDetails(details, at: at(500)))
            let call = try #require(try await catalog.call(sid: "CAE4"))
            #expect(call.accountSid == "acme")
            #expect(call.folder?.hasPrefix("media/acme/") == true)
            #expect(call.status == "completed")
            #expect(try await catalog.callsAwaitingTerminal(placedBefore: at(1000)).isEmpty)
        }
    }

    /// A call placed elsewhere can be held; a CallSid the catalog never saw cannot.
    @Test(arguments: CatalogTestBackend.all) func holdsNeedACatalogedCall(backend: CatalogTestBackend) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            try await catalog.upsertStream(
                from: try Fixture.streamSidecar(callSid: "CAE5", streamSid: "ST5"),
                path: try Self.streamPath("CAE5")
            )
            let hold = try await catalog.placeHold(callSid: "CAE5", reason: "subpoena", by: "legal", at: at(10))
            #expect(hold.callSid == "CAE5")
            await #expect(throws: CatalogError.unknownCall(callSid: "CAnever")) {
                try await catalog.placeHold(callSid: "CAnever", reason: "subpoena", by: "legal", at: at(11))
            }
        }
    }

    /// A stream repaired after a crash (state interrupted) of a call exorec did not place is found by
    /// `--interrupted`: it is a call now (before, search walked only placed calls and missed it).
    @Test(arguments: CatalogTestBackend.all) func anInterruptedStreamOfACallPlacedElsewhereIsFound(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1"))
            try await catalog.upsertStream(
                from: try Fixture.streamSidecar(callSid: "CAE6", streamSid: "ST6", state: .interrupted),
                path: try Self.streamPath("CAE6")
            )
            var search = CallSearch()
            search.interrupted = true
            #expect(try await search.run(on: catalog).map(\.call.callSid) == ["CAE6"])
        }
    }

    /// call.json of a call placed elsewhere: no placement, `origin` and `first_seen_at`, its callbacks and history.
    @Test(arguments: CatalogTestBackend.all) func theSidecarSaysWhoPlacedIt(backend: CatalogTestBackend) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            _ = try await catalog.storeCallback(
                Fixture.received(Fixture.callback(sid: "CAE7"), at: at(9)),
                queuedAt: at(9)
            )
            let sidecar = try #require(try await catalog.callSidecar(callSid: "CAE7", exorecVersion: "test"))
            #expect(
                sidecar.origin == "elsewhere" && sidecar.firstSeenAt == at(9) && sidecar.placedAt == nil
                    && sidecar.request == nil
            )
            #expect(sidecar.platformCall == nil && sidecar.accountSid == "")
            #expect(sidecar.statusHistory.map(\.status) == ["completed"] && sidecar.callbacks.count == 1)
            #expect(
                sidecar.from == "09876543210" && sidecar.to == "09123456789" && sidecar.customField == "order_12345"
            )
            let decoded = try CallSidecar.decode(sidecar.encoded(), path: "call.json")
            #expect(decoded == sidecar)
        }
    }

    /// `catalog rebuild` gives back a call placed elsewhere as it was: origin, account, folder, status history,
    /// callbacks, stream and recording (its call.json, stream and recording sidecars in one folder).
    @Test func rebuildReproducesACallPlacedElsewhere() async throws {
        try await withTemporaryDirectory { root async throws in
            let layout = StorageLayout(root: root)
            let catalogPath = "\(root)/catalog.sqlite"
            let url = "https://recordings.example/acme/CAE8.mp3"
            let before = try await Catalog.withCatalog(path: catalogPath, logger: testLogger) { catalog async throws in
                let wavPath = try Self.streamPath("CAE8", streamSid: "ST8")
                let folder = "\(root)/\(wavPath.dropLast("/stream-ST8.wav".count))"
                try FileSystem.makeDirectories(folder)
                try FileSystem.writeAtomically(
                    Array(repeating: 7, count: 4000),
                    to: "\(root)/\(wavPath)",
                    durable: false
                )
                let stream = try Fixture.streamSidecar(
                    callSid: "CAE8",
                    streamSid: "ST8",
                    bytes: 4000,
                    sha256: try FileSystem.sha256(of: "\(root)/\(wavPath)")
                )
                try stream.write(to: "\(folder)/stream-ST8.json", durable: false)
                try await catalog.upsertStream(from: stream, path: wavPath)
                let answered = Fixture.callback(
                    sid: "CAE8",
                    event: "answered",
                    status: "in-progress",
                    recordingURL: nil,
                    legs: ["in-progress", nil]
                )
                _ = try await catalog.storeCallback(
                    Fixture.received(answered, as: .multipart, at: at(10)),
                    queuedAt: at(10)
                )
                _ = try await catalog.storeCallback(
                    Fixture.received(Fixture.callback(sid: "CAE8", recordingURL: url), at: at(330)),
                    queuedAt: at(330)
                )
                let mp3 = "\(folder)/recording.mp3"
                try FileSystem.writeAtomically(Array(repeating: 9, count: 1500), to: mp3, durable: false)
                let recording = Fixture.recordingSidecar(
                    callSid: "CAE8",
                    url: url,
                    bytes: 1500,
                    sha256: try FileSystem.sha256(of: mp3)
                )
                try recording.write(to: RecordingSidecar.path(inCallDirectory: folder), durable: false)
                try await catalog.upsertRecording(from: recording, path: String(mp3.dropFirst(root.count + 1)))
                let sidecar = try #require(try await catalog.callSidecar(callSid: "CAE8", exorecVersion: "test"))
                #expect(try await catalog.call(sid: "CAE8")?.folder == String(folder.dropFirst(root.count + 1)))
                try sidecar.write(to: CallSidecar.path(inCallDirectory: folder), durable: false)
                return try await catalog.snapshot()
            }
            #expect(before.calls["CAE8"]?.origin == .elsewhere)
            #expect(before.statusHistory["CAE8"]?.count == 2)

            let report = try await CatalogRebuilder(layout: layout, logger: testLogger).rebuild(at: at(5000))
            #expect(report.problems == [])
            #expect(report.calls == 1 && report.elsewhereCalls == 1 && report.unknownCalls == 0)
            #expect(report.requeuedDownloads == 0)
            try await Catalog.withCatalog(path: catalogPath, logger: testLogger) { rebuilt async throws in
                let differences = before.differences(from: try await rebuilt.snapshot())
                #expect(differences == [], "\(differences)")
            }
        }
    }

    /// A `call.json` an older version wrote under `_unknown` (no `origin`: only the callbacks of a call it did not
    /// place) is rebuilt as a call placed elsewhere, its statuses its callbacks', its recording queued.
    @Test func rebuildAdoptsAnOlderUnknownCallSidecar() async throws {
        try await withTemporaryDirectory { root async throws in
            let layout = StorageLayout(root: root)
            let folder = layout.callDirectory(
                account: try PathSafeIdentifier("_unknown", field: "a"),
                callSid: try PathSafeIdentifier("CAOLD", field: "c"),
                startedAt: at(50)
            )
            try FileSystem.makeDirectories(folder)
            let received = Fixture.received(
                Fixture.callback(sid: "CAOLD", recordingURL: "https://recordings.example/x/CAOLD.mp3"),
                at: at(50)
            )
            let legacy = CallSidecar(
                accountSid: CallSidecar.unknownAccount,
                callSid: "CAOLD",
                placedAt: nil,
                request: nil,
                platformCall: nil,
                callbacks: [
                    CallSidecar.Callback(
                        receivedAt: at(50),
                        contentType: received.contentType,
                        body: received.body,
                        unknownCall: true
                    )
                ],
                exorecVersion: "0.1"
            )
            try legacy.write(to: CallSidecar.path(inCallDirectory: folder), durable: false)
            let legacyText = String(
                decoding: try FileSystem.read(CallSidecar.path(inCallDirectory: folder)),
                as: UTF8.self
            )
            #expect(!legacyText.contains("origin") && !legacyText.contains("first_seen_at"))

            let report = try await CatalogRebuilder(layout: layout, logger: testLogger).rebuild(at: at(5000))
            #expect(report.problems == [])
            #expect(report.calls == 1 && report.elsewhereCalls == 1 && report.unknownCalls == 0)
            #expect(report.requeuedDownloads == 1)
            try await Catalog.withCatalog(path: "\(root)/catalog.sqlite", logger: testLogger) { rebuilt async throws in
                let call = try #require(try await rebuilt.call(sid: "CAOLD"))
                #expect(call.origin == .elsewhere && call.accountSid == "" && call.placedAt == at(50))
                #expect(call.folder == String(folder.dropFirst(root.count + 1)))
                #expect(call.status == "completed")
                #expect(try await rebuilt.statusHistory(callSid: "CAOLD").map(\.source) == [.callback])
                #expect(try await rebuilt.callbacks(callSid: "CAOLD").map(\.unknownCall) == [true])
            }
        }
    }
}

/// Migration 5 on a catalog of an older version: CallSids with callbacks or streams but no call become calls
/// placed elsewhere, as a rebuild of their files would make them.
@Suite(.timeLimit(.minutes(1)))
struct CatalogElsewhereMigrationTests {
    @Test(arguments: CatalogTestBackend.all) func olderCallbacksAndStreamsBecomeCalls(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, path async throws in
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1"))
            // What an older version left: callbacks only (CAOLD1), a stream only (CAOLD2), both (CAOLD3).
            _ = try await catalog.recordCallback(Fixture.received(Fixture.callback(sid: "CAOLD1"), at: at(50)))
            _ = try await catalog.recordCallback(
                Fixture.received(
                    Fixture.callback(sid: "CAOLD3", event: "answered", status: "in-progress", recordingURL: nil),
                    at: at(3)
                )
            )
            let stream2 = try CatalogElsewhereCallTests.streamPath("CAOLD2")
            let stream3 = try CatalogElsewhereCallTests.streamPath("CAOLD3")
            try await catalog.upsertStream(
                from: try Fixture.streamSidecar(callSid: "CAOLD2", streamSid: "ST2", state: .interrupted),
                path: stream2
            )
            try await catalog.upsertStream(
                from: try Fixture.streamSidecar(callSid: "CAOLD3", streamSid: "ST3"),
                path: stream3
            )
            _ = try await rawSQL(
                path,
                "DELETE FROM call_status_history WHERE call_sid LIKE 'CAOLD%'",
                "DELETE FROM calls WHERE call_sid LIKE 'CAOLD%'"
            )
            #expect(try await catalog.calls().map(\.callSid) == ["CA1"])

            try await catalog.transaction("adopt") { db in try await adoptCallsPlacedElsewhere(db) }
            let calls = Dictionary(uniqueKeysWithValues: try await catalog.calls().map { ($0.callSid, $0) })
            #expect(calls["CA1"]?.origin == .exorec)
            let one = try #require(calls["CAOLD1"])
            #expect(
                one.origin == .elsewhere && one.accountSid == "" && one.status == "completed" && one.placedAt == at(50)
            )
            #expect(one.folder?.hasPrefix("media/_unknown/") == true)
            #expect(one.recordingURL != nil)
            let two = try #require(calls["CAOLD2"])
            #expect(two.accountSid == Fixture.account && two.folder.map { stream2.hasPrefix($0 + "/") } == true)
            let three = try #require(calls["CAOLD3"])
            #expect(three.accountSid == Fixture.account && three.folder.map { stream3.hasPrefix($0 + "/") } == true)
            #expect(three.placedAt == at(3) && three.status == "in-progress")
            // The recording the sweep will queue, and the interrupted stream found by search.
            #expect(try await catalog.callsWithUnqueuedRecordings().map(\.callSid) == ["CAOLD1"])
            var search = CallSearch()
            search.interrupted = true
            #expect(try await search.run(on: catalog).map(\.call.callSid) == ["CAOLD2"])
        }
    }
}

/// What `catalog ls` and `catalog show` print for a call placed elsewhere.
@Suite(.timeLimit(.minutes(1)))
struct CatalogElsewhereOutputTests {
    @Test(arguments: CatalogTestBackend.all) func listingsSayWhoPlacedIt(backend: CatalogTestBackend) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1"))
            _ = try await catalog.storeCallback(
                Fixture.received(Fixture.callback(sid: "CAE9"), at: at(60)),
                queuedAt: at(60)
            )
            let table = try CallListingFormat.table.lines(for: try await CallSearch().run(on: catalog))
            #expect(table.count == 3)
            #expect(table[1].hasPrefix("CAE9 ") && table[1].hasSuffix("elsewhere"), "\(table)")
            #expect(!table[2].contains("elsewhere"))

            let detail = try #require(try await CallDetail.load(callSid: "CAE9", from: catalog))
            let shown = try CallListingFormat.table.lines(for: detail)
            #expect(shown[0] == "call CAE9 (account not known)")
            #expect(shown[1].hasPrefix("  origin      elsewhere (placed by another tool), first seen "))
            let json = try CallListingFormat.json.lines(for: detail).joined()
            #expect(json.contains(#""origin":"elsewhere""#) && json.contains(#""account_sid":"""#))
        }
    }
}
