import Catalog
import Doors
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MediaStore
import NIOCore
import Orchestrator
import Synchronization

extension ConsoleResponder {
    static let maxSelection = 500
    /// The most calls one exported search may hold.
    static let maxExportCalls = 10_000

    static func callSids(_ form: [(String, String)]) throws(ConsoleRefusal) -> [String] {
        let sids = form.filter { $0.0 == "call_sid" }.map(\.1)
        guard !sids.isEmpty else { throw ConsoleRefusal(400, "Nothing selected", "Select at least one call.") }
        guard sids.count <= maxSelection else {
            throw ConsoleRefusal(400, "Too many calls", "At most \(maxSelection) calls at once.")
        }
        guard sids.allSatisfy(isCallSid) else {
            throw ConsoleRefusal(400, "Bad CallSid", "A selected CallSid is not valid.")
        }
        return Array(Set(sids)).sorted()
    }

    // MARK: - Holds

    func hold(_ sid: String, release: Bool, form: [(String, String)], viewer: Viewer) async throws -> Response {
        guard Self.isCallSid(sid) else { throw ConsoleRefusal(404, "No such call", "Not a CallSid.") }
        let reason = form.first { $0.0 == "reason" }?.1.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        do {
            if release {
                try await self.catalog.releaseHold(
                    callSid: sid,
                    reason: reason,
                    by: viewer.user.name,
                    actor: viewer.actor
                )
            } else {
                try await self.catalog.placeHold(
                    callSid: sid,
                    reason: reason,
                    by: viewer.user.name,
                    actor: viewer.actor
                )
            }
        } catch let error as CatalogError {
            throw ConsoleRefusal(409, release ? "Hold not released" : "Hold not placed", "\(error)")
        }
        self.logger.info(
            release ? "console released a hold" : "console placed a hold",
            metadata: ["call_sid": "\(sid)", "user": "\(viewer.user.name)"]
        )
        return ConsoleHTTP.redirect("/console/calls/\(Self.percentEncoded(sid))")
    }

    // MARK: - Verify

    func verify(_ form: [(String, String)], viewer: Viewer) async throws -> Response {
        let sids = try Self.callSids(form)
        let verifier = ArchiveVerifier(
            catalog: self.catalog,
            layout: self.layout,
            actor: viewer.actor,
            logger: self.logger
        )
        let report = try await verifier.verify(.init(callSids: Set(sids)))
        var lines: [String] = []
        for sid in sids {
            let problems = report.problems.filter { $0.callSid == sid }
            let outcome = problems.isEmpty ? "ok" : "\(problems.count) problem(s)"
            try await self.audit(viewer.actor, Self.verifyAction, callSid: sid, detail: ["outcome": outcome])
            lines.append(
                "\(sid): \(outcome)" + problems.prefix(5).map { " — \($0.kind.rawValue): \($0.detail)" }.joined()
            )
        }
        return self.page(
            200,
            title: "Verified",
            template: "message",
            [
                "heading": report.isClean ? "Verified: intact" : "Verified: problems found",
                "text": report.summaryLine, "items": true, "list": lines,
                "back": sids.count == 1 ? "/console/calls/\(sids[0])" : "/console/calls",
            ],
            viewer: viewer
        )
    }

    // MARK: - Export

    /// A BagIt bag of one call, of a selection (one bag per call, side by side) or of a search, streamed
    /// as a tar the browser downloads. The bag is written by ``MediaExporter`` into
    /// `STORAGE/cache/console-exports/` (outside `media/`) and removed once sent, or when the download
    /// stops (or an hour on, if the download never ran). One bag is written at a time per node.
    func export(_ form: [(String, String)], viewer: Viewer, context: DoorContext) async throws -> Response {
        let explicit = form.filter { $0.0 == "call_sid" }.count
        var searches: [(label: String, search: CallSearch)] = []
        var description: String
        if explicit > 0 && form.filter({ $0.0 != "call_sid" && $0.0 != "csrf" && $0.0 != "action" }).isEmpty {
            for sid in try Self.callSids(form) {
                var search = CallSearch()
                search.callSid = sid
                search.limit = 1
                searches.append((sid, search))
            }
            description = searches.count == 1 ? "call \(searches[0].label)" : "\(searches.count) selected calls"
        } else {
            let (query, _, pairs) = try Self.search(form.filter { $0.0 != "csrf" })
            guard !query.held else {
                throw ConsoleRefusal(
                    400,
                    "Export refused",
                    "An export cannot select by hold; search without 'On hold' and select the calls."
                )
            }
            var search = CallSearch()
            search.placedFrom = query.filters.placedFrom
            search.placedBefore = query.filters.placedBefore
            search.number = query.number
            search.callSid = query.filters.callSid
            search.status = query.filters.status
            search.customField = query.filters.customField
            search.hasRecording = query.hasRecording
            search.interrupted = query.interrupted
            search.limit = Self.maxExportCalls
            searches.append(("search", search))
            description =
                pairs.isEmpty ? "every call" : "the search " + pairs.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
        }
        let folder = "\(self.layout.root)/cache/console-exports"
        Self.removeStaleExports(in: folder)
        guard self.exports.enter() else {
            throw ConsoleRefusal.busy(
                "Another export is running on this node; try again when it is done.",
                retryAfterSeconds: 10
            )
        }
        let stamp = ConsoleHTTP.time(Timestamp.now().millisecondsSinceEpoch).replacingOccurrences(of: " ", with: "T")
            .replacingOccurrences(of: ":", with: "")
        let work = "\(folder)/\(ConsoleHTTP.randomToken().prefix(16))"
        let top = "\(work)/exorec-export-\(stamp)"
        var reports: [ExportReport] = []
        do {
            let exporter = MediaExporter(
                catalog: self.catalog,
                layout: self.layout,
                actor: viewer.actor,
                exorecVersion: self.configuration.exorecVersion,
                logger: self.logger
            )
            for (label, search) in searches {
                let destination = searches.count == 1 ? top : "\(top)/\(label)"
                let request = ExportRequest(
                    destination: destination,
                    search: search,
                    bag: true,
                    externalDescription: "Exported through the exorec console by \(viewer.user.name): \(description)"
                )
                reports.append(try await exporter.export(request))
            }
        } catch {
            try? FileManager.default.removeItem(atPath: work)
            self.exports.leave()
            if let refusal = error as? ConsoleRefusal { throw refusal }
            throw ConsoleRefusal(500, "Export failed", "\(error)")
        }
        // The bag is written: the next export may start while this one is sent.
        self.exports.leave()
        let calls = reports.reduce(0) { $0 + $1.calls }
        let files = TarStream.files(under: top)
        do {
            try await self.audit(
                viewer.actor,
                "console.export",
                context: context,
                callSid: searches.count == 1 && searches[0].label != "search" ? searches[0].label : nil,
                detail: ["what": description, "calls": "\(calls)", "files": "\(files.count)"]
            )
        } catch {
            try? FileManager.default.removeItem(atPath: work)
            throw error
        }
        let logger = self.logger
        let name = (top as NSString).lastPathComponent
        var total: Int64 = 1024
        var sized: [(String, String, Int64, Int64)] = []
        for (relative, absolute) in files {
            var info = stat()
            guard stat(absolute, &info) == 0 else { continue }
            let size = Int64(info.st_size)
            sized.append((relative, absolute, size, Int64(info.st_mtim.tv_sec)))
            total += 512 + size + Int64(TarStream.padding(for: size))
        }
        let entries = sized
        let body = ResponseBody(contentLength: Int(total)) { writer in
            defer { try? FileManager.default.removeItem(atPath: work) }
            for (relative, absolute, size, mtime) in entries {
                try await writer.write(
                    ByteBuffer(bytes: try TarStream.header(name: relative, size: size, mtime: mtime))
                )
                guard let handle = FileHandle(forReadingAtPath: absolute) else {
                    logger.error("an exported file vanished before it was sent", metadata: ["path": "\(absolute)"])
                    throw ConsoleError("\(absolute) vanished")
                }
                defer { try? handle.close() }
                var sent: Int64 = 0
                while sent < size {
                    let chunk = try handle.read(upToCount: Int(min(64 << 10, size - sent))) ?? Data()
                    guard !chunk.isEmpty else { throw ConsoleError("\(absolute) shrank while it was sent") }
                    try await writer.write(ByteBuffer(bytes: chunk))
                    sent += Int64(chunk.count)
                }
                let pad = TarStream.padding(for: size)
                if pad > 0 { try await writer.write(ByteBuffer(bytes: [UInt8](repeating: 0, count: pad))) }
            }
            try await writer.write(ByteBuffer(bytes: [UInt8](repeating: 0, count: 1024)))
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/x-tar",
                .contentDisposition: "attachment; filename=\"\(name).tar\"",
                .cacheControl: "no-store",
                HTTPField.Name("X-Exorec-Export-Calls")!: "\(calls)",
            ],
            body: body
        )
    }

    /// Work folders of exports whose download never ran to its end (the body's cleanup did not run) are
    /// removed an hour on, before the next export starts.
    static func removeStaleExports(in folder: String, olderThan seconds: Int = 3600) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        let cutoff = Date().addingTimeInterval(-Double(seconds))
        for name in names {
            let path = folder + "/" + name
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                let modified = attributes[.modificationDate] as? Date, modified < cutoff
            else { continue }
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}
