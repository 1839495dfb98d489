import Foundation
import MediaStore

/// How `exorec catalog search --unattached` lists streams without a call and `catalog show STREAM_SID` shows a
/// stream: the same table / JSON / JSON-lines choices as ``CallListingFormat``.
public enum StreamListingFormat {
    /// The column titles of the listing table.
    public static let tableHeader = ["STREAM SID", "STARTED (UTC)", "STATE", "CH", "DURATION", "PATH"]

    /// The lines to print for `streams`.
    public static func lines(for streams: [StreamRecord], format: CallListingFormat) throws -> [String] {
        switch format {
        case .json: return [try CallListingFormat.encode(streams)]
        case .jsonl: return try streams.map(CallListingFormat.encode)
        case .table:
            let rows = streams.map { stream in
                [
                    stream.streamSid, CallListingFormat.time(stream.startedAt), stream.state.rawValue,
                    stream.channels.map(String.init) ?? "-", String(format: "%.1fs", stream.durationSeconds),
                    stream.path,
                ]
            }
            return CallListingFormat.align([Self.tableHeader] + rows)
        }
    }

    /// One stream (or every file of a repeated stream_sid) with its media file.
    public struct Detail: Sendable, Hashable, Codable {
        public var stream: StreamRecord
        public var mediaFile: MediaFile?

        public init(stream: StreamRecord, mediaFile: MediaFile?) {
            self.stream = stream
            self.mediaFile = mediaFile
        }

        enum CodingKeys: String, CodingKey {
            case stream
            case mediaFile = "media_file"
        }
    }

    /// The lines of `catalog show STREAM_SID`: a description per file, or one JSON object (an array when the
    /// stream_sid has several files).
    public static func lines(
        describing streams: [(stream: StreamRecord, file: MediaFile?)],
        json: Bool
    ) throws -> [String] {
        let details = streams.map { Detail(stream: $0.stream, mediaFile: $0.file) }
        if json {
            return [
                details.count == 1 ? try CallListingFormat.encode(details[0]) : try CallListingFormat.encode(details)
            ]
        }
        var lines: [String] = []
        for detail in details {
            let stream = detail.stream
            lines.append(
                "stream \(stream.streamSid) "
                    + (stream.isUnattached
                        ? "(no call: its start named none)" : "(call \(stream.callSid), account \(stream.accountSid))")
            )
            lines.append("  state       \(stream.state.rawValue)" + (stream.closeReason.map { " (\($0))" } ?? ""))
            lines.append("  started     \(CallListingFormat.time(stream.startedAt))")
            lines.append("  ended       \(stream.endedAt.map(CallListingFormat.time) ?? "-")")
            lines.append("  from        \(stream.from ?? "-")")
            lines.append("  to          \(stream.to ?? "-")")
            lines.append(
                "  format      \(stream.sampleRate) Hz, \(stream.channels.map { "\($0) ch" } ?? "- ch"), 16-bit PCM WAV"
            )
            lines.append(
                "  duration    \(String(format: "%.1fs", stream.durationSeconds)), gaps \(stream.gapMsTotal) ms"
            )
            lines.append("  path        \(stream.path)")
            if let file = detail.mediaFile {
                lines.append("  bytes       \(file.bytes.map(String.init) ?? "-")")
                lines.append("  sha256      \(file.sha256 ?? "-")")
            }
            if !stream.customParameters.isEmpty {
                lines.append("custom parameters")
                lines += stream.customParameters.keys.sorted().map { "  \($0) = \(stream.customParameters[$0] ?? "")" }
            }
        }
        return lines
    }
}
