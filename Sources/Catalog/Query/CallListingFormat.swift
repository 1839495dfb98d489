import ExotelKit
import Foundation
import MediaStore

/// How `exorec catalog ls | search | show` print: a table for people, JSON for scripts.
public enum CallListingFormat: String, Sendable, Hashable, CaseIterable {
    /// Aligned columns under a header row.
    case table
    /// One JSON document: an array for listings, an object for `show`.
    case json
    /// One JSON object per line, nothing else.
    case jsonl

    /// The lines to print for `calls`.
    public func lines(for calls: [CallSummary]) throws -> [String] {
        switch self {
        case .json: return [try Self.encode(calls)]
        case .jsonl: return try calls.map(Self.encode)
        case .table: return Self.table(calls)
        }
    }

    /// The lines to print for one call.
    public func lines(for detail: CallDetail) throws -> [String] {
        switch self {
        case .json, .jsonl: return [try Self.encode(detail)]
        case .table: return Self.describe(detail)
        }
    }

    /// The column titles of the listing table.
    public static let tableHeader = ["CALL SID", "PLACED (UTC)", "FROM", "TO", "STATUS", "DURATION", "MEDIA", "FLAGS"]

    static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func table(_ calls: [CallSummary]) -> [String] {
        let rows = calls.map { summary -> [String] in
            let call = summary.call
            var flags: [String] = []
            if summary.interrupted { flags.append("interrupted") }
            if summary.unknownOutcome { flags.append("unknown") }
            if call.origin == .elsewhere { flags.append("elsewhere") }
            return [
                call.callSid, Self.time(call.placedAt), call.from ?? "-", call.to ?? "-", call.status,
                call.conversationDuration.map { "\($0)s" } ?? "-", "\(summary.streams)s/\(summary.recordings)r",
                flags.isEmpty ? "-" : flags.joined(separator: ","),
            ]
        }
        return Self.align([Self.tableHeader] + rows)
    }

    static func describe(_ detail: CallDetail) -> [String] {
        let call = detail.call
        var lines = [
            "call \(call.callSid) (account \(call.accountSid.isEmpty ? "not known" : call.accountSid))",
            call.origin == .elsewhere
                ? "  origin      elsewhere (placed by another tool), first seen \(Self.time(call.placedAt))"
                : "  placed      \(Self.time(call.placedAt))",
            "  status      \(call.status)"
                + (call.terminalAt.map { " (terminal at \(Self.time($0)))" } ?? " (no terminal status yet)"),
            "  from        \(call.from ?? "-")",
            "  to          \(call.to ?? "-")",
            "  caller id   \(call.callerId ?? "-")",
            "  duration    \(call.conversationDuration.map { "\($0)s" } ?? "-")",
        ]
        if let field = call.customField { lines.append("  custom      \(field)") }
        if let campaign = call.campaignId {
            lines.append("  campaign    \(campaign) row \(call.campaignRowKey ?? "-")")
        }
        if let url = call.recordingURL { lines.append("  recording   \(url)") }
        if !call.metadata.isEmpty {
            lines.append("metadata")
            // Values may hold line breaks (a quoted CSV cell): escaped, so each pair stays one line.
            lines += call.metadata.keys.sorted().map {
                "  \(Self.escaped($0)) = \(Self.escaped(call.metadata[$0] ?? ""))"
            }
        }
        lines.append("parameters")
        lines += call.parameters.keys.sorted().map { "  \($0) = \(call.parameters[$0] ?? "")" }
        lines.append("status history")
        lines += Self.align(detail.statusHistory.map { [Self.time($0.at), $0.status, $0.source.rawValue] }).map {
            "  " + $0
        }
        let deliveries = detail.callbacks.reduce(0) { $0 + $1.deliveries }
        lines.append("callbacks (\(detail.callbacks.count), \(deliveries) deliveries)")
        lines += Self.align(
            detail.callbacks.map {
                [Self.time($0.receivedAt), $0.eventType ?? "-", $0.status ?? "-", "x\($0.deliveries)", $0.contentType]
            }
        ).map { "  " + $0 }
        lines.append("media files (\(detail.mediaFiles.count))")
        lines += Self.align(
            [["KIND", "STATE", "FORMAT", "RATE", "CH", "DURATION", "BYTES", "SHA256", "PATH"]]
                + detail.mediaFiles.map { file in
                    [
                        file.kind.rawValue, file.state.rawValue, file.format, file.sampleRate.map(String.init) ?? "-",
                        file.channels.map(String.init) ?? "-",
                        file.durationSeconds.map { String(format: "%.1fs", $0) } ?? "-",
                        file.bytes.map(String.init) ?? "-", file.sha256 ?? "-", file.path,
                    ]
                }
        ).map { "  " + $0 }
        if let pauses = detail.pauses {
            lines.append("pauses (\(pauses.count); audio in them is silence, dtmf dropped)")
            lines += Self.align(
                [["PAUSED", "RESUMED", "FROM", "TO", "BY", "REASON", "STREAM"]]
                    + pauses.map { pause in
                        let interval = pause.interval
                        let rate = Double(max(pause.sampleRate, 1))
                        func seconds(_ frame: Int64?) -> String {
                            frame.map { String(format: "%.3fs", Double($0) / rate) } ?? "-"
                        }
                        let resumed =
                            interval.resumedAt.map {
                                Self.time($0) + (interval.endedWithStream ? " (stream ended)" : "")
                            } ?? "(still paused)"
                        return [
                            Self.time(interval.pausedAt), resumed, seconds(interval.startFrame),
                            seconds(interval.endFrame),
                            LogText.escaped(interval.by, limit: 128),
                            LogText.escaped(interval.reason ?? "-", limit: 128), pause.path,
                        ]
                    }
            ).map { "  " + $0 }
        }
        lines.append("downloads (\(detail.downloads.count))")
        lines += Self.align(
            detail.downloads.map { job in
                [job.state.rawValue, "attempts \(job.attempts)", job.url, job.lastError ?? ""]
            }
        ).map { "  " + $0 }
        return lines
    }

    /// Control characters (line breaks, tabs) as `\n`, `\t`, … so a value stays on its line.
    static func escaped(_ text: String) -> String {
        var shown = ""
        for scalar in text.unicodeScalars {
            shown += scalar.properties.generalCategory == .control ? scalar.escaped(asASCII: true) : String(scalar)
        }
        return shown
    }

    /// `2026-11-23 17:54:28`
    static func time(_ time: Timestamp) -> String {
        let text = time.description
        return String(text.prefix(10)) + " " + String(text.dropFirst(11).prefix(8))
    }

    static func align(_ rows: [[String]]) -> [String] {
        guard let width = rows.map(\.count).max() else { return [] }
        var widths = Array(repeating: 0, count: width)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return rows.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
            }.joined(separator: "  ").trimmingSuffix(" ")
        }
    }
}

extension String {
    fileprivate func trimmingSuffix(_ character: Character) -> String {
        var text = Substring(self)
        while text.last == character { text = text.dropLast() }
        return String(text)
    }
}
