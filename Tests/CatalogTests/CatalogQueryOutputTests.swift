import Catalog
import Foundation
import MediaStore
import Testing

/// ``CallListingFormat``: the table, JSON and JSON lines `exorec catalog ls | search | show` print.
@Suite(.timeLimit(.minutes(1)))
struct CatalogQueryOutputTests {
    struct Row: Decodable {
        struct Call: Decodable {
            var call_sid: String
            var from: String?
            var status: String
        }

        var call: Call
        var streams: Int
        var recordings: Int
        var interrupted: Bool
        var unknown_outcome: Bool
    }

    func summaries() async throws -> [CallSummary] {
        try await withTestCatalog { catalog, _ async throws in
            try await CatalogQuerySearchTests.seed(catalog)
            return try await CallSearch().run(on: catalog)
        }
    }

    @Test func tableHasHeaderAndOneAlignedRowPerCall() async throws {
        let lines = try CallListingFormat.table.lines(for: try await self.summaries())
        #expect(lines.count == 4)
        #expect(lines[0].hasPrefix("CALL SID"))
        for title in CallListingFormat.tableHeader { #expect(lines[0].contains(title)) }
        #expect(lines[1].hasPrefix("CA3 "))
        #expect(lines[1].contains("interrupted,unknown"))
        #expect(lines[1].contains("1s/0r"))
        #expect(lines[3].hasPrefix("CA1 "))
        #expect(lines[3].contains("completed"))
        #expect(lines[3].contains("1s/1r"))
        #expect(lines[3].contains("2025-11-23 "))
        // Columns line up: STATUS starts at the same offset in every row.
        let offset = try #require(lines[0].range(of: "STATUS")).lowerBound.utf16Offset(in: lines[0])
        let statusInRow = try #require(lines[3].range(of: "completed")).lowerBound.utf16Offset(in: lines[3])
        #expect(offset == statusInRow)
    }

    @Test func jsonIsOneArray() async throws {
        let lines = try CallListingFormat.json.lines(for: try await self.summaries())
        #expect(lines.count == 1)
        let rows = try JSONDecoder().decode([Row].self, from: Data(lines[0].utf8))
        #expect(rows.map(\.call.call_sid) == ["CA3", "CA2", "CA1"])
        #expect(rows[0].interrupted && rows[0].unknown_outcome)
        #expect(rows[2].recordings == 1 && rows[2].streams == 1)
        #expect(rows[2].call.from == "09876543210")  // stored as the platform got it
    }

    @Test func jsonLinesAreOneObjectPerLine() async throws {
        let lines = try CallListingFormat.jsonl.lines(for: try await self.summaries())
        #expect(lines.count == 3)
        for line in lines { #expect(!line.contains("\n")) }
        let rows = try lines.map { try JSONDecoder().decode(Row.self, from: Data($0.utf8)) }
        #expect(rows.map(\.call.call_sid) == ["CA3", "CA2", "CA1"])
    }

    @Test func emptyListingIsHeaderOrEmptyArray() throws {
        #expect(try CallListingFormat.table.lines(for: [CallSummary]()).count == 1)
        #expect(try CallListingFormat.json.lines(for: [CallSummary]()) == ["[]"])
        #expect(try CallListingFormat.jsonl.lines(for: [CallSummary]()).isEmpty)
    }

    @Test(arguments: CatalogTestBackend.all) func showPrintsEverySectionAndDecodes(
        backend: CatalogTestBackend
    ) async throws {
        let detail = try await withTestCatalog(backend) { catalog, _ async throws in
            try await CatalogQuerySearchTests.seed(catalog)
            _ = try await catalog.recordCallback(Fixture.received(Fixture.callback(sid: "CA1"), at: at(300)))
            return try #require(try await CallDetail.load(callSid: "CA1", from: catalog))
        }
        let text = try CallListingFormat.table.lines(for: detail).joined(separator: "\n")
        for section in [
            "call CA1", "parameters", "status history", "callbacks (1, 1 deliveries)", "media files (2)",
            "downloads (0)",
        ] {
            #expect(text.contains(section))
        }
        #expect(text.contains("media/acme/CA1/recording.mp3"))
        #expect(text.contains(String(repeating: "ab", count: 32)))
        #expect(text.contains("CustomField = order_1"))
        let json = try CallListingFormat.json.lines(for: detail)
        #expect(json.count == 1)
        let decoded = try JSONDecoder().decode(CallDetail.self, from: Data(json[0].utf8))
        #expect(decoded == detail)
    }
}
