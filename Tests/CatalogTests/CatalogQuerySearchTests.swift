import Catalog
import ExotelKit
import Foundation
import MediaStore
import Testing

/// ``CallSearch`` against a catalog built through the Catalog API: one test per filter.
@Suite(.timeLimit(.minutes(1)))
struct CatalogQuerySearchTests {
    /// CA1: 0987… → 0912…, completed, stream + recording, field order_1, at t0.
    /// CA2: +91 98111… → 91 98222…, failed, no media, field order_2, at t0 + 1 h.
    /// CA3: 9876543210 → 022 41234567 (not 10 digits after 0), no terminal status, interrupted stream, at t0 + 1 day.
    static func seed(_ catalog: Catalog) async throws {
        _ = try await catalog.recordPlacedCall(
            placed(sid: "CA1", at: t0, from: "09876543210", to: "09123456789", field: "order_1")
        )
        _ = try await catalog.recordPlacedCall(
            placed(sid: "CA2", at: at(3600), from: "+91 98111 11111", to: "919822222222", field: "order_2")
        )
        _ = try await catalog.recordPlacedCall(
            placed(sid: "CA3", at: at(86_400), from: "9876543210", to: "02241234567", field: "order_3")
        )
        try await catalog.appendStatus(
            callSid: "CA1",
            StatusChange(status: "completed", source: .callback, at: at(300))
        )
        try await catalog.appendStatus(callSid: "CA2", StatusChange(status: "failed", source: .callback, at: at(3700)))
        try await catalog.upsertStream(
            from: try Fixture.streamSidecar(callSid: "CA1", streamSid: "ST1"),
            path: "media/acme/CA1/stream-ST1.wav"
        )
        try await catalog.upsertRecording(
            from: Fixture.recordingSidecar(
                callSid: "CA1",
                url: "https://recordings.example/CA1.mp3",
                bytes: 10,
                sha256: String(repeating: "ab", count: 32)
            ),
            path: "media/acme/CA1/recording.mp3"
        )
        try await catalog.upsertStream(
            from: try Fixture.streamSidecar(
                callSid: "CA3",
                streamSid: "ST3",
                state: .interrupted,
                startedAt: at(86_402)
            ),
            path: "media/acme/CA3/stream-ST3.wav"
        )
    }

    static func placed(sid: String, at time: Timestamp, from: String, to: String, field: String) -> PlacedCall {
        var request = ConnectCallRequest(from: from, callerId: "08047112233", destination: .number(to))
        request.customField = field
        return PlacedCall(
            request: request,
            response: Fixture.response(sid: sid),
            accountSid: Fixture.account,
            placedAt: time
        )
    }

    func sids(_ configure: (inout CallSearch) -> Void) async throws -> [String] {
        try await withTestCatalog { catalog, _ async throws in
            try await Self.seed(catalog)
            var search = CallSearch()
            configure(&search)
            return try await search.run(on: catalog).map(\.call.callSid)
        }
    }

    @Test func noFiltersListsNewestFirst() async throws {
        #expect(try await self.sids { _ in } == ["CA3", "CA2", "CA1"])
        #expect(try await self.sids { $0.limit = 2 } == ["CA3", "CA2"])
        #expect(!CallSearch().hasFilters)
    }

    /// The SQL pages are walked to the end, so the newest calls come first even when there are more candidates than a page.
    @Test func newestFirstAcrossPages() async throws {
        #expect(
            try await self.sids {
                $0.pageSize = 1
                $0.limit = 2
            } == ["CA3", "CA2"]
        )
    }

    @Test func timeRange() async throws {
        #expect(try await self.sids { $0.placedFrom = at(1) } == ["CA3", "CA2"])
        #expect(try await self.sids { $0.placedBefore = at(3600) } == ["CA1"])
        #expect(
            try await self.sids {
                $0.placedFrom = at(3600)
                $0.placedBefore = at(3601)
            } == ["CA2"]
        )
    }

    @Test(arguments: [
        ("+919876543210", ["CA3", "CA1"]),  // From of CA1 (0…) and CA3 (10 digits)
        ("98765 43210", ["CA3", "CA1"]),
        ("0981-111-1111", ["CA2"]),  // From typed with + and spaces
        ("+91 98222 22222", ["CA2"]),  // To stored as 91…
        ("080 4711 2233", ["CA3", "CA2", "CA1"]),  // CallerId
        ("02241234567", ["CA3"]),  // 0 + 10 digits
        ("09999999999", []),
    ])
    func number(typed: String, expected: [String]) async throws {
        #expect(try await self.sids { $0.number = typed } == expected)
    }

    @Test func callSidStatusAndCustomField() async throws {
        #expect(try await self.sids { $0.callSid = "CA2" } == ["CA2"])
        #expect(try await self.sids { $0.status = "completed" } == ["CA1"])
        #expect(try await self.sids { $0.customField = "order_3" } == ["CA3"])
        #expect(
            try await self.sids {
                $0.customField = "order_3"
                $0.status = "completed"
            } == []
        )
    }

    @Test func mediaKindRecordingAndInterrupted() async throws {
        #expect(try await self.sids { $0.mediaKind = .stream } == ["CA3", "CA1"])
        #expect(try await self.sids { $0.mediaKind = .recording } == ["CA1"])
        #expect(try await self.sids { $0.hasRecording = true } == ["CA1"])
        #expect(try await self.sids { $0.interrupted = true } == ["CA3"])
    }

    @Test(arguments: CatalogTestBackend.all) func summariesCountMediaAndFlags(backend: CatalogTestBackend) async throws
    {
        try await withTestCatalog(backend) { catalog, _ async throws in
            try await Self.seed(catalog)
            let summaries = try await CallSearch().run(on: catalog)
            let byId = Dictionary(uniqueKeysWithValues: summaries.map { ($0.call.callSid, $0) })
            let one = try #require(byId["CA1"])
            #expect((one.streams, one.recordings, one.interrupted, one.unknownOutcome) == (1, 1, false, false))
            let three = try #require(byId["CA3"])
            #expect((three.streams, three.recordings, three.interrupted, three.unknownOutcome) == (1, 0, true, true))
        }
    }

    @Test(arguments: CatalogTestBackend.all) func detailOfOneCall(backend: CatalogTestBackend) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            try await Self.seed(catalog)
            _ = try await catalog.recordCallback(Fixture.received(Fixture.callback(sid: "CA1"), at: at(300)))
            _ = try await catalog.recordCallback(
                Fixture.received(Fixture.callback(sid: "CA1"), as: .multipart, at: at(301))
            )
            _ = try await catalog.enqueueDownload(
                callSid: "CA1",
                url: "https://recordings.example/CA1.mp3",
                notBefore: at(300),
                at: at(300)
            )
            let detail = try #require(try await CallDetail.load(callSid: "CA1", from: catalog))
            #expect(detail.statusHistory.map(\.status) == ["in-progress", "completed"])
            #expect(detail.callbacks.count == 1)
            #expect(detail.callbacks.first?.deliveries == 2)
            #expect(detail.mediaFiles.map(\.kind) == [.recording, .stream])
            #expect(detail.downloads.count == 1)
            #expect(try await CallDetail.load(callSid: "CA404", from: catalog) == nil)
        }
    }
}
