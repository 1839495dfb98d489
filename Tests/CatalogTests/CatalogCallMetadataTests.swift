import ExotelKit
import Foundation
import MediaStore
import Testing

@testable import Catalog

/// Issue 12: a call's metadata (a campaign row's extra columns, `exorec call --meta`) is the call's: in the
/// catalog's row, in `call.json`, searchable exactly, and restored by a rebuild.
@Suite(.timeLimit(.minutes(2)))
struct CatalogCallMetadataTests {
    static let metadata = ["name": "Doe, Jane\r\nsecond line", "crm.id": "A-1", "quote\"key": "it's"]

    static func placed(sid: String, metadata: [String: String], at time: Timestamp = t0) -> PlacedCall {
        var call = Fixture.placed(sid: sid, at: time)
        call.metadata = metadata
        return call
    }

    @Test(arguments: CatalogTestBackend.all) func metadataIsStoredWithTheCallAndInItsSidecar(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, path async throws in
            try await catalog.recordPlacedCall(Self.placed(sid: "CA1", metadata: Self.metadata))
            try await catalog.recordPlacedCall(Self.placed(sid: "CA2", metadata: [:], at: at(5)))
            #expect(try await catalog.call(sid: "CA1")?.metadata == Self.metadata)
            #expect(try await catalog.call(sid: "CA2")?.metadata == [:])

            // One JSON object in the row, NULL for none, readable without exorec.
            let rows = try await rawSQL(path, "SELECT call_sid, metadata_json FROM calls ORDER BY call_sid")
            let stored =
                try JSONSerialization.jsonObject(with: Data(try #require(rows.first?["metadata_json"]).utf8))
                as? [String: String]
            #expect(stored == Self.metadata)
            #expect(rows.last?["metadata_json"] == "NULL")

            let sidecar = try #require(try await catalog.callSidecar(callSid: "CA1", exorecVersion: "test"))
            #expect(sidecar.metadata == Self.metadata)
            let file = try JSONSerialization.jsonObject(with: Data(sidecar.encoded())) as? [String: Any]
            #expect(file?["metadata"] as? [String: String] == Self.metadata)
            let bare = try #require(try await catalog.callSidecar(callSid: "CA2", exorecVersion: "test"))
            #expect(bare.metadata == nil)
            #expect(!String(decoding: bare.encoded(), as: UTF8.self).contains("\"metadata\""))

            // `catalog show --json` (the call detail) carries it.
            let detail = try #require(try await CallDetail.load(callSid: "CA1", from: catalog))
            let json = try #require(try CallListingFormat.json.lines(for: detail).first)
            let decoded = try JSONDecoder().decode(CallDetail.self, from: Data(json.utf8))
            #expect(decoded.call.metadata == Self.metadata)
            let text = CallListingFormat.describe(detail).joined(separator: "\n")
            #expect(text.contains("metadata\n  crm.id = A-1\n  name = Doe, Jane\\r\\nsecond line\n"), "\(text)")
        }
    }

    @Test(arguments: CatalogTestBackend.all) func searchMatchesEveryPairExactly(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            try await catalog.recordPlacedCall(Self.placed(sid: "CA1", metadata: Self.metadata))
            try await catalog.recordPlacedCall(
                Self.placed(sid: "CA2", metadata: ["name": "Ravi", "crm.id": "A-1"], at: at(5))
            )
            try await catalog.recordPlacedCall(Self.placed(sid: "CA3", metadata: [:], at: at(9)))

            func found(_ metadata: [String: String]) async throws -> [String] {
                var search = CallSearch()
                search.metadata = metadata
                #expect(search.hasFilters)
                return try await search.run(on: catalog).map(\.call.callSid)
            }
            #expect(try await found(["crm.id": "A-1"]) == ["CA2", "CA1"])
            #expect(try await found(["crm.id": "A-1", "name": "Ravi"]) == ["CA2"])
            #expect(try await found(["name": "Doe, Jane\r\nsecond line"]) == ["CA1"])
            #expect(try await found(["quote\"key": "it's"]) == ["CA1"])
            // Exact: no prefix, no case folding of values, no match on a value under another key.
            #expect(try await found(["name": "Doe"]) == [])
            #expect(try await found(["name": "ravi"]) == [])
            #expect(try await found(["crm.id": "Ravi"]) == [])
            #expect(try await found(["missing": ""]) == [])
        }
    }

    @Test func aRebuildRestoresTheMetadataFromCallJSON() async throws {
        try await withTemporaryDirectory { root async throws in
            let layout = StorageLayout(root: root)
            let catalogPath = "\(root)/catalog.sqlite"
            let before = try await Catalog.withCatalog(path: catalogPath, logger: testLogger) { catalog async throws in
                for (index, metadata) in [Self.metadata, [:]].enumerated() {
                    let sid = "CA\(index + 1)"
                    try await catalog.recordPlacedCall(Self.placed(sid: sid, metadata: metadata, at: at(Int64(index))))
                    let directory = layout.callDirectory(
                        account: try PathSafeIdentifier(Fixture.account, field: "account"),
                        callSid: try PathSafeIdentifier(sid, field: "call"),
                        startedAt: t0
                    )
                    try FileSystem.makeDirectories(directory)
                    let sidecar = try #require(try await catalog.callSidecar(callSid: sid, exorecVersion: "test"))
                    try sidecar.write(to: CallSidecar.path(inCallDirectory: directory), durable: false)
                }
                return try await catalog.snapshot()
            }
            let report = try await CatalogRebuilder(layout: layout, logger: testLogger).rebuild(at: at(100))
            #expect(report.calls == 2 && report.problems == [], "\(report.problems)")
            try await Catalog.withCatalog(path: catalogPath, logger: testLogger) { rebuilt async throws in
                let after = try await rebuilt.snapshot()
                #expect(before.differences(from: after) == [])
                #expect(after.calls["CA1"]?.metadata == Self.metadata)
                var search = CallSearch()
                search.metadata = ["crm.id": "A-1"]
                #expect(try await search.run(on: rebuilt).map(\.call.callSid) == ["CA1"])
            }
        }
    }

    @Test func metadataRulesBoundWhatIsKept() {
        #expect(CallMetadata.problems(Self.metadata) == [])
        let tooMany = Dictionary(uniqueKeysWithValues: (0...CallMetadata.maximumEntries).map { ("k\($0)", "v") })
        #expect(CallMetadata.problems(tooMany).first?.contains("at most 32") == true)
        #expect(
            CallMetadata.problems([String(repeating: "k", count: 65): "v"]).first?.contains("longer than 64 bytes")
                == true
        )
        #expect(
            CallMetadata.problems(["k": String(repeating: "v", count: 1025)]).first?.contains("longer than 1024 bytes")
                == true
        )
        #expect(CallMetadata.problems(["k": "a\u{0}b"]).first?.contains("control character") == true)
        #expect(CallMetadata.problems(["k\u{1B}": "v"]).first?.contains("control character") == true)
        #expect(CallMetadata.problems(["": "v"]) == ["a metadata key is empty"])
        #expect(CallMetadata.problems(["k": "tab\tand\r\nbreaks"]) == [])

        let pair = try? CallMetadata.pair("  CRM_Id =a=b").get()
        #expect(pair?.key == "crm_id" && pair?.value == "a=b")
        #expect((try? CallMetadata.pair("no-equals").get()) == nil)
        #expect((try? CallMetadata.pair("=v").get()) == nil)
    }
}
