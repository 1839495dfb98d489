import CSV
import Crypto
import ExotelKit
import Foundation
import MediaStore

/// One row of a campaign file: a call to place, and the key that makes a rerun skip it.
public struct CampaignRow: Sendable, Hashable {
    /// Stable across reruns and copies of the file: the row's `id` column, else a hash of its
    /// content (plus an occurrence number, so two identical rows are two calls).
    public var key: String
    /// 1-based line number in the file where the row starts, for messages.
    public var line: Int
    public var order: CallOrder
    /// The columns exorec does not use (a CRM's `name`, `account_id`, …), by lowercased header name: the
    /// call's metadata (``CallMetadata``, checked), empty cells left out.
    public var metadata: [String: String]

    public init(key: String, line: Int, order: CallOrder, metadata: [String: String] = [:]) {
        self.key = key
        self.line = line
        self.order = order
        self.metadata = metadata
    }
}

/// One problem of a campaign file; names the line (where a line is to blame) and the column.
public struct CampaignFileError: Error, Sendable, Hashable, CustomStringConvertible {
    public var line: Int?
    public var reason: String

    public init(line: Int?, reason: String) {
        self.line = line
        self.reason = reason
    }

    public var description: String { self.line.map { "line \($0): \(self.reason)" } ?? self.reason }
}

/// Every problem of a campaign file, in line order. Nothing is placed then.
public struct CampaignFileProblems: Error, Sendable, Hashable, CustomStringConvertible {
    public var problems: [CampaignFileError]
    /// The data rows read (good or bad).
    public var rows: Int

    public init(_ problems: [CampaignFileError], rows: Int) {
        self.problems = problems
        self.rows = rows
    }

    public var description: String { self.problems.map(\.description).joined(separator: "\n") }
}

/// How to read a campaign file beyond what the file itself says.
public struct CampaignFileOptions: Sendable, Hashable {
    /// The CSV cell separator; `nil` detects comma, semicolon or tab from the header line.
    public var delimiter: Unicode.Scalar?
    /// Country calling code (digits, e.g. `91`) for numbers written nationally (`09876543210`);
    /// without it every number must be E.164 (`+919876543210`).
    public var countryCode: String?

    public init(delimiter: Unicode.Scalar? = nil, countryCode: String? = nil) {
        self.delimiter = delimiter
        self.countryCode = countryCode
    }

    /// The delimiters detected, and the only ones `--delimiter` takes besides any single ASCII symbol.
    public static let detectedDelimiters: [Unicode.Scalar] = [",", ";", "\t"]
}

/// Reads a campaign: CSV with a header row (RFC 4180, read with CSV.swift), or JSON lines (one
/// object per line), with the columns
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
/// Any other column is kept as the call's metadata (``CallMetadata``: at most 32 columns, names up to 64
/// bytes, values up to 1024 bytes, no control characters but tab and line breaks). Empty lines and lines starting with `#` are
/// skipped. Every problem is collected (with its line) before the file is refused; a file without a
/// data row is a problem too.
public enum CampaignFile {
    static let columns: Set<String> = [
        "id", "from", "to", "flow", "custom_field", "wait_url", "time_limit", "stream_begin", "recording_channels",
        "callback_format",
    ]
    /// Files larger than this are refused before they are read (a campaign of ~1 million rows).
    public static let maximumFileBytes = 128 << 20
    /// Problems listed at most; the count of the rest is given.
    static let maximumProblems = 1000

    public static func load(
        path: String,
        options: CampaignFileOptions = .init()
    ) throws(CampaignFileProblems) -> [CampaignRow] {
        let url = URL(fileURLWithPath: path)
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int,
            size > Self.maximumFileBytes
        {
            throw CampaignFileProblems(
                [CampaignFileError(line: nil, reason: "\(path) is larger than \(Self.maximumFileBytes >> 20) MiB")],
                rows: 0
            )
        }
        guard let data = try? Data(contentsOf: url, options: .mappedIfSafe) else {
            throw CampaignFileProblems([CampaignFileError(line: nil, reason: "cannot read \(path)")], rows: 0)
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            throw CampaignFileProblems(
                [CampaignFileError(line: nil, reason: "\(path) is not UTF-8 text (save it as CSV UTF-8)")],
                rows: 0
            )
        }
        let jsonLines = path.hasSuffix(".jsonl") || path.hasSuffix(".ndjson") || Self.looksLikeJSONLines(text)
        return try self.parse(text, jsonLines: jsonLines, options: options)
    }

    /// The rows of a campaign file's text, or every problem of it.
    public static func parse(
        _ text: String,
        jsonLines: Bool,
        options: CampaignFileOptions = .init()
    ) throws(CampaignFileProblems) -> [CampaignRow] {
        var text = text
        if text.unicodeScalars.first == "\u{FEFF}" { text.unicodeScalars.removeFirst() }
        var problems: [CampaignFileError] = []
        let records =
            jsonLines
            ? Self.jsonRecords(text, problems: &problems) : Self.csvRecords(text, options: options, problems: &problems)
        var rows: [CampaignRow] = []
        var occurrences: [String: Int] = [:]
        var explicitKeys: Set<String> = []
        var reportedTooManyColumns = false
        for (line, raw) in records {
            let fields = raw.compactMapValues { value -> String? in
                let trimmed = value.trimmingCharacters(in: .whitespaces)
                return trimmed.isEmpty ? nil : trimmed
            }
            let key: String
            if let id = fields["id"] {
                guard explicitKeys.insert(id).inserted else {
                    problems.append(CampaignFileError(line: line, reason: "id '\(Self.shown(id))' is used twice"))
                    continue
                }
                key = "id:" + id
            } else {
                let content = fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
                    separator: "\u{1F}"
                )
                let digest = HexText.lowercase(SHA256.hash(data: Array(content.utf8)).prefix(12))
                occurrences[digest, default: 0] += 1
                key = "row:\(digest)#\(occurrences[digest]!)"
            }
            let metadata = fields.filter { !Self.columns.contains($0.key) }
            let metadataProblems = CallMetadata.entryProblems(metadata).map {
                CampaignFileError(line: line, reason: $0)
            }
            let tooMany = CallMetadata.countProblem(metadata)
            if let tooMany, !reportedTooManyColumns {
                // Said once: a CRM export with too many columns has it on every row.
                problems.append(
                    CampaignFileError(
                        line: line,
                        reason: tooMany + " (so has every row like it); leave out the columns not needed"
                    )
                )
                reportedTooManyColumns = true
            }
            do throws(CampaignFileProblems) {
                let order = try self.row(fields, line: line, options: options)
                if metadataProblems.isEmpty && tooMany == nil {
                    rows.append(CampaignRow(key: key, line: line, order: order, metadata: metadata))
                }
            } catch {
                problems.append(contentsOf: error.problems)
            }
            problems.append(contentsOf: metadataProblems)
        }
        if records.isEmpty && problems.isEmpty {
            problems.append(CampaignFileError(line: nil, reason: "no rows: the file has no data row below its header"))
        }
        guard problems.isEmpty else {
            let ordered = problems.enumerated().sorted {
                ($0.element.line ?? 0, $0.offset) < ($1.element.line ?? 0, $1.offset)
            }.map(\.element)
            var listed = Array(ordered.prefix(Self.maximumProblems))
            if problems.count > Self.maximumProblems {
                listed.append(
                    CampaignFileError(line: nil, reason: "and \(problems.count - Self.maximumProblems) more problems")
                )
            }
            throw CampaignFileProblems(listed, rows: records.count)
        }
        return rows
    }

    /// The campaign's identity by content: the same rows in any order, under any file name, give the
    /// same id, so a copy or a renamed file continues the campaign instead of placing it again.
    public static func contentId(of rows: [CampaignRow]) -> String {
        let keys = rows.map(\.key).sorted().joined(separator: "\n")
        return "c-" + HexText.lowercase(SHA256.hash(data: Array(keys.utf8)).prefix(8))
    }

    // MARK: - Numbers

    /// `+` and 8-15 digits, the first not 0; or, with a country code, a national number (leading
    /// zeros dropped) made into one. Spaces, hyphens, dots and parentheses between digits are allowed.
    public static func normalisedNumber(_ text: String, countryCode: String?) -> String? {
        var body = Substring(text)
        let international = body.hasPrefix("+")
        if international {
            body = body.dropFirst()
        } else if body.hasPrefix("00") {
            return Self.normalisedNumber("+" + body.dropFirst(2), countryCode: nil)  // 00 is the international prefix
        }
        var digits = ""
        for character in body {
            if character.isASCII, character.isNumber {
                digits.append(character)
            } else if !" -.()".contains(character) {
                return nil
            }
        }
        if !international {
            guard let countryCode else { return nil }
            while digits.hasPrefix("0") { digits.removeFirst() }
            guard !digits.isEmpty else { return nil }
            digits = countryCode + digits
        }
        guard (8...15).contains(digits.count), digits.first != "0" else { return nil }
        return "+" + digits
    }

    static func number(
        _ text: String,
        column: String,
        line: Int,
        options: CampaignFileOptions
    ) throws(CampaignFileError) -> String {
        if let number = Self.normalisedNumber(text, countryCode: options.countryCode) { return number }
        let hint =
            options.countryCode == nil && !text.hasPrefix("+")
                && text.allSatisfy({ $0.isNumber || " -.()".contains($0) })
            ? " (a national number needs --country-code, e.g. --country-code 91)" : ""
        throw CampaignFileError(
            line: line,
            reason:
                "\(column) '\(Self.shown(text))' is not a phone number: E.164 is + and 8-15 digits, e.g. +919876543210\(hint)"
        )
    }

    // MARK: - Rows

    private static func row(
        _ fields: [String: String],
        line: Int,
        options: CampaignFileOptions
    ) throws(CampaignFileProblems) -> CallOrder {
        var problems: [CampaignFileError] = []
        var from = ""
        if let text = fields["from"] {
            do throws(CampaignFileError) {
                from = try Self.number(text, column: "from", line: line, options: options)
            } catch { problems.append(error) }
        } else {
            problems.append(CampaignFileError(line: line, reason: "'from' is empty"))
        }
        var destination = CallOrder.Destination.flow("")
        switch (fields["to"], fields["flow"]) {
        case (let to?, nil):
            do throws(CampaignFileError) {
                destination = .number(try Self.number(to, column: "to", line: line, options: options))
            } catch {
                problems.append(error)
            }
        case (nil, let flow?): destination = .flow(flow)
        case (nil, nil):
            problems.append(CampaignFileError(line: line, reason: "needs 'to' (a number) or 'flow' (a call-flow URL)"))
        case (_?, _?):
            problems.append(
                CampaignFileError(line: line, reason: "has both 'to' and 'flow'; a call goes to one of them")
            )
        }
        var order = CallOrder(
            from: from,
            destination: destination,
            customField: fields["custom_field"],
            waitURL: fields["wait_url"]
        )
        if let text = fields["time_limit"] {
            if let seconds = Int(text), (1...ConnectCallRequest.maximumTimeLimit).contains(seconds) {
                order.timeLimit = seconds
            } else {
                problems.append(
                    CampaignFileError(
                        line: line,
                        reason:
                            "time_limit '\(Self.shown(text))' is not 1-\(ConnectCallRequest.maximumTimeLimit) seconds"
                    )
                )
            }
        }
        if let text = fields["stream_begin"] {
            switch text.lowercased() {
            case "leg1", "leg1connect": order.streamBegin = .leg1Connect
            case "leg2", "leg2connect": order.streamBegin = .leg2Connect
            default:
                problems.append(
                    CampaignFileError(line: line, reason: "stream_begin '\(Self.shown(text))' is not leg1 or leg2")
                )
            }
        }
        if let text = fields["recording_channels"] {
            if let channels = RecordingChannels(rawValue: text.lowercased()) {
                order.recordingChannels = channels
            } else {
                problems.append(
                    CampaignFileError(
                        line: line,
                        reason: "recording_channels '\(Self.shown(text))' is not single or dual"
                    )
                )
            }
        }
        if let text = fields["callback_format"] {
            switch text.lowercased() {
            case "json": order.statusCallbackContentType = .json
            case "multipart": order.statusCallbackContentType = .multipart
            default:
                problems.append(
                    CampaignFileError(
                        line: line,
                        reason: "callback_format '\(Self.shown(text))' is not json or multipart"
                    )
                )
            }
        }
        guard problems.isEmpty else { throw CampaignFileProblems(problems, rows: 1) }
        return order
    }

    // MARK: - CSV

    /// The data records of a CSV text with their first line, header names lowercased.
    static func csvRecords(
        _ text: String,
        options: CampaignFileOptions,
        problems: inout [CampaignFileError]
    ) -> [(Int, [String: String])] {
        // RFC 4180 has no comments; a line starting with `#` outside a quoted cell is one here. An odd
        // number of quotes means a quoted cell runs to the end of the file (CSV.swift reads it so).
        guard Self.quotesBalance(text) else {
            problems.append(CampaignFileError(line: Self.lastQuoteLine(text), reason: "a quoted cell is not closed"))
            return []
        }
        let delimiter = options.delimiter ?? Self.detectDelimiter(text)
        let reader: CSVReader
        do {
            reader = try CSVReader(string: text, hasHeaderRow: false, trimFields: false, delimiter: delimiter)
        } catch {
            problems.append(CampaignFileError(line: nil, reason: "cannot read the CSV: \(error)"))
            return []
        }
        var records: [(Int, [String: String])] = []
        var header: [String]?
        var line = 1
        while let cells = reader.next() {
            let start = line
            line += 1 + cells.reduce(0) { $0 + Self.lineBreaks(in: $1) }
            if cells.count == 1 && cells[0].trimmingCharacters(in: .whitespaces).isEmpty { continue }
            if cells[0].hasPrefix("#") { continue }
            guard let names = header else {
                let names = cells.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                header = names
                var seen: Set<String> = []
                for name in names where !seen.insert(name).inserted {
                    problems.append(
                        CampaignFileError(line: start, reason: "the header names '\(Self.shown(name))' twice")
                    )
                }
                if names.contains("") {
                    problems.append(CampaignFileError(line: start, reason: "the header has an empty column name"))
                }
                if !names.contains("from") {
                    let shownDelimiter = delimiter == "\t" ? "tab" : "'\(delimiter)'"
                    let shownNames = names.prefix(5).map { "'\(Self.shown($0))'" }.joined(separator: ", ")
                    let reason =
                        "the header has no 'from' column (read with the delimiter \(shownDelimiter): \(shownNames); --delimiter sets another)"
                    problems.append(CampaignFileError(line: start, reason: reason))
                }
                continue
            }
            guard cells.count == names.count else {
                problems.append(
                    CampaignFileError(line: start, reason: "\(cells.count) cells, the header has \(names.count)")
                )
                continue
            }
            records.append((start, Dictionary(zip(names, cells), uniquingKeysWith: { first, _ in first })))
        }
        if header == nil {
            problems.append(
                CampaignFileError(line: nil, reason: "the file is empty: it needs a header line and at least one row")
            )
        }
        return records
    }

    /// Comma, semicolon or tab: whichever occurs most (outside quotes) in the first line that is not
    /// empty or a comment (the header); a comma when it has none of them.
    static func detectDelimiter(_ text: String) -> Unicode.Scalar {
        var counts: [Unicode.Scalar: Int] = [:]
        var quoted = false
        var atLineStart = true
        var skipping = false
        var sawContent = false
        for scalar in text.unicodeScalars {
            if atLineStart {
                atLineStart = false
                skipping = scalar == "#"
            }
            if scalar == "\"" { quoted.toggle() }
            if !quoted && (scalar == "\n" || scalar == "\r") {
                if !skipping && sawContent { break }
                atLineStart = true
                continue
            }
            if !skipping && !scalar.properties.isWhitespace { sawContent = true }
            if !quoted && !skipping && CampaignFileOptions.detectedDelimiters.contains(scalar) {
                counts[scalar, default: 0] += 1
            }
        }
        return CampaignFileOptions.detectedDelimiters.max { counts[$0, default: 0] < counts[$1, default: 0] }
            .flatMap { counts[$0, default: 0] > 0 ? $0 : nil } ?? ","
    }

    static func quotesBalance(_ text: String) -> Bool {
        text.utf8.reduce(0) { $0 + ($1 == UInt8(ascii: "\"") ? 1 : 0) } % 2 == 0
    }

    static func lastQuoteLine(_ text: String) -> Int {
        var line = 1
        var lastOpen = 1
        var quoted = false
        var previousCR = false
        for byte in text.utf8 {
            if byte == UInt8(ascii: "\"") {
                quoted.toggle()
                if quoted { lastOpen = line }
            }
            if byte == UInt8(ascii: "\n") && !previousCR || byte == UInt8(ascii: "\r") { line += 1 }
            previousCR = byte == UInt8(ascii: "\r")
        }
        return lastOpen
    }

    /// CRLF, CR and LF each end one line.
    static func lineBreaks(in cell: String) -> Int {
        var count = 0
        var previousCR = false
        for scalar in cell.unicodeScalars {
            if scalar == "\r" || (scalar == "\n" && !previousCR) { count += 1 }
            previousCR = scalar == "\r"
        }
        return count
    }

    // MARK: - JSON lines

    static func jsonRecords(_ text: String, problems: inout [CampaignFileError]) -> [(Int, [String: String])] {
        var records: [(Int, [String: String])] = []
        let lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map {
            String(Substring($0))
        }
        for (index, line) in lines.enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            do throws(CampaignFileError) {
                records.append((index + 1, try self.jsonObject(trimmed, line: index + 1)))
            } catch {
                problems.append(error)
            }
        }
        return records
    }

    private static func looksLikeJSONLines(_ text: String) -> Bool {
        text.unicodeScalars.split(separator: "\n").lazy.map {
            String(Substring($0)).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        .first { !$0.isEmpty && !$0.hasPrefix("#") }?
        .trimmingCharacters(in: CharacterSet(charactersIn: "\u{FEFF}")).hasPrefix("{") ?? false
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
            default: throw CampaignFileError(line: line, reason: "'\(Self.shown(key))' must be a string or a number")
            }
        }
        return fields
    }

    /// A cell as it appears in a message: control characters escaped, at most 64 characters.
    static func shown(_ text: String) -> String {
        var shown = ""
        for scalar in text.unicodeScalars.prefix(64) {
            shown += scalar.properties.generalCategory == .control ? scalar.escaped(asASCII: true) : String(scalar)
        }
        return text.unicodeScalars.count > 64 ? shown + "…" : shown
    }
}
