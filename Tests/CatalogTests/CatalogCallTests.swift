import Catalog
import ExotelKit
import MediaStore
import Testing

@Suite(.timeLimit(.minutes(1)))
struct CatalogCallTests {
    /// The placed call keeps every parameter, the searched ones as columns, and no credentials anywhere.
    @Test(arguments: CatalogTestBackend.all) func placedCallIsRecordedWithoutCredentials(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, path async throws in
            #expect(try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1", campaign: "spring")))
            let call = try #require(try await catalog.call(sid: "CA1"))
            #expect(call.accountSid == "acme")
            #expect(call.placedAt == t0)
            #expect(call.from == "09876543210")
            #expect(call.to == "09123456789")
            #expect(call.callerId == "08047112233")
            #expect(call.customField == "order_12345")
            #expect(call.recordingChannels == "dual")
            #expect(call.recordingFormat == "mp3")
            #expect(call.campaignId == "spring")
            #expect(call.campaignRowKey == "row-CA1")
            #expect(call.streamURL == "wss://media.example/v1/streams?sample-rate=8000&token=REDACTED")
            #expect(call.parameters["StatusCallback"] == "https://hooks.example/exotel?secret=REDACTED&x=1")
            #expect(call.parameters["StatusCallbackEvents[]"] == "terminal,answered")
            #expect(call.parameters["Record"] == "true")
            #expect(call.status == "in-progress")
            #expect(call.terminalAt == nil)
            #expect(call.platformCall?.sid == "CA1")

            // Nothing in the file holds the secrets, in any table.
            let dump = try await rawSQL(path, "SELECT parameters_json, stream_url, platform_call_json FROM calls")
            let text = dump.map { $0.values.joined(separator: " ") }.joined()
            #expect(!text.contains("s3cret"))
            #expect(!text.contains("hush"))
            #expect(!text.contains("token=abc"))

            #expect(
                try await catalog.statusHistory(callSid: "CA1") == [
                    StatusChange(status: "in-progress", source: .placed, at: t0)
                ]
            )
        }
    }

    /// Recording the same CallSid twice changes nothing.
    @Test(arguments: CatalogTestBackend.all) func recordPlacedCallIsIdempotent(backend: CatalogTestBackend) async throws
    {
        try await withTestCatalog(backend) { catalog, _ async throws in
            #expect(try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1")))
            #expect(try await !catalog.recordPlacedCall(Fixture.placed(sid: "CA1", at: at(60), customField: "other")))
            #expect(try await catalog.call(sid: "CA1")?.customField == "order_12345")
            #expect(try await catalog.statusHistory(callSid: "CA1").count == 1)
        }
    }

    /// Statuses move the call on; a terminal status sticks even if a late `answered` arrives after it.
    @Test(arguments: CatalogTestBackend.all) func terminalStatusIsNotReplacedByALateOne(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1"))
            let answered = Fixture.callback(
                sid: "CA1",
                event: "answered",
                status: "in-progress",
                recordingURL: nil,
                legs: ["in-progress", nil]
            )
            try await catalog.appendStatus(callSid: "CA1", StatusChange(callback: answered, at: at(10)))
            let terminal = Fixture.callback(sid: "CA1")
            try await catalog.appendStatus(callSid: "CA1", StatusChange(callback: terminal, at: at(300)))
            try await catalog.appendStatus(callSid: "CA1", StatusChange(callback: answered, at: at(301)))

            let call = try #require(try await catalog.call(sid: "CA1"))
            #expect(call.status == "completed")
            #expect(call.terminalAt == at(300))
            #expect(call.conversationDuration == 320)
            #expect(call.recordingURL == "https://recordings.example/acme/CA1.mp3")
            #expect(call.updatedAt == at(301))
            #expect(call.legs?.map(\.status) == ["in-progress", nil])

            let history = try await catalog.statusHistory(callSid: "CA1")
            #expect(history.map(\.status) == ["in-progress", "in-progress", "completed", "in-progress"])
            #expect(history.map(\.source) == [.placed, .callback, .callback, .callback])
            #expect(
                history[2].legs == [
                    CallLeg(status: "completed", onCallDuration: 300, answeredBy: "Human"),
                    CallLeg(status: "completed", onCallDuration: 300, answeredBy: "Human"),
                ]
            )
        }
    }

    @Test(arguments: CatalogTestBackend.all) func statusForUnknownCallIsRefused(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            await #expect(throws: CatalogError.unknownCall(callSid: "CAX")) {
                try await catalog.appendStatus(
                    callSid: "CAX",
                    StatusChange(status: "completed", source: .callback, at: t0)
                )
            }
        }
    }

    /// Call Details replace the stored Call and add a `reconciler` status only when something changed.
    @Test(arguments: CatalogTestBackend.all) func callDetailsFromTheReconciler(backend: CatalogTestBackend) async throws
    {
        try await withTestCatalog(backend) { catalog, _ async throws in
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1"))
            var details = Fixture.response(sid: "CA1", status: "completed")
            details.recordingURL = "https://recordings.example/acme/CA1.mp3"
            details.duration = "17"
            details.details = PlatformCall.Details(
                conversationDuration: 8,
                leg1Status: "completed",
                leg2Status: "completed"
            )
            #expect(try await catalog.recordCallDetails(details, at: at(900)))
            #expect(try await !catalog.recordCallDetails(details, at: at(960)))

            let call = try #require(try await catalog.call(sid: "CA1"))
            #expect(call.status == "completed")
            #expect(call.terminalAt == at(900))
            #expect(call.conversationDuration == 8)
            #expect(call.recordingURL == "https://recordings.example/acme/CA1.mp3")
            #expect(call.platformCall?.duration == "17")
            #expect(try await catalog.statusHistory(callSid: "CA1").map(\.source) == [.placed, .reconciler])
            await #expect(throws: CatalogError.unknownCall(callSid: "CA9")) {
                try await catalog.recordCallDetails(Fixture.response(sid: "CA9"), at: t0)
            }
        }
    }

    /// Search by time range, number, status, CustomField, campaign and media kind; calls awaiting a terminal status.
    @Test(arguments: CatalogTestBackend.all) func searchAndAwaitingTerminal(backend: CatalogTestBackend) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1", at: at(0), customField: "a"))
            try await catalog.recordPlacedCall(
                Fixture.placed(sid: "CA2", at: at(100), customField: "b", campaign: "c1")
            )
            var other = Fixture.placed(sid: "CA3", at: at(200), customField: "b")
            other.parameters["To"] = "09000000000"
            try await catalog.recordPlacedCall(other)
            try await catalog.appendStatus(
                callSid: "CA2",
                StatusChange(status: "completed", source: .callback, at: at(150))
            )
            try await catalog.upsertStream(
                from: try Fixture.streamSidecar(callSid: "CA3", streamSid: "ST3"),
                path: "media/acme/CA3/stream-ST3.wav"
            )

            func sids(_ query: CallQuery) async throws -> [String] { try await catalog.calls(query).map(\.callSid) }
            #expect(try await sids(CallQuery()) == ["CA1", "CA2", "CA3"])
            #expect(try await sids(CallQuery(placedFrom: at(100))) == ["CA2", "CA3"])
            #expect(try await sids(CallQuery(placedFrom: at(50), placedBefore: at(200))) == ["CA2"])
            #expect(try await sids(CallQuery(number: "09000000000")) == ["CA3"])
            #expect(try await sids(CallQuery(number: "09876543210")) == ["CA1", "CA2", "CA3"])
            #expect(try await sids(CallQuery(number: "08047112233")) == ["CA1", "CA2", "CA3"])
            #expect(try await sids(CallQuery(callSid: "CA2")) == ["CA2"])
            #expect(try await sids(CallQuery(status: "completed")) == ["CA2"])
            #expect(try await sids(CallQuery(customField: "b")) == ["CA2", "CA3"])
            #expect(try await sids(CallQuery(campaignId: "c1")) == ["CA2"])
            #expect(try await sids(CallQuery(mediaKind: .stream)) == ["CA3"])
            #expect(try await sids(CallQuery(mediaKind: .recording)) == [])
            #expect(try await sids(CallQuery(limit: 1, offset: 1)) == ["CA2"])

            #expect(try await catalog.callsAwaitingTerminal(placedBefore: at(150)).map(\.callSid) == ["CA1"])
            #expect(try await catalog.callsAwaitingTerminal(placedBefore: at(1000)).map(\.callSid) == ["CA1", "CA3"])
        }
    }

    /// A callback that beats the placing process to the catalog is applied once the call is recorded.
    @Test(arguments: CatalogTestBackend.all) func earlyCallbackIsAppliedWhenTheCallIsRecorded(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ in
            let early = try await catalog.recordCallback(Fixture.received(Fixture.callback(sid: "CA1"), at: at(1)))
            #expect(early.unknownCall)
            #expect(try await catalog.recordPlacedCall(Fixture.placed(sid: "CA1", at: t0)))
            let call = try #require(try await catalog.call(sid: "CA1"))
            #expect(call.status == "completed")
            #expect(call.terminalAt == at(1))
            #expect(call.recordingURL == "https://recordings.example/acme/CA1.mp3")
            #expect(try await catalog.statusHistory(callSid: "CA1").map(\.source) == [.placed, .callback])
            #expect(try await catalog.callbacks(callSid: "CA1").first?.unknownCall == true)
        }
    }

    /// The sweep finds calls with a recording URL but neither a recording file nor a download job.
    @Test(arguments: CatalogTestBackend.all) func callsWithUnqueuedRecordings(backend: CatalogTestBackend) async throws
    {
        try await withTestCatalog(backend) { catalog, _ in
            for sid in ["CA1", "CA2", "CA3", "CA4"] {
                try await catalog.recordPlacedCall(Fixture.placed(sid: sid))
            }
            for sid in ["CA1", "CA2", "CA3"] {
                try await catalog.appendStatus(
                    callSid: sid,
                    StatusChange(
                        status: "completed",
                        source: .callback,
                        at: at(5),
                        recordingURL: "https://r.example/\(sid).mp3"
                    )
                )
            }
            #expect(try await catalog.callsWithUnqueuedRecordings().map(\.callSid) == ["CA1", "CA2", "CA3"])
            _ = try await catalog.enqueueDownload(
                callSid: "CA1",
                url: "https://r.example/CA1.mp3",
                notBefore: t0,
                at: t0
            )
            try await catalog.upsertRecording(
                from: Fixture.recordingSidecar(
                    callSid: "CA2",
                    url: "https://r.example/CA2.mp3",
                    bytes: 1,
                    sha256: "00"
                ),
                path: "media/acme/CA2/recording.mp3"
            )
            #expect(try await catalog.callsWithUnqueuedRecordings().map(\.callSid) == ["CA3"])
        }
    }
}
