import ExorecTesting
import Foundation
import Testing

/// `exorec catalog ls | search | show` as a user runs them, on the catalog `exorec demo` leaves behind
/// (5 calls: 3 completed with a stream and a recording each, one busy, one no-answer).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct CatalogQueryCommandTests {
    struct Row: Decodable {
        struct Call: Decodable {
            var call_sid: String
            var from: String?
            var to: String?
            var status: String
            var placed_at: String
        }

        var call: Call
        var streams: Int
        var recordings: Int
    }

    struct Detail: Decodable {
        struct File: Decodable {
            var kind: String
            var path: String
            var sha256: String?
        }

        var call: Row.Call
        var media_files: [File]
        var status_history: [[String: AnyDecodable]]
    }

    struct AnyDecodable: Decodable {
        init(from decoder: any Decoder) throws {}
    }

    /// One demo run shared by the tests (it takes a few seconds).
    static let storage: Task<String, any Error> = Task {
        let storage = makeTemporaryDirectory()
        let demo = try await ExorecProcess.run(["demo", "--storage", storage, "--speed", "40", "--quiet"])
        guard demo.status == 0 else { throw DemoFailed(errors: demo.errors) }
        return storage
    }

    struct DemoFailed: Error { var errors: String }

    func run(_ arguments: [String]) async throws -> (status: Int32, output: String, errors: String) {
        try await ExorecProcess.run(["catalog"] + arguments + ["--storage", try await Self.storage.value])
    }

    func rows(_ output: String) throws -> [Row] {
        do {
            return try JSONDecoder().decode([Row].self, from: Data(output.utf8))
        } catch {
            throw TestFailure("not a JSON array of calls (\(error)): \(output.prefix(2_000))")
        }
    }

    @Test func lsPrintsATableNewestFirst() async throws {
        let result = try await self.run(["ls"])
        #expect(result.status == 0, "\(result.errors)")
        let lines = result.output.split(separator: "\n")
        #expect(lines.count == 6)
        #expect(lines.first?.hasPrefix("CALL SID") == true)
        #expect(lines.first?.contains("PLACED (UTC)") == true)
        let listed = try await self.run(["ls", "--json"])
        #expect(listed.status == 0, "\(listed.errors)")
        let json = try self.rows(listed.output)
        #expect(json.count == 5)
        #expect(json.map(\.call.placed_at) == json.map(\.call.placed_at).sorted().reversed())
        #expect(lines.dropFirst().map { String($0.prefix { $0 != " " }) } == json.map(\.call.call_sid))
    }

    @Test func jsonLinesAreOneObjectPerCall() async throws {
        let result = try await self.run(["ls", "--jsonl", "--limit", "3"])
        #expect(result.status == 0, "\(result.errors)")
        let lines = result.output.split(separator: "\n")
        #expect(lines.count == 3)
        for line in lines { _ = try JSONDecoder().decode(Row.self, from: Data(line.utf8)) }
    }

    @Test func searchFilters() async throws {
        let completed = try self.rows(try await self.run(["search", "--status", "completed", "--json"]).output)
        #expect(completed.count == 3)
        #expect(completed.allSatisfy { $0.streams == 1 && $0.recordings == 1 })
        let recorded = try self.rows(try await self.run(["search", "--has-recording", "--json"]).output)
        #expect(Set(recorded.map(\.call.call_sid)) == Set(completed.map(\.call.call_sid)))
        let streams = try self.rows(try await self.run(["search", "--kind", "stream", "--json"]).output)
        #expect(streams.count == 3)
        let one = try #require(completed.first)
        let bySid = try self.rows(try await self.run(["search", "--call-sid", one.call.call_sid, "--json"]).output)
        #expect(bySid.map(\.call.call_sid) == [one.call.call_sid])
    }

    /// The number as stored, re-typed with spaces and dashes, still finds the call.
    @Test func searchByNumberTypedAnotherWay() async throws {
        let all = try self.rows(try await self.run(["ls", "--json"]).output)
        let target = try #require(all.first { $0.call.to != nil })
        let stored = try #require(target.call.to)
        try #require(stored.hasPrefix("+91") && stored.count == 13, "the demo's numbers are +91 and 10 digits")
        // National form, with the national prefix 0, a space and a dash: 09123 400-003.
        let digits = stored.suffix(10)
        let retyped = "0\(digits.prefix(4)) \(digits.dropFirst(4).prefix(3))-\(digits.suffix(3))"
        let result = try await self.run(["search", "--number", retyped, "--json"])
        #expect(result.status == 0, "\(retyped): \(result.errors)")
        #expect(try self.rows(result.output).contains { $0.call.call_sid == target.call.call_sid })
    }

    @Test func nothingMatchedExitsThree() async throws {
        let result = try await self.run(["search", "--custom-field", "no-such-field-\(UUID())"])
        #expect(result.status == 3, "\(result.output) \(result.errors)")
        #expect(result.output.isEmpty)
        let json = try await self.run(["search", "--interrupted", "--json"])
        #expect(json.status == 3)
        #expect(json.output.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
    }

    @Test func showPrintsOneCallOrExitsFour() async throws {
        let first = try #require(
            try self.rows(try await self.run(["search", "--status", "completed", "--json"]).output).first
        )
        let text = try await self.run(["show", first.call.call_sid])
        #expect(text.status == 0, "\(text.errors)")
        for section in ["status history", "callbacks", "media files (2)", "downloads"] {
            #expect(text.output.contains(section))
        }
        let json = try await self.run(["show", first.call.call_sid, "--json"])
        let detail = try JSONDecoder().decode(Detail.self, from: Data(json.output.utf8))
        #expect(detail.call.call_sid == first.call.call_sid)
        #expect(Set(detail.media_files.map(\.kind)) == ["stream", "recording"])
        #expect(detail.media_files.allSatisfy { $0.sha256?.count == 64 })
        let missing = try await self.run(["show", "CA-no-such-call"])
        #expect(missing.status == 4, "\(missing.errors)")
    }

    @Test func usageErrorsExitSixtyFour() async throws {
        for arguments in [
            ["search"], ["ls", "--from-time", "yesterday"], ["ls", "--kind", "video"], ["ls", "--json", "--jsonl"],
            ["ls", "--limit", "0"], ["search", "--number", "1", "--country-code", "abc"],
        ] {
            let result = try await self.run(arguments)
            #expect(result.status == 64, "\(arguments): \(result.errors)")
        }
    }

    @Test func missingCatalogIsAnError() async throws {
        let empty = makeTemporaryDirectory()
        let result = try await ExorecProcess.run(["catalog", "ls", "--storage", empty])
        #expect(result.status == 1)
        #expect(result.errors.contains("no catalog"))
        #expect(!FileManager.default.fileExists(atPath: "\(empty)/catalog.sqlite"), "a read command creates nothing")
    }
}
