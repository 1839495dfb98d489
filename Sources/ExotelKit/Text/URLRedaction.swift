/// The one rule for storing a URL: wherever exorec writes a URL down (sidecars, `call.json`, catalog rows, the
/// audit log, logs) it writes ``redacting(_:)`` of it.
///
/// - user-info goes (`wss://user:secret@host` → `wss://host`: the platform takes a `StreamUrl`'s user-info
///   as the WebSocket upgrade's Basic credentials);
/// - the value of every query (and fragment) parameter whose name looks secret (``isSecretName(_:)``: token,
///   key, secret, password, sig, signature, auth, credential, session, `X-Amz-*`, `X-Goog-*`…) becomes
///   ``redacted``; the name stays, so the reader sees that there was one.
///
/// Text that is not a `scheme://` URL is returned unchanged, so any form field can be passed through.
public enum URLRedaction {
    /// What a secret value is replaced by.
    public static let redacted = "REDACTED"

    /// Name fragments (compared lower-cased, with `-` and `_` removed) that make a parameter secret.
    public static let secretNameParts: [String] = [
        "token", "key", "secret", "passw", "pwd", "pass", "signature", "auth", "credential", "session", "cookie",
    ]
    /// Whole names (lower-cased) that are secret.
    public static let secretNames: Set<String> = ["sig", "sign", "pw", "code", "jwt", "hmac", "otp"]
    /// Name prefixes (lower-cased) whose every parameter is redacted (pre-signed URLs).
    public static let secretPrefixes: [String] = ["x-amz-", "x-goog-"]

    /// Whether a query parameter's (percent-decoded) name looks like it carries a secret.
    public static func isSecretName(_ name: String) -> Bool {
        let lower = name.lowercased()
        if self.secretNames.contains(lower) || self.secretPrefixes.contains(where: { lower.hasPrefix($0) }) {
            return true
        }
        let squeezed = lower.filter { $0 != "-" && $0 != "_" }
        return self.secretNameParts.contains { squeezed.contains($0) }
    }

    /// `text` without credentials when it is a URL (`scheme://…`), unchanged otherwise.
    public static func redacting(_ text: String) -> String {
        guard let colon = text.firstIndex(of: ":"), text[colon...].hasPrefix("://") else { return text }
        let scheme = text[..<colon]
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isLetter || $0.isNumber || "+-.".contains($0) }) else {
            return text
        }
        let rest = text[text.index(colon, offsetBy: 3)...]
        let authorityEnd = rest.firstIndex(where: { "/?#".contains($0) }) ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        var tail = rest[authorityEnd...]
        var fragment: Substring?
        if let hash = tail.firstIndex(of: "#") {
            fragment = tail[tail.index(after: hash)...]
            tail = tail[..<hash]
        }
        var result = "\(scheme)://\(authority)"
        if let question = tail.firstIndex(of: "?") {
            result += tail[..<question] + "?" + self.redactingParameters(tail[tail.index(after: question)...])
        } else {
            result += tail
        }
        if let fragment {
            result += "#" + (fragment.contains("=") ? self.redactingParameters(fragment) : String(fragment))
        }
        return result
    }

    /// Query parameters (of a WebSocket upgrade, say) as they may be stored: the value of each secret-looking
    /// name is ``redacted``, any other value that is a URL is ``redacting(_:)``'d.
    public static func redacting(parameters: [String: String]) -> [String: String] {
        var result: [String: String] = [:]
        for (name, value) in parameters {
            result[name] = self.isSecretName(name) ? self.redacted : self.redacting(value)
        }
        return result
    }

    /// The URL's origin only (`https://host:port`, nothing after it): for a log line that needs to say where,
    /// not what.
    public static func hostPart(_ text: String) -> String {
        let redacted = self.redacting(text)
        guard let colon = redacted.firstIndex(of: ":"), redacted[colon...].hasPrefix("://") else { return "" }
        let authorityStart = redacted.index(colon, offsetBy: 3)
        return String(redacted[..<authorityStart] + redacted[authorityStart...].prefix { !"/?#".contains($0) })
    }

    private static func redactingParameters(_ query: Substring) -> String {
        query.split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
            let name = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            return self.isSecretName(self.percentDecoded(name)) ? "\(name)=\(self.redacted)" : String(pair)
        }.joined(separator: "&")
    }

    /// `%XX` escapes and `+` decoded; an invalid escape is kept as written.
    static func percentDecoded(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var input = Array(text.utf8)[...]
        while let byte = input.popFirst() {
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), input.count >= 2,
                let value = UInt8(String(decoding: input.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                input = input.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
