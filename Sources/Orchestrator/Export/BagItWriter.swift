import MediaStore

/// The tag files of a BagIt 1.0 bag (RFC 8493), from its payload's digests.
///
/// The order of writing is what keeps a partial bag from looking complete: the payload and the payload
/// manifests first, then `bag-info.txt`, then `bagit.txt` (without which no tool takes the folder for a bag),
/// then the tag manifests.
enum BagItWriter {
    static let payloadDirectory = "data"
    static let algorithms = ["sha256", "sha512"]

    static let declaration = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"

    /// `manifest-<algorithm>.txt`: one `<checksum>  data/<path>` line per payload file, sorted by path.
    static func manifest(_ files: [String: PayloadDigest], algorithm: String) -> String {
        files.keys.sorted().map { path in
            let digest = files[path]!
            let checksum = algorithm == "sha256" ? digest.sha256 : digest.sha512
            return "\(checksum)  \(Self.encodePath("\(Self.payloadDirectory)/\(path)"))\n"
        }.joined()
    }

    /// `tagmanifest-<algorithm>.txt` over the tag files written before it.
    static func tagManifest(_ tagFiles: [String: PayloadDigest], algorithm: String) -> String {
        Self.manifestLines(tagFiles, algorithm: algorithm)
    }

    private static func manifestLines(_ files: [String: PayloadDigest], algorithm: String) -> String {
        files.keys.sorted().map { path in
            let digest = files[path]!
            return "\(algorithm == "sha256" ? digest.sha256 : digest.sha512)  \(Self.encodePath(path))\n"
        }.joined()
    }

    /// `bag-info.txt`: the metadata elements, one per line, in a fixed order.
    static func bagInfo(
        baggingDate: Timestamp,
        payload: [String: PayloadDigest],
        sourceOrganization: String?,
        externalDescription: String,
        software: String,
        extra: [(String, String)]
    ) -> String {
        let octets = payload.values.reduce(Int64(0)) { $0 + $1.bytes }
        let date = baggingDate.utcComponents
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        var lines: [(String, String)] = []
        if let sourceOrganization { lines.append(("Source-Organization", sourceOrganization)) }
        lines.append(("External-Description", externalDescription))
        lines.append(("Bagging-Date", "\(date.year)-\(two(date.month))-\(two(date.day))"))
        lines.append(("Payload-Oxum", "\(octets).\(payload.count)"))
        lines.append(("Bag-Software-Agent", software))
        lines += extra
        return lines.map { "\($0.0): \($0.1)\n" }.joined()
    }

    /// RFC 8493 §2.1.3: a path in a manifest has `%`, CR and LF percent-encoded.
    static func encodePath(_ path: String) -> String {
        var out = ""
        for character in path {
            switch character {
            case "%": out += "%25"
            case "\r": out += "%0D"
            case "\n": out += "%0A"
            case "\r\n": out += "%0D%0A"
            default: out.append(character)
            }
        }
        return out
    }
}
