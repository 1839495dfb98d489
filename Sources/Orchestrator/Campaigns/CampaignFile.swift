import Crypto
public import ExotelKit
import Foundation

/// One row of a campaign file: a call to place, and the key that makes a rerun skip it.
public struct CampaignRow: Sendable, Hashable {
    /// Stable across reruns: the row's `id` column, else a hash of its content (plus an occurrence
    /// number, so two identical rows are two calls).
    public var key: String
    /// 1-based line number in the file, for messages.
    public var line: Int
    public var order: CallOrder
}

/// Why a campaign file cannot be used; names the line and the column. Nothing is placed then.
public struct CampaignFileError: Error, Sendable, Hashable, CustomStringConvertible {
    public var line: Int?
    public var reason: String

    public var description: String { self.line.map { "line \($0): \(self.reason)" } ?? self.reason }
}

/// Reads a campaign: CSV with a header row, or JSON lines (one object per line), with the columns
///
/// | column | meaning |
/// |---|---|
/// | `from` | number dialled first (required) |
/// | `to` | number connected to it, or |
/// | `flow` | a call-flow URL instead of `to` (exactly one of the two) |
/// | `id` | optional row key; without it the row's content is its key |
/// | `custom_field` | `CustomField` (≤ 128 characters) |
/// | `wait_url` | overrides the configured `WaitUrl` |
/// | `time_limit` | seconds, ≤ 14400 |
/// | `stream_begin` | `leg1` or `leg2` |
/// | `recording_channels` | `single` or `dual` |
/// | `callback_format` | `multipart` or `json` |
///
/// Empty lines and lines starting with `#` are skipped. Unknown columns are an error (a typo must
/// not silently drop a setting).
public enum CampaignFile {
    static let columns: Set<String> = [
        "id", "from", "to", "flow", "custom_field", "wait_url", "time_limit", "stream_begin", "recording_channels", "callback_format",
    ]

    public static func load(path: String) throws(CampaignFileError) -> [CampaignRow] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CampaignFileError(line: nil, reason: "cannot read \(path)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CampaignFileError(line: nil, reason: "\(path) is not UTF-8 text")
        }
        return try self.parse(text, jsonLines: path.hasSuffix(".jsonl") || path.hasSuffix(".ndjson") || Self.looksLikeJSONLines(text))
    }

    public static func parse(_ text: String, jsonLines: Bool) throws(CampaignFileError) -> [CampaignRow] {
        var records: [(line: Int, fields: [String: String])] = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
        if jsonLines {
            for (index, line) in lines.enumerated() {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
                records.append((index + 1, try self.jsonObject(trimmed, line: index + 1)))
            }
        } else {
            var header: [String]?
            for (index, line) in lines.enumerated() {
                if line.trimmingCharacters(in: .whitespaces).isEmpty || line.hasPrefix("#") { continue }
                let cells = try self.csvCells(line, line: index + 1)
                guard let names = header else {
                    header = cells.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                    continue
                }
                guard cells.count == names.count else {
                    throw CampaignFileError(line: index + 1, reason: "\(cells.count) cells, the header has \(names.count)")
                }
                records.append((index + 1, Dictionary(zip(names, cells), uniquingKeysWith: { first, _ in first })))
            }
        }
        var rows: [CampaignRow] = []
        var occurrences: [String: Int] = [:]
        var explicitKeys: Set<String> = []
        for (line, raw) in records {
            let fields = raw.compactMapValues { value -> String? in
                let trimmed = value.trimmingCharacters(in: .whitespaces)
                return trimmed.isEmpty ? nil : trimmed
            }
            let row = try self.row(fields, line: line)
            var key: String
            if let id = fields["id"] {
                guard explicitKeys.insert(id).inserted else { throw CampaignFileError(line: line, reason: "id '\(id)' is used twice") }
                key = "id:" + id
            } else {
                let content = fields.filter { $0.key != "id" }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\u{1F}")
                let digest = HexText.lowercase(SHA256.hash(data: Array(content.utf8)).prefix(12))
                occurrences[digest, default: 0] += 1
                key = "row:\(digest)#\(occurrences[digest]!)"
            }
            rows.append(CampaignRow(key: key, line: line, order: row))
        }
        return rows
    }

    private static func row(_ fields: [String: String], line: Int) throws(CampaignFileError) -> CallOrder {
        if let unknown = fields.keys.first(where: { !Self.columns.contains($0) }) {
            throw CampaignFileError(line: line, reason: "unknown column '\(unknown)' (known: \(Self.columns.sorted().joined(separator: ", ")))")
        }
        guard let from = fields["from"] else { throw CampaignFileError(line: line, reason: "'from' is empty") }
        let destination: CallOrder.Destination
        switch (fields["to"], fields["flow"]) {
        case (let to?, nil): destination = .number(to)
        case (nil, let flow?): destination = .flow(flow)
        case (nil, nil): throw CampaignFileError(line: line, reason: "needs 'to' (a number) or 'flow' (a call-flow URL)")
        case (_?, _?): throw CampaignFileError(line: line, reason: "has both 'to' and 'flow'; a call goes to one of them")
        }
        var order = CallOrder(from: from, destination: destination, customField: fields["custom_field"], waitURL: fields["wait_url"])
        if let text = fields["time_limit"] {
            guard let seconds = Int(text), (1...ConnectCallRequest.maximumTimeLimit).contains(seconds) else {
                throw CampaignFileError(line: line, reason: "time_limit '\(text)' is not 1-\(ConnectCallRequest.maximumTimeLimit) seconds")
            }
            order.timeLimit = seconds
        }
        if let text = fields["stream_begin"] {
            switch text.lowercased() {
            case "leg1", "leg1connect": order.streamBegin = .leg1Connect
            case "leg2", "leg2connect": order.streamBegin = .leg2Connect
            default: throw CampaignFileError(line: line, reason: "stream_begin '\(text)' is not leg1 or leg2")
            }
        }
        if let text = fields["recording_channels"] {
            guard let channels = RecordingChannels(rawValue: text.lowercased()) else {
                throw CampaignFileError(line: line, reason: "recording_channels '\(text)' is not single or dual")
            }
            order.recordingChannels = channels
        }
        if let text = fields["callback_format"] {
            switch text.lowercased() {
            case "json": order.statusCallbackContentType = .json
            case "multipart": order.statusCallbackContentType = .multipart
            default: throw CampaignFileError(line: line, reason: "callback_format '\(text)' is not json or multipart")
            }
        }
        return order
    }

    private static func looksLikeJSONLines(_ text: String) -> Bool {
        text.split(separator: "\n").first { !$0.trimmingCharacters(in: .whitespaces).isEmpty && !$0.hasPrefix("#") }?
            .trimmingCharacters(in: .whitespaces).hasPrefix("{") ?? false
    }

    private static func jsonObject(_ text: String, line: Int) throws(CampaignFileError) -> [String: String] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw CampaignFileError(line: line, reason: "not a JSON object")
        }
        var fields: [String: String] = [:]
        for (key, value) in object {
            switch value {
            case let text as String: fields[key.lowercased()] = text
            case let number as NSNumber: fields[key.lowercased()] = number.stringValue
            case is NSNull: continue
            default: throw CampaignFileError(line: line, reason: "'\(key)' must be a string or a number")
            }
        }
        return fields
    }

    /// RFC 4180 cells of one line (quoted cells may hold commas and doubled quotes; not newlines).
    private static func csvCells(_ line: String, line number: Int) throws(CampaignFileError) -> [String] {
        var cells: [String] = []
        var current = ""
        var quoted = false
        var index = line.startIndex
        while index < line.endIndex {
            let character = line[index]
            if quoted {
                if character == "\"" {
                    let next = line.index(after: index)
                    if next < line.endIndex && line[next] == "\"" {
                        current.append("\"")
                        index = next
                    } else {
                        quoted = false
                    }
                } else {
                    current.append(character)
                }
            } else if character == "\"" && current.trimmingCharacters(in: .whitespaces).isEmpty {
                quoted = true
                current = ""
            } else if character == "," {
                cells.append(current)
                current = ""
            } else {
                current.append(character)
            }
            index = line.index(after: index)
        }
        guard !quoted else { throw CampaignFileError(line: number, reason: "a quoted cell is not closed") }
        cells.append(current)
        return cells
    }
}
