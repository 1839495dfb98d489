import Foundation

/// What a downloaded recording is, from its `Content-Type`, its first bytes and its URL; and whether it is
/// audio at all (a recording store answering an error page with 200 is not).
public enum RecordingContent {
    /// How many leading bytes ``check(contentType:leadingBytes:url:)`` looks at.
    public static let sniffLength = 64

    /// The verdict on one download.
    public enum Verdict: Sendable, Hashable {
        /// Audio, to be stored as `recording.<fileExtension>`.
        case audio(fileExtension: String)
        /// Not audio: stored nowhere, the job is refused with this reason.
        case notAudio(reason: String)
    }

    /// Accepts a body whose first bytes are a known audio container (ID3 tag, MPEG audio frame sync,
    /// RIFF/WAVE, Ogg, FLAC), or whose `Content-Type` is `audio/*` and whose first bytes are not text markup.
    /// Markup (`<!DOCTYPE`, `<html`, `<?xml`, JSON) is refused whatever the header says.
    ///
    /// The file extension comes from the bytes when they are recognised (the content wins over a wrong
    /// header), then from the `Content-Type`, then from the URL's path, else `audio`.
    public static func check(contentType: String?, leadingBytes: [UInt8], url: String) -> Verdict {
        let type = Self.mediaType(contentType)
        if let sniffed = Self.sniff(leadingBytes) { return .audio(fileExtension: sniffed) }
        let start = Self.printablePrefix(leadingBytes)
        if Self.looksLikeMarkup(leadingBytes) {
            return .notAudio(
                reason: "the body is text markup, not audio (Content-Type \(type ?? "none"), starts with \"\(start)\")"
            )
        }
        guard let type, type.hasPrefix("audio/") else {
            return .notAudio(
                reason: "neither the Content-Type (\(type ?? "none")) nor the first bytes (\"\(start)\") say audio"
            )
        }
        return .audio(fileExtension: Self.fileExtension(mediaType: type) ?? Self.fileExtension(url: url) ?? "audio")
    }

    /// The container the first bytes announce, as a file extension; nil when unrecognised.
    public static func sniff(_ bytes: [UInt8]) -> String? {
        func tag(_ offset: Int, _ text: String) -> Bool {
            let expected = Array(text.utf8)
            return bytes.count >= offset + expected.count && Array(bytes[offset..<offset + expected.count]) == expected
        }
        if tag(0, "ID3") { return "mp3" }
        if tag(0, "RIFF") && tag(8, "WAVE") { return "wav" }
        if tag(0, "RF64") && tag(8, "WAVE") { return "wav" }
        if tag(0, "OggS") { return "ogg" }
        if tag(0, "fLaC") { return "flac" }
        // MPEG audio frame header: 11 sync bits, a version that is not "reserved" (01), a layer that is not
        // "reserved" (00), a bitrate index that is not "bad" (1111). AAC's ADTS shares the sync but has layer 00.
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] & 0xE0 == 0xE0, (bytes[1] >> 3) & 0x03 != 0x01,
            (bytes[1] >> 1) & 0x03 != 0x00, bytes[2] >> 4 != 0x0F
        {
            return "mp3"
        }
        return nil
    }

    /// `audio/mpeg; charset=…` → `audio/mpeg`.
    static func mediaType(_ contentType: String?) -> String? {
        guard let contentType else { return nil }
        let type = contentType.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
        let trimmed = type.trimmingCharacters(in: .whitespaces).lowercased()
        return trimmed.isEmpty ? nil : trimmed
    }

    static func fileExtension(mediaType: String) -> String? {
        switch mediaType {
        case "audio/mpeg", "audio/mp3", "audio/mpeg3", "audio/x-mpeg", "audio/x-mp3", "audio/x-mpeg-3": "mp3"
        case "audio/wav", "audio/wave", "audio/x-wav", "audio/vnd.wave", "audio/x-pn-wav": "wav"
        case "audio/ogg", "audio/opus": "ogg"
        case "audio/flac", "audio/x-flac": "flac"
        case "audio/aac", "audio/x-aac": "aac"
        case "audio/mp4", "audio/x-m4a", "audio/m4a": "m4a"
        case "audio/webm": "webm"
        default: nil
        }
    }

    /// The URL path's extension when it is a short alphanumeric one (`….mp3?X-Amz-…` → `mp3`).
    static func fileExtension(url: String) -> String? {
        var path = Substring(url)
        if let end = path.firstIndex(where: { $0 == "?" || $0 == "#" }) { path = path[..<end] }
        guard let slash = path.lastIndex(of: "/") else { return nil }
        let name = path[path.index(after: slash)...]
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return nil }
        let ext = name[name.index(after: dot)...].lowercased()
        guard (1...5).contains(ext.count), ext.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            return nil
        }
        return ext
    }

    /// Text markup or JSON: what an error page or an API error looks like (leading whitespace and a UTF-8
    /// byte-order mark skipped).
    static func looksLikeMarkup(_ bytes: [UInt8]) -> Bool {
        var index = 0
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        guard index < bytes.count else { return false }
        return bytes[index] == UInt8(ascii: "<") || bytes[index] == UInt8(ascii: "{")
    }

    /// Up to 24 leading bytes for a log line: printable ASCII as is, anything else as `.`.
    static func printablePrefix(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.prefix(24).map { (0x20..<0x7F).contains($0) ? $0 : UInt8(ascii: ".") }, as: UTF8.self)
    }
}
