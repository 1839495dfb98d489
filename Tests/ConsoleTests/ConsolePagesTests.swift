import Catalog
import Console
import ExorecTesting
import Foundation
import MediaStore
import NIOHTTP1
import Testing

/// The console's call list (search, keyset pages), media (playback audit, peaks, growing files) and export,
/// over HTTP, on both catalog backends.
@Suite(.timeLimit(.minutes(5)))
struct ConsolePagesTests {
    static func callSids(_ json: [UInt8]) throws -> (sids: [String], next: String?) {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any])
        let calls = try #require(object["calls"] as? [[String: Any]])
        return (calls.compactMap { $0["call_sid"] as? String }, object["next"] as? String)
    }

    @Test(arguments: CatalogTestBackend.all)
    func theListSearchesAnyNumberFormAndPagesByKeyset(_ backend: CatalogTestBackend) async throws {
        let storage = try ConsoleHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: storage) }
        try await ConsoleHarness.withCatalogPath(backend, storage: storage) { catalogPath in
            try await ConsoleHarness.run(catalogPath: catalogPath, storageRoot: storage) { h in
                let t0 = Timestamp(millisecondsSinceEpoch: 1_780_000_000_000)
                // 25 calls, three of them at the same millisecond (the keyset's tie-break is the CallSid).
                for index in 0..<25 {
                    let at = Timestamp(millisecondsSinceEpoch: t0.millisecondsSinceEpoch + Int64(min(index, 22)) * 1000)
                    let from = index % 5 == 0 ? "09876543210" : "0911111\(String(format: "%04d", index))"
                    try await h.catalog.recordPlacedCall(
                        ConsoleHarness.placed(sid: String(format: "CApage%02d", index), at: at, from: from)
                    )
                }
                let browser = TestBrowser(h)
                #expect(try await browser.signIn("vera").status == 303)
                var seen: [String] = []
                var next: String? = nil
                var pages = 0
                repeat {
                    let path = "/console/api/calls?limit=10" + (next.map { "&after=" + TestBrowser.encode($0) } ?? "")
                    let answer = try await browser.get(path)
                    #expect(answer.status == 200, "\(answer.text.prefix(300))")
                    let page = try Self.callSids(answer.body)
                    seen += page.sids
                    next = page.next
                    pages += 1
                } while next != nil && pages < 20
                let expected = (0..<25).map { String(format: "CApage%02d", $0) }.sorted { a, b in
                    let (ia, ib) = (Int(a.suffix(2))!, Int(b.suffix(2))!)
                    return min(ia, 22) != min(ib, 22) ? min(ia, 22) > min(ib, 22) : a > b
                }
                #expect(seen == expected, "every call once, newest first, across \(pages) pages")
                #expect(pages == 3)
                // The number typed any way finds the same five calls.
                for typed in ["+91 98765 43210", "098765-43210", "9876543210", "+91-98765-43210"] {
                    let answer = try await browser.get("/console/api/calls?number=" + TestBrowser.encode(typed))
                    let found = try Self.callSids(answer.body).sids
                    #expect(
                        Set(found) == ["CApage00", "CApage05", "CApage10", "CApage15", "CApage20"],
                        "\(typed): \(found)"
                    )
                }
                // What the catalog holds is escaped in the pages: a number that is HTML stays text.
                try await h.catalog.recordPlacedCall(
                    ConsoleHarness.placed(sid: "CAxss", at: t0, from: "<script>alert(1)</script>\"'")
                )
                let listed = try await browser.get("/console/calls?call_sid=CAxss")
                #expect(listed.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;"))
                #expect(!listed.text.contains("<script>alert"))
                let page = try await browser.get("/console/calls?number=" + TestBrowser.encode("+91 98765 43210"))
                #expect(page.text.contains("CApage05") && !page.text.contains("CApage06"))
                // Hostile or malformed search parameters are refused with a reason, not a crash.
                for bad in [
                    "after=garbage", "limit=0", "limit=9999", "from=yesterday", "number=abc",
                    "call_sid=" + String(repeating: "x", count: 500),
                ] {
                    #expect(try await browser.get("/console/calls?" + bad).status == 400, "\(bad)")
                }
            }
        }
    }

    @Test(arguments: CatalogTestBackend.all)
    func playbackIsAuditedPeaksAreCachedAndABagExports(_ backend: CatalogTestBackend) async throws {
        let storage = try ConsoleHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: storage) }
        try await ConsoleHarness.withCatalogPath(backend, storage: storage) { catalogPath in
            try await ConsoleHarness.run(catalogPath: catalogPath, storageRoot: storage) { h in
                try await h.catalog.recordPlacedCall(ConsoleHarness.placed(sid: "CAmedia1", at: .now()))
                let mediaID = try await h.addDualStream(callSid: "CAmedia1")
                let viewer = TestBrowser(h)
                #expect(try await viewer.signIn("vera").status == 303)
                let page = try await viewer.get("/console/calls/CAmedia1")
                #expect(
                    page.text.contains("Leg 1") && page.text.contains("Leg 2") && page.text.contains("data-solo=\"2\"")
                )

                // The whole file, as the internal door serves it; a later range is not another listening.
                let whole = try await viewer.get("/console/media/\(mediaID)")
                let onDisk = try Array(
                    Data(contentsOf: URL(fileURLWithPath: storage + "/media/acct1/CAmedia1/stream-STCAmedia1.wav"))
                )
                #expect(whole.status == 200 && whole.body == onDisk)
                let part = try await viewer.get("/console/media/\(mediaID)", headers: [("Range", "bytes=100-199")])
                #expect(part.status == 206 && part.body == Array(onDisk[100...199]))
                let download = try await viewer.get("/console/media/\(mediaID)?download=1")
                #expect(download.headers.first(name: "content-disposition")?.hasPrefix("attachment") == true)
                let audit = try await h.catalog.auditEntries(callSid: "CAmedia1")
                #expect(audit.filter { $0.action == "console.play" && $0.actor == "console:vera" }.count == 1)
                #expect(audit.filter { $0.action == "console.download" && $0.actor == "console:vera" }.count == 1)

                // Peaks: two channels, leg 2 silent for its first half; cached outside media/ by the file's SHA-256.
                let peaks = try await viewer.get("/console/media/\(mediaID)/peaks")
                let object = try #require(try JSONSerialization.jsonObject(with: Data(peaks.body)) as? [String: Any])
                let channels = try #require(object["channels"] as? [[Double]])
                #expect(channels.count == 2)
                #expect(channels[0].prefix(300).allSatisfy { $0 > 0.1 }, "leg 1 sounds throughout")
                #expect(
                    channels[1].prefix(300).allSatisfy { $0 == 0 } && channels[1].suffix(300).allSatisfy { $0 > 0.05 }
                )
                let sha = try #require(try await h.catalog.mediaFile(id: mediaID)?.sha256)
                #expect(FileManager.default.fileExists(atPath: "\(storage)/cache/console-peaks/\(sha).json"))
                #expect(
                    !FileSystem.files(under: storage + "/media", withSuffix: ".json").contains { $0.contains("peaks") }
                )

                // A viewer cannot export; an auditor gets a tar of a bag that bagit validates.
                let viewerToken = try await viewer.csrf()
                #expect(
                    try await viewer.post("/console/export", [("csrf", viewerToken), ("call_sid", "CAmedia1")]).status
                        == 403
                )
                let auditor = TestBrowser(h)
                #expect(try await auditor.signIn("audrey").status == 303)
                let token = try await auditor.csrf()
                let tar = try await auditor.post("/console/export", [("csrf", token), ("call_sid", "CAmedia1")])
                #expect(tar.status == 200 && tar.headers.first(name: "content-type") == "application/x-tar")
                let unpacked = storage + "/unpacked"
                try FileManager.default.createDirectory(atPath: unpacked, withIntermediateDirectories: true)
                try Data(tar.body).write(to: URL(fileURLWithPath: storage + "/bag.tar"))
                let listing = try await OutsideReader.run(["tar", "-xvf", storage + "/bag.tar", "-C", unpacked])
                #expect(listing.contains("bagit.txt"), "\(listing)")
                let folder = try #require(try FileManager.default.contentsOfDirectory(atPath: unpacked).first)
                #expect(try await OutsideReader.bagitProblem(unpacked + "/" + folder) == nil)
                let leftOver =
                    (try? FileManager.default.contentsOfDirectory(atPath: storage + "/cache/console-exports")) ?? []
                #expect(leftOver.isEmpty, "the work folder is removed once sent: \(leftOver)")
                let exported = try await h.catalog.auditEntries().filter { $0.actor == "console:audrey" }.map(\.action)
                #expect(exported.contains("console.export") && exported.contains("export.completed"))
                // A search export too (every call with this number).
                let search = try await auditor.post("/console/export", [("csrf", token), ("number", "98765 43210")])
                #expect(search.status == 200 && search.headers.first(name: "x-exorec-export-calls") == "1")
                // A selection of two calls (ticked in the list): one bag per call, side by side in one tar.
                try await h.catalog.recordPlacedCall(ConsoleHarness.placed(sid: "CAmedia2", at: .now()))
                _ = try await h.addDualStream(callSid: "CAmedia2")
                let selection = try await auditor.post(
                    "/console/selection",
                    [("csrf", token), ("call_sid", "CAmedia1"), ("call_sid", "CAmedia2"), ("action", "export")]
                )
                #expect(selection.status == 200 && selection.headers.first(name: "x-exorec-export-calls") == "2")
                let two = storage + "/two"
                try FileManager.default.createDirectory(atPath: two, withIntermediateDirectories: true)
                try Data(selection.body).write(to: URL(fileURLWithPath: storage + "/two.tar"))
                _ = try await OutsideReader.run(["tar", "-xf", storage + "/two.tar", "-C", two])
                let top = try #require(try FileManager.default.contentsOfDirectory(atPath: two).first)
                for sid in ["CAmedia1", "CAmedia2"] {
                    #expect(try await OutsideReader.bagitProblem("\(two)/\(top)/\(sid)") == nil, "\(sid)'s bag")
                }
                // And verified together: one page, an entry per call. These test files have no sidecar, which
                // the verification finds (as `exorec verify` does).
                let verified = try await auditor.post(
                    "/console/selection",
                    [("csrf", token), ("call_sid", "CAmedia1"), ("call_sid", "CAmedia2"), ("action", "verify")]
                )
                #expect(
                    verified.status == 200 && verified.text.contains("CAmedia1: 1 problem(s) — sidecar-mismatch")
                        && verified.text.contains("CAmedia2: 1 problem(s) — sidecar-mismatch"),
                    "\(verified.text)"
                )
                let perCall = try await h.catalog.auditEntries().filter { $0.action == "console.verify" }
                #expect(Set(perCall.compactMap(\.callSid)) == ["CAmedia1", "CAmedia2"])
                let listed = try await auditor.get("/console/calls")
                #expect(listed.text.contains("1 problem(s)"), "the list shows the verify state")
                // A later `exorec verify` that found a problem (its archive.problem entry) is the state now.
                try await h.catalog.appendAudit(
                    AuditEvent(
                        at: .now(),
                        actor: "cli",
                        action: "archive.problem",
                        callSid: "CAmedia2",
                        detail: ["kind": "size-mismatch", "detail": "test"]
                    )
                )
                #expect(try await auditor.get("/console/calls").text.contains("problem: size-mismatch"))
            }
        }
    }

    /// Two nodes on one catalog: both list the same calls; a stream another node is recording is served live
    /// when its growing file is on this node's storage (a shared root), and otherwise the page says which
    /// nodes are live and where their consoles are.
    @Test(arguments: CatalogTestBackend.all)
    func aLiveStreamOfTheOtherNodeIsServedOrLocated(_ backend: CatalogTestBackend) async throws {
        let shared = try ConsoleHarness.temporaryDirectory()
        let elsewhere = try ConsoleHarness.temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(atPath: shared)
            try? FileManager.default.removeItem(atPath: elsewhere)
        }
        try await ConsoleHarness.withCatalogPath(backend, storage: shared) { catalogPath in
            try await ConsoleHarness.run(catalogPath: catalogPath, storageRoot: shared, node: "alpha") { alpha in
                try await ConsoleHarness.run(
                    catalogPath: catalogPath,
                    storageRoot: elsewhere,
                    node: "beta",
                    tweak: { $0.nodeURLs = ["alpha": "https://alpha.example/console/"] }
                ) { beta in
                    try await alpha.catalog.recordPlacedCall(ConsoleHarness.placed(sid: "CAlive1", at: .now()))
                    _ = try await alpha.addDualStream(callSid: "CAlive1")
                    // Alpha is still writing it: the catalog says recording.
                    var file = try #require(try await alpha.catalog.mediaFiles(callSid: "CAlive1").first)
                    file.state = .recording
                    file.sha256 = nil
                    try await alpha.catalog.upsertMediaFile(file)
                    let mediaID = try #require(
                        try await alpha.catalog.mediaFilesWithIDs(callSid: "CAlive1").first?.mediaID
                    )

                    let onAlpha = TestBrowser(alpha)
                    #expect(try await onAlpha.signIn("vera").status == 303)
                    let live = try await onAlpha.get("/console/media/\(mediaID)")
                    #expect(live.status == 200 && live.headers.first(name: "x-exorec-media-state") == "recording")
                    #expect(live.headers.first(name: "cache-control") == "no-store")
                    #expect(try await onAlpha.get("/console/calls/CAlive1").text.contains("recording now"))

                    let onBeta = TestBrowser(beta)
                    #expect(try await onBeta.signIn("vera").status == 303)
                    #expect(try await onBeta.get("/console/calls").text.contains("CAlive1"), "beta lists alpha's call")
                    let page = try await onBeta.get("/console/calls/CAlive1")
                    #expect(page.text.contains("being recorded by another node"), "\(page.text)")
                    #expect(page.text.contains("alpha on ") && page.text.contains("https://alpha.example/console/"))
                }
            }
        }
    }
}
