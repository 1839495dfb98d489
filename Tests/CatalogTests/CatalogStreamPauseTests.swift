import Catalog
import Foundation
import MediaStore
import Testing

/// PCI pause intervals in the catalog: stored from the stream sidecar (`streams.pauses_json`), shown by
/// `catalog show` (table and JSON), absent for streams never paused.
@Suite(.timeLimit(.minutes(1)))
struct CatalogStreamPauseTests {
    static let pauses = [
        StreamSidecar.Pause(
            startFrame: 8000,
            endFrame: 24000,
            pausedAt: at(10),
            resumedAt: at(12),
            by: "agent-7",
            reason: "card\u{1b}[2Jnumber"
        ),
        StreamSidecar.Pause(
            startFrame: 40000,
            endFrame: 48000,
            pausedAt: at(15),
            resumedAt: at(16),
            by: "api:127.0.0.1",
            reason: nil,
            endedWithStream: true
        ),
    ]

    @Test(arguments: CatalogTestBackend.all) func intervalsAreStoredFromTheSidecarAndShown(
        backend: CatalogTestBackend
    ) async throws {
        let detail = try await withTestCatalog(backend) { catalog, _ async throws in
            try await CatalogQuerySearchTests.seed(catalog)
            var sidecar = try Fixture.streamSidecar(callSid: "CA1", streamSid: "STp1")
            sidecar.pauses = Self.pauses
            try await catalog.upsertStream(from: sidecar, path: "media/acme/CA1/stream-STp1.wav")
            let stream = try await catalog.streams(callSid: "CA1").first { $0.streamSid == "STp1" }
            #expect(stream?.pauses == Self.pauses)
            let others = try await catalog.streams(callSid: "CA1").filter { $0.streamSid != "STp1" }
            #expect(others.allSatisfy { $0.pauses == nil })
            return try #require(try await CallDetail.load(callSid: "CA1", from: catalog))
        }
        #expect(detail.pauses?.map(\.interval) == Self.pauses)
        #expect(detail.pauses?.allSatisfy { $0.streamSid == "STp1" && $0.sampleRate == 8000 } == true)
        let text = try CallListingFormat.table.lines(for: detail).joined(separator: "\n")
        #expect(text.contains("pauses (2;"), "\(text)")
        #expect(text.contains("1.000s") && text.contains("3.000s") && text.contains("agent-7"), "\(text)")
        #expect(text.contains("(stream ended)"), "\(text)")
        #expect(!text.contains("\u{1b}"), "a reason from outside is printed escaped")
        let json = try CallListingFormat.json.lines(for: detail)
        #expect(json[0].contains("\"pauses\":[") && json[0].contains("\"start_frame\":8000"))
        #expect(try JSONDecoder().decode(CallDetail.self, from: Data(json[0].utf8)) == detail)
    }

    @Test(arguments: CatalogTestBackend.all) func aCallNeverPausedShowsNoPauses(
        backend: CatalogTestBackend
    ) async throws {
        let detail = try await withTestCatalog(backend) { catalog, _ async throws in
            try await CatalogQuerySearchTests.seed(catalog)
            return try #require(try await CallDetail.load(callSid: "CA1", from: catalog))
        }
        #expect(detail.pauses == nil)
        #expect(!(try CallListingFormat.table.lines(for: detail).joined().contains("pauses")))
        #expect(!(try CallListingFormat.json.lines(for: detail)[0].contains("\"pauses\"")))
    }
}
