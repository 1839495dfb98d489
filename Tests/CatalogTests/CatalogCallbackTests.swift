import Catalog
import ExotelKit
import Foundation
import MediaStore
import Testing

@Suite(.timeLimit(.minutes(1)))
struct CatalogCallbackTests {
    /// The same callback twice is one row: the first raw body kept, two deliveries counted.
    @Test(arguments: CatalogTestBackend.all) func identicalRetryIsOneRow(backend: CatalogTestBackend) async throws {
        try await withTestCatalog(backend) { catalog, path async throws in
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1"))
            let first = Fixture.received(Fixture.callback(sid: "CA1"), at: at(300))
            let second = Fixture.received(Fixture.callback(sid: "CA1"), at: at(315))

            let a = try await catalog.recordCallback(first)
            let b = try await catalog.recordCallback(second)
            #expect(a.outcome == .new)
            #expect(b.outcome == .duplicate)
            #expect(a.id == b.id)
            #expect(!a.unknownCall)
            #expect(a.callback.status == "completed")

            let rows = try await catalog.callbacks(callSid: "CA1")
            #expect(rows.count == 1)
            #expect(rows[0].deliveries == 2)
            #expect(rows[0].receivedAt == at(300))
            #expect(rows[0].lastReceivedAt == at(315))
            #expect(Array(rows[0].rawBody) == first.body)
            #expect(rows[0].contentType == "application/json")
            #expect(rows[0].eventType == "terminal")
            #expect(rows[0].recordingURL == "https://recordings.example/acme/CA1.mp3")
            #expect(rows[0].sourceAddress == "203.0.113.7")
            #expect(try await rawSQL(path, "SELECT COUNT(*) AS n FROM callbacks").first?["n"] == "1")
        }
    }

    /// A duplicate in the other encoding (multipart after JSON) is still a duplicate; the JSON body is kept.
    @Test(arguments: CatalogTestBackend.all) func duplicateInAnotherEncoding(backend: CatalogTestBackend) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1"))
            let json = Fixture.received(Fixture.callback(sid: "CA1"), as: .json, at: at(300))
            let multipart = Fixture.received(Fixture.callback(sid: "CA1"), as: .multipart, at: at(301))
            #expect(try await catalog.recordCallback(json).isNew)
            #expect(try await !catalog.recordCallback(multipart).isNew)
            let rows = try await catalog.callbacks(callSid: "CA1")
            #expect(rows.count == 1)
            #expect(rows[0].contentType == "application/json")
        }
    }

    /// Different events are different rows: answered for leg 1, answered for leg 2 in the same second, terminal.
    @Test(arguments: CatalogTestBackend.all) func distinctEventsAreDistinctRows(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1"))
            func answered(legs: [String?]) -> StatusCallback {
                Fixture.callback(
                    sid: "CA1",
                    event: "answered",
                    status: "in-progress",
                    dateUpdated: "2025-11-23 12:13:30",
                    recordingURL: nil,
                    legs: legs
                )
            }
            let leg1 = answered(legs: ["in-progress", nil])
            let leg2 = answered(legs: ["in-progress", "in-progress"])
            let terminal = Fixture.callback(sid: "CA1")
            for (index, callback) in [leg1, leg2, terminal].enumerated() {
                #expect(
                    try await catalog.recordCallback(Fixture.received(callback, as: .multipart, at: at(Int64(index))))
                        .isNew
                )
            }
            #expect(
                try await catalog.callbacks(callSid: "CA1").map(\.eventType) == ["answered", "answered", "terminal"]
            )
            #expect(CallbackDedupKey.key(for: leg1) != CallbackDedupKey.key(for: leg2))
        }
    }

    /// A callback for a CallSid exorec never placed is kept, flagged, and its duplicates counted too.
    @Test(arguments: CatalogTestBackend.all) func unknownCallIsFlaggedAndKept(backend: CatalogTestBackend) async throws
    {
        try await withTestCatalog(backend) { catalog, _ async throws in
            let received = Fixture.received(Fixture.callback(sid: "CAUNKNOWN"), at: at(5))
            let result = try await catalog.recordCallback(received)
            #expect(result.isNew)
            #expect(result.unknownCall)
            #expect(try await catalog.recordCallback(received).unknownCall)
            let rows = try await catalog.unknownCallCallbacks()
            #expect(rows.map(\.callSid) == ["CAUNKNOWN"])
            #expect(rows.first?.deliveries == 2)
            #expect(try await catalog.call(sid: "CAUNKNOWN") == nil)
        }
    }

    /// A body that is not a status callback is refused with the parser's reason, and nothing is stored.
    @Test(arguments: CatalogTestBackend.all) func invalidBodyIsRefused(backend: CatalogTestBackend) async throws {
        try await withTestCatalog(backend) { catalog, path async throws in
            let received = ReceivedCallback(
                receivedAt: t0,
                contentType: "application/json",
                body: Array(#"{"Status":"completed"}"#.utf8)
            )
            let error = await #expect(throws: CatalogError.self) { try await catalog.recordCallback(received) }
            #expect(error?.description.contains("CallSid") == true)
            #expect(try await rawSQL(path, "SELECT COUNT(*) AS n FROM callbacks").first?["n"] == "0")
        }
    }

    /// The dedup key is SHA-256 over the documented fields: stable across runs and encodings.
    @Test func dedupKeyIsStable() {
        let callback = Fixture.callback(sid: "CA1")
        let key = CallbackDedupKey.key(for: callback)
        #expect(key.count == 64)
        #expect(key.allSatisfy { "0123456789abcdef".contains($0) })
        var changed = callback
        changed.recordingURL = nil
        #expect(CallbackDedupKey.key(for: changed) != key)
        var same = callback
        same.customField = "not part of the key"
        same.conversationDuration = 1
        #expect(CallbackDedupKey.key(for: same) == key)
    }

    /// The endpoint's path: a new terminal callback is recorded, applied (status, feed event) and its recording
    /// queued in one go; its duplicate changes nothing else; a callback for an unknown call makes a call placed elsewhere.
    @Test(arguments: CatalogTestBackend.all) func storeCallbackRecordsAppliesAndQueuesOnce(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1"))
            let first = try await catalog.storeCallback(
                Fixture.received(Fixture.callback(sid: "CA1"), at: at(300)),
                queuedAt: at(301)
            )
            #expect(first.record.isNew && !first.record.unknownCall)
            let download = try #require(first.download)
            #expect(download.isNew && download.job.url == "https://recordings.example/acme/CA1.mp3")
            #expect(try await catalog.call(sid: "CA1")?.status == "completed")
            #expect(try await catalog.events(after: 0, kinds: [.callCompleted]).map(\.callSid) == ["CA1"])

            let again = try await catalog.storeCallback(
                Fixture.received(Fixture.callback(sid: "CA1"), at: at(310)),
                queuedAt: at(311)
            )
            #expect(again.record.outcome == .duplicate && again.download == nil)
            #expect(try await catalog.downloadJobs(callSid: "CA1").count == 1)
            #expect(try await catalog.events(after: 0, kinds: [.callCompleted]).count == 1)

            // A callback for a CallSid exorec did not place makes it a call placed elsewhere, applied and
            // queued like exorec's own (this test asserted "only kept" before calls placed elsewhere).
            let stranger = try await catalog.storeCallback(
                Fixture.received(Fixture.callback(sid: "CA9"), at: at(320)),
                queuedAt: at(321)
            )
            #expect(stranger.record.isNew && stranger.record.unknownCall && stranger.createdElsewhereCall)
            #expect(stranger.download?.isNew == true)
            #expect(try await catalog.call(sid: "CA9")?.origin == .elsewhere)
            #expect(try await catalog.downloadJobs(callSid: "CA9").count == 1)

            let ringing = Fixture.callback(sid: "CA1", event: "answered", status: "in-progress", recordingURL: nil)
            #expect(
                try await catalog.storeCallback(Fixture.received(ringing, at: at(200)), queuedAt: at(201)).download
                    == nil
            )
        }
    }

    /// All or nothing: when a step fails (here queuing the download, refused by a trigger), the callback is not
    /// kept either, so the platform's retry is stored whole and not taken for a duplicate.
    @Test(arguments: CatalogTestBackend.all) func aCallbackWhoseStoreFailsIsNotKeptHalfway(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, path async throws in
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1"))
            if CatalogLocation.isPostgresURL(path) {
                _ = try await rawSQL(
                    path,
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$",
                    "CREATE TRIGGER refuse_downloads BEFORE INSERT ON download_queue FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            } else {
                _ = try await rawSQL(
                    path,
                    "CREATE TRIGGER refuse_downloads BEFORE INSERT ON download_queue BEGIN SELECT RAISE(ABORT, 'disk full'); END"
                )
            }
            let received = Fixture.received(Fixture.callback(sid: "CA1"), at: at(300))
            await #expect(throws: CatalogError.self) { try await catalog.storeCallback(received, queuedAt: at(301)) }
            #expect(try await catalog.callbacks(callSid: "CA1").isEmpty)
            #expect(try await catalog.call(sid: "CA1")?.status != "completed")

            _ = try await rawSQL(path, dropTrigger("refuse_downloads", on: "download_queue", path))
            let retried = try await catalog.storeCallback(received, queuedAt: at(302))
            #expect(retried.record.isNew)
            #expect(retried.download?.isNew == true)
            #expect(try await catalog.call(sid: "CA1")?.status == "completed")
        }
    }
}
