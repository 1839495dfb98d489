/// What the bytes of a stream's media payloads are, as `start.media_format.encoding` names them.
///
/// The platform's applets send 16-bit little-endian linear PCM (exotel-platform.md §1.6) and spell it in
/// several ways; other senders of the same protocol (gateways, the platform's Legs API, test clients) send
/// G.711. Names are compared case-insensitively, with surrounding spaces and MIME parameters (`;rate=8000`)
/// ignored. An absent encoding means PCM, as the platform's own examples do.
///
/// | encoding | names |
/// |---|---|
/// | ``pcm16`` | `audio/x-raw`, `raw`, `linear16`, `audio/x-l16`, `audio/l16`, `slin`, `base64` |
/// | ``muLaw`` | `audio/x-mulaw`, `audio/mulaw`, `audio/basic`, `mulaw`, `ulaw`, `pcmu`, `g711u` |
/// | ``aLaw`` | `audio/x-alaw`, `audio/alaw`, `alaw`, `pcma`, `g711a` |
///
/// `audio/L16` is big-endian in RTP (RFC 3551); on this protocol it is read little-endian like every other PCM
/// spelling, because that is the byte order the platform sends. `base64` is what many third-party fakes of the
/// platform put there (the payload's transport, not its content); they send PCM.
public enum StreamEncoding: String, Sendable, Hashable, Codable, CaseIterable {
    /// 16-bit signed little-endian linear PCM: two bytes per sample.
    case pcm16 = "pcm16"
    /// G.711 μ-law: one byte per sample, expanded to 16-bit PCM on arrival.
    case muLaw = "mulaw"
    /// G.711 A-law: one byte per sample, expanded to 16-bit PCM on arrival.
    case aLaw = "alaw"

    /// Bytes of payload per sample of one channel.
    public var bytesPerSample: Int { self == .pcm16 ? 2 : 1 }

    /// The encoding `media_format.encoding` names; `nil` (the argument absent) is PCM. Returns nil for a name
    /// that is not one of the accepted spellings.
    public init?(mediaFormatEncoding name: String?) {
        guard let name else {
            self = .pcm16
            return
        }
        var essence = Substring(name)
        if let semicolon = essence.firstIndex(of: ";") { essence = essence[..<semicolon] }
        let key = essence.trimmingSpaces().lowercased()
        guard let encoding = Self.names[key] else { return nil }
        self = encoding
    }

    private static let names: [String: StreamEncoding] = {
        var names: [String: StreamEncoding] = [:]
        for name in ["audio/x-raw", "raw", "linear16", "audio/x-l16", "audio/l16", "slin", "base64"] {
            names[name] = .pcm16
        }
        for name in ["audio/x-mulaw", "audio/mulaw", "audio/basic", "mulaw", "ulaw", "pcmu", "g711u"] {
            names[name] = .muLaw
        }
        for name in ["audio/x-alaw", "audio/alaw", "alaw", "pcma", "g711a"] { names[name] = .aLaw }
        return names
    }()
}

extension Substring {
    fileprivate func trimmingSpaces() -> Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }
}
