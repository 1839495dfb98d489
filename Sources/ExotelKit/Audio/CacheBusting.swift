/// The platform caches every audio URL it has fetched (`WaitUrl`, `StartPlaybackValueNew`), so new audio
/// behind an unchanged URL is never played. Deriving a query parameter from the audio's content makes the URL
/// change exactly when the audio does.
public enum CacheBusting {
    /// How many hex digits of the digest go into the version: 48 bits make an accidental repeat between two
    /// versions of one file practically impossible while keeping the URL short.
    public static let versionLength = 12

    /// `url` with query parameter `parameter` set to the first 12 hex digits of `contentDigest`: replaced where
    /// it exists (later duplicates removed), appended otherwise. Every other query parameter keeps its position
    /// and its exact encoding; the fragment is kept.
    public static func url(
        _ url: String,
        contentDigest: some Sequence<UInt8>,
        parameter: String = "v"
    )
        throws(CacheBustingError) -> String
    {
        let version = versionString(contentDigest)
        guard version.count == versionLength else {
            throw CacheBustingError(message: "The content digest must be at least \(versionLength / 2) bytes long.")
        }
        guard !parameter.isEmpty else { throw CacheBustingError(message: "The version parameter name is empty.") }
        guard url.hasScheme(["http", "https"]) else {
            throw CacheBustingError(message: "'\(url)' is not an absolute http or https URL.")
        }

        var base = Substring(url)
        var fragment: Substring?
        if let hash = base.firstIndex(of: "#") {
            fragment = base[base.index(after: hash)...]
            base = base[..<hash]
        }
        var query: Substring?
        if let question = base.firstIndex(of: "?") {
            query = base[base.index(after: question)...]
            base = base[..<question]
        }

        let encodedName = URLEncodedForm.percentEncode(parameter)
        let assignment = encodedName + "=" + version
        var pieces: [String] = []
        var replaced = false
        for piece in query?.split(separator: "&", omittingEmptySubsequences: false) ?? [] {
            let rawName = piece.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
            let name = (try? URLEncodedForm.percentDecode(Array(rawName.utf8))) ?? String(rawName)
            if name == parameter {
                if !replaced { pieces.append(assignment) }
                replaced = true
            } else if !piece.isEmpty {
                pieces.append(String(piece))
            }
        }
        if !replaced { pieces.append(assignment) }

        var result = String(base) + "?" + pieces.joined(separator: "&")
        if let fragment { result += "#" + fragment }
        return result
    }

    /// The version `url(_:contentDigest:parameter:)` puts into the URL for `contentDigest`.
    public static func versionString(_ contentDigest: some Sequence<UInt8>) -> String {
        HexText.lowercase(contentDigest.prefix(versionLength / 2))
    }
}

/// A URL that cannot be cache-busted; `message` says why.
public struct CacheBustingError: Error, Sendable, Hashable {
    public let message: String

    public init(message: String) {
        self.message = message
    }
}
