import Catalog
import Doors
import ExotelKit
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MediaStore
import NIOCore

extension ConsoleResponder {
    static let maxFieldLength = 128

    // MARK: - Call list

    /// The list's search, from the query string (or a posted form: the same names).
    static func search(
        _ fields: [(String, String)]
    ) throws(ConsoleRefusal) -> (query: CallPageQuery, echo: [String: Any], pairs: [(String, String)]) {
        var query = CallPageQuery()
        var echo: [String: Any] = [:]
        var pairs: [(String, String)] = []
        func value(_ name: String) throws(ConsoleRefusal) -> String? {
            guard let raw = fields.last(where: { $0.0 == name })?.1 else { return nil }
            let text = raw.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty else { return nil }
            guard text.utf8.count <= maxFieldLength else {
                throw ConsoleRefusal(400, "Search refused", "\(name) is longer than \(maxFieldLength) characters.")
            }
            echo[name] = text
            pairs.append((name, text))
            return text
        }
        if let number = try value("number") {
            guard number.contains(where: \.isNumber) else {
                throw ConsoleRefusal(400, "Search refused", "The number '\(number)' has no digits.")
            }
            query.number = number
        }
        query.filters.callSid = try value("call_sid")
        query.filters.status = try value("status")?.lowercased()
        query.filters.customField = try value("custom_field")
        if let from = try value("from") { query.filters.placedFrom = try Self.time(from, "from") }
        if let to = try value("to") { query.filters.placedBefore = try Self.time(to, "to") }
        for flag in ["has_recording", "interrupted", "held"] where try value(flag) != nil {
            echo[flag] = true
            switch flag {
            case "has_recording": query.hasRecording = true
            case "interrupted": query.interrupted = true
            default: query.held = true
            }
        }
        if let limit = try value("limit") {
            guard let count = Int(limit), (1...200).contains(count) else {
                throw ConsoleRefusal(400, "Search refused", "limit must be between 1 and 200.")
            }
            query.limit = count
        }
        if let after = try value("after") {
            guard let cursor = CallPageCursor(text: after) else {
                throw ConsoleRefusal(400, "Search refused", "after '\(after.prefix(40))' is not a page position.")
            }
            query.after = cursor
            pairs.removeLast()
            echo["after"] = nil
        }
        return (query, echo, pairs)
    }

    /// `2026-12-05T10:30` (the browser's datetime-local), `2026-12-05 10:30:00` or a date, as UTC.
    static func time(_ text: String, _ name: String) throws(ConsoleRefusal) -> Timestamp {
        var t = text.replacingOccurrences(of: " ", with: "T")
        if t.count == 10 { t += "T00:00:00" }
        if t.count == 16 { t += ":00" }
        if !t.hasSuffix("Z") && !t.contains("+") { t += "Z" }
        do {
            return try Timestamp(iso8601: t)
        } catch {
            throw ConsoleRefusal(
                400,
                "Search refused",
                "\(name) '\(text.prefix(40))' is not a time such as 2026-12-05T10:30 (UTC)."
            )
        }
    }

    func callList(_ request: Request, viewer: Viewer, json: Bool) async throws -> Response {
        let fields = ConsoleHTTP.form(Substring(request.uri.query ?? ""))
        let (query, echo, pairs) = try Self.search(fields)
        let page = try await self.catalog.callPage(query)
        let verified = try await self.catalog.latestAudit(
            callSids: page.rows.map(\.call.callSid),
            actions: Self.verifyActions
        )
        if json {
            return ConsoleHTTP.json(
                200,
                CallListAnswer(
                    calls: page.rows.map { CallListAnswer.Row($0, verified: verified[$0.call.callSid]) },
                    next: page.next?.text,
                    scanStopped: page.scanStopped
                )
            )
        }
        let base = pairs.map { "\(Self.percentEncoded($0.0))=\(Self.percentEncoded($0.1))" }.joined(separator: "&")
        var values: [String: Any] = [
            "q": echo,
            "rows": page.rows.map { Self.rowValues($0, verified: verified[$0.call.callSid]) },
            "count": page.rows.count,
            "scanStopped": page.scanStopped,
            "searchFields": pairs.map { ["name": $0.0, "value": $0.1] },
        ]
        if let next = page.next {
            values["next"] =
                "/console/calls?" + (base.isEmpty ? "" : base + "&") + "after=" + Self.percentEncoded(next.text)
        }
        if query.after != nil { values["first"] = "/console/calls" + (base.isEmpty ? "" : "?" + base) }
        return self.page(200, title: "Calls", template: "calls", values, viewer: viewer)
    }

    static let verifyAction = "console.verify"

    static func rowValues(_ row: CallPageRow, verified: AuditEntry?) -> [String: Any] {
        let call = row.call
        let streams = row.media.filter { $0.file.kind == .stream }.count
        let recordings = row.media.filter { $0.file.kind == .recording }.count
        var media: [String] = []
        if streams > 0 { media.append(streams == 1 ? "stream" : "\(streams) streams") }
        if recordings > 0 { media.append(recordings == 1 ? "recording" : "\(recordings) recordings") }
        if row.media.contains(where: { $0.file.state == .recording }) { media.append("live") }
        let (verify, verifyClass) = Self.verifyState(verified)
        return [
            "sid": call.callSid,
            "time": ConsoleHTTP.time(call.placedAt.millisecondsSinceEpoch),
            "from": call.from ?? "—",
            "to": call.to ?? "—",
            "duration": call.conversationDuration.map { ConsoleHTTP.duration(Double($0)) } ?? "—",
            "status": call.status,
            "statusClass": Self.statusClass(call.status),
            "media": media.isEmpty ? "—" : media.joined(separator: ", "),
            "held": row.hold != nil,
            "verify": verify,
            "verifyClass": verifyClass,
        ]
    }

    /// What the verify column reads: the console's verifications, and the problems any verification (`exorec
    /// verify` too) found in the call's files: the newest of them is the call's state.
    static let verifyActions = [verifyAction, "archive.problem"]

    static func verifyState(_ entry: AuditEntry?) -> (String, String) {
        guard let entry else { return ("not verified", "") }
        if entry.action == "archive.problem" {
            return ("problem: \(entry.detailMap["kind"] ?? "?")", "bad")
        }
        let outcome = entry.detailMap["outcome"] ?? "?"
        return (
            outcome == "ok" ? "ok \(ConsoleHTTP.time(entry.at.millisecondsSinceEpoch).prefix(10))" : outcome,
            outcome == "ok" ? "ok" : "bad"
        )
    }

    static func statusClass(_ status: String) -> String {
        switch status.lowercased() {
        case "completed": "ok"
        case "failed", "busy", "no-answer", "canceled": "bad"
        default: "warn"
        }
    }

    // MARK: - One call

    static func isCallSid(_ sid: String) -> Bool {
        (1...128).contains(sid.utf8.count)
            && sid.utf8.allSatisfy { $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "\\") }
    }

    func callPage(_ sid: String, viewer: Viewer, json: Bool) async throws -> Response {
        guard Self.isCallSid(sid), let detail = try await CallDetail.load(callSid: sid, from: self.catalog) else {
            throw ConsoleRefusal(404, "No such call", "The catalog has no call \(sid.prefix(128)).")
        }
        let media = try await self.catalog.mediaFilesWithIDs(callSid: sid)
        let hold = try await self.catalog.activeHold(callSid: sid)
        let verified = try await self.catalog.latestAudit(callSids: [sid], actions: Self.verifyActions)[sid]
        if json {
            return ConsoleHTTP.json(200, CallAnswer(detail: detail, media: media, hold: hold))
        }
        let call = detail.call
        var elsewhere: String?
        if media.contains(where: {
            $0.file.state == .recording && !FileSystem.exists(self.layout.absolute($0.file.path))
        }) {
            elsewhere = try await self.elsewhereText()
        }
        let mediaValues: [[String: Any]] = media.enumerated().map { index, item in
            let file = item.file
            let channels = file.channels ?? 1
            let label = "\(file.kind == .stream ? "Stream" : "Recording") \(index + 1) (\(file.format))"
            let growing = file.state == .recording
            let local = FileSystem.exists(self.layout.absolute(file.path))
            var values: [String: Any] = [
                "label": label, "state": file.state.rawValue,
                "stateClass": file.state == .complete ? "ok" : (growing ? "warn" : "bad"),
                "format": file.format, "channels": channels, "rate": file.sampleRate.map(String.init) ?? "?",
                "duration": ConsoleHTTP.duration(file.durationSeconds), "bytes": file.bytes.map(String.init) ?? "?",
                "sha256": file.sha256 ?? (growing ? "(while recording: none yet)" : "—"), "path": file.path,
                "growing": growing, "dual": channels == 2,
            ]
            if let id = item.mediaID, local, file.state != .missing {
                values["playable"] = true
                values["src"] = "/console/media/\(id)"
                values["peaks"] = "/console/media/\(id)/peaks"
                values["hasPeaks"] = file.format.lowercased() == "wav"
            } else if growing, !local, let elsewhere {
                values["elsewhere"] = ["text": elsewhere]
            } else if !local {
                values["elsewhere"] = ["text": "The file is not on this node's storage."]
            }
            return values
        }
        var values: [String: Any] = [
            "sid": call.callSid, "time": ConsoleHTTP.time(call.placedAt.millisecondsSinceEpoch),
            "from": call.from ?? "—", "to": call.to ?? "—", "status": call.status,
            "statusClass": Self.statusClass(call.status),
            "duration": call.conversationDuration.map { ConsoleHTTP.duration(Double($0)) } ?? "—",
            "customField": call.customField ?? "—", "origin": call.origin.rawValue,
            "lastVerify": verified.map { e in
                "\(Self.verifyState(e).0) by \(e.actor) at \(ConsoleHTTP.time(e.at.millisecondsSinceEpoch))"
            } ?? "never through the console",
            "media": mediaValues,
            "history": detail.statusHistory.map {
                [
                    "at": ConsoleHTTP.time($0.at.millisecondsSinceEpoch), "status": $0.status,
                    "source": $0.source.rawValue,
                ]
            },
            "callbacks": detail.callbacks.map {
                [
                    "at": ConsoleHTTP.time($0.receivedAt.millisecondsSinceEpoch), "event": $0.eventType ?? "—",
                    "status": $0.status ?? "—", "deliveries": $0.deliveries,
                ] as [String: Any]
            },
        ]
        if let hold {
            values["hold"] = [
                "reason": hold.reason, "by": hold.placedBy,
                "at": ConsoleHTTP.time(hold.placedAt.millisecondsSinceEpoch),
            ]
        }
        return self.page(200, title: "Call \(call.callSid)", template: "call", values, viewer: viewer)
    }

    /// Where a stream that is not on this node's storage is being recorded: the live nodes, with their
    /// console URLs when `console.node_urls` names them.
    func elsewhereText() async throws -> String {
        let now = Timestamp.now()
        let live = try await self.catalog.nodes().filter { $0.stoppedAt == nil && $0.leaseUntil > now }
        let names = live.map { node in
            "\(node.nodeId) on \(node.host)"
                + (self.configuration.nodeURLs[node.nodeId].map { " (console: \($0))" } ?? "")
        }
        return "This stream is being recorded by another node and its file is not on this node's storage. "
            + (names.isEmpty ? "No live node is registered." : "Live nodes: \(names.joined(separator: "; ")).")
            + " Open the call in that node's console to listen live."
    }

    // MARK: - Media

    static func isMediaID(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count)
            && id.utf8.allSatisfy {
                (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || $0 == 45 || $0 == 95
            }
    }

    func serveMedia(
        _ id: String,
        request: Request,
        context: DoorContext,
        viewer: Viewer,
        media: DoorMediaServer
    ) async throws -> Response {
        guard Self.isMediaID(id), let file = try await self.catalog.mediaFile(id: id) else {
            throw ConsoleRefusal(404, "No such media", "The catalog has no media file \(id.prefix(64)).")
        }
        let range = request.headers[.range]
        let download = request.uri.queryParameters["download"] == "1"
        // A player asks for many ranges; the first (no range, or from byte 0) is the listening.
        if download || range == nil || range?.hasPrefix("bytes=0-") == true {
            try await self.audit(
                viewer.actor,
                download ? "console.download" : "console.play",
                context: context,
                callSid: file.callSid,
                path: file.path,
                detail: ["media_id": id]
            )
        }
        var response = await media.serve(id: id, range: range)
        if download {
            let name = (file.path as NSString).lastPathComponent.filter {
                $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0))
            }
            response.headers[.contentDisposition] = "attachment; filename=\"\(name.isEmpty ? "media" : name)\""
        }
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return response
    }

    func servePeaks(_ id: String) async throws -> Response {
        guard Self.isMediaID(id), let file = try await self.catalog.mediaFile(id: id) else {
            throw ConsoleRefusal(404, "No such media", "The catalog has no media file \(id.prefix(64)).")
        }
        guard !file.path.hasPrefix("/"), !file.path.split(separator: "/").contains("..") else {
            throw ConsoleRefusal(404, "No such media", "The media file's path is outside the storage root.")
        }
        let path = self.layout.absolute(file.path)
        let sha = file.state == .recording ? nil : file.sha256
        let peaks = self.peaks
        guard self.peakWork.enter() else {
            throw ConsoleRefusal.busy("Other waveforms are being computed; try again.", retryAfterSeconds: 1)
        }
        defer { self.peakWork.leave() }
        let computed = await BlockingWork.run { peaks.peaks(path: path, sha256: sha) }
        guard let computed else {
            throw ConsoleRefusal(404, "No waveform", "No waveform can be drawn for this file.")
        }
        return ConsoleHTTP.json(
            200,
            computed,
            headers: file.state == .recording ? [:] : [.cacheControl: "private, max-age=3600"]
        )
    }

    // MARK: - Audit log

    func auditPage(_ request: Request, viewer: Viewer, json: Bool) async throws -> Response {
        let chain = try await self.catalog.verifyAuditChain()
        let head = chain.head?.seq ?? 0
        var before = head + 1
        if let text = request.uri.queryParameters["before"] {
            guard let value = Int64(text), value > 0 else {
                throw ConsoleRefusal(400, "Bad position", "before must be a sequence number.")
            }
            before = min(value, head + 1)
        }
        let pageSize: Int64 = 100
        let from = max(0, before - 1 - pageSize)
        let entries = try await self.catalog.auditEntries(after: from, limit: Int(before - 1 - from)).reversed()
        if json {
            return ConsoleHTTP.json(
                200,
                AuditAnswer(
                    intact: chain.isIntact,
                    entries: chain.entries,
                    problems: chain.problems.map(\.description),
                    page: Array(entries)
                )
            )
        }
        var values: [String: Any] = [
            "chainOK": chain.isIntact, "chainCount": chain.entries,
            "chainProblem": chain.problems.prefix(5).map(\.description),
            "entries": entries.map { e in
                [
                    "seq": e.seq, "at": ConsoleHTTP.time(e.at.millisecondsSinceEpoch), "actor": e.actor,
                    "action": e.action, "callSid": e.callSid ?? "", "detail": e.detail,
                    // Read as key and value lines; the raw text only when it is not a flat map.
                    "details": e.detailMap.sorted { $0.key < $1.key }.map { ["key": $0.key, "value": $0.value] },
                    "rawDetail": e.detailMap.isEmpty && e.detail != "{}",
                ] as [String: Any]
            },
        ]
        if from > 0 { values["older"] = "/console/audit?before=\(from + 1)" }
        return self.page(200, title: "Audit log", template: "audit", values, viewer: viewer, section: "audit")
    }
}

// MARK: - JSON answers

struct CallListAnswer: Encodable {
    struct Row: Encodable {
        var callSid: String
        var placedAt: Timestamp
        var from: String?
        var to: String?
        var status: String
        var durationSeconds: Int?
        var media: [MediaAnswer]
        var held: Bool
        var verified: String?

        init(_ row: CallPageRow, verified: AuditEntry?) {
            self.callSid = row.call.callSid
            self.placedAt = row.call.placedAt
            self.from = row.call.from
            self.to = row.call.to
            self.status = row.call.status
            self.durationSeconds = row.call.conversationDuration
            self.media = row.media.map(MediaAnswer.init)
            self.held = row.hold != nil
            self.verified = verified.map { ConsoleResponder.verifyState($0).0 }
        }

        enum CodingKeys: String, CodingKey {
            case callSid = "call_sid", placedAt = "placed_at", from, to, status
            case durationSeconds = "duration_seconds", media, held, verified
        }
    }

    var calls: [Row]
    var next: String?
    var scanStopped: Bool

    enum CodingKeys: String, CodingKey {
        case calls, next
        case scanStopped = "scan_stopped"
    }
}

struct MediaAnswer: Encodable {
    var mediaID: String?
    var file: MediaFile

    init(_ item: CatalogMediaFile) {
        self.mediaID = item.mediaID
        self.file = item.file
    }

    enum CodingKeys: String, CodingKey {
        case mediaID = "media_id", file
    }
}

struct CallAnswer: Encodable {
    var detail: CallDetail
    var media: [MediaAnswer]
    var hold: LegalHold?

    init(detail: CallDetail, media: [CatalogMediaFile], hold: LegalHold?) {
        self.detail = detail
        self.media = media.map(MediaAnswer.init)
        self.hold = hold
    }
}

struct AuditAnswer: Encodable {
    var intact: Bool
    var entries: Int
    var problems: [String]
    var page: [AuditEntry]
}
