/// A small, tolerant reader and writer for the platform's XML answers (`<TwilioResponse><Call>…`): elements,
/// text, the five named entities and numeric character references. Attributes, comments, processing
/// instructions and the declaration are skipped; the platform's bodies carry nothing in them. Written here
/// rather than using FoundationXML so ExotelKit keeps no dependency beyond the toolchain's core.
struct FlatXMLElement: Sendable, Hashable {
    var name: String
    var text: String
    var children: [FlatXMLElement]

    /// The first child named `name`, compared case-insensitively.
    func child(_ name: String) -> FlatXMLElement? {
        let key = name.lowercased()
        return children.first { $0.name.lowercased() == key }
    }

    /// The trimmed text of child `name`; nil when absent or empty (`<EndTime/>` is the platform's null).
    func value(_ name: String) -> String? {
        guard let text = child(name)?.text.trimmingWhitespace(), !text.isEmpty else { return nil }
        return text
    }

    /// Parses a document; nil when it is not well-formed enough to read.
    static func parse(_ body: [UInt8]) -> FlatXMLElement? {
        var reader = Reader(bytes: body)
        return reader.document()
    }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        mutating func document() -> FlatXMLElement? {
            skipMisc()
            guard let root = element() else { return nil }
            return root
        }

        /// Skips whitespace, `<?…?>`, `<!--…-->` and `<!DOCTYPE…>`.
        mutating func skipMisc() {
            while index < bytes.count {
                if isSpace(bytes[index]) {
                    index += 1
                } else if starts(with: "<?") {
                    skip(past: "?>")
                } else if starts(with: "<!--") {
                    skip(past: "-->")
                } else if starts(with: "<!") {
                    skip(past: ">")
                } else {
                    return
                }
            }
        }

        mutating func element() -> FlatXMLElement? {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "<") else { return nil }
            index += 1
            let nameStart = index
            while index < bytes.count, !isSpace(bytes[index]), bytes[index] != UInt8(ascii: ">"),
                bytes[index] != UInt8(ascii: "/")
            {
                index += 1
            }
            let name = String(decoding: bytes[nameStart..<index], as: UTF8.self)
            guard !name.isEmpty else { return nil }
            // Attributes are skipped, honouring quotes so a `>` inside one does not end the tag.
            var quote: UInt8?
            while index < bytes.count {
                let byte = bytes[index]
                if let open = quote {
                    if byte == open { quote = nil }
                } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                    quote = byte
                } else if byte == UInt8(ascii: ">") {
                    break
                }
                index += 1
            }
            guard index < bytes.count else { return nil }
            if bytes[index - 1] == UInt8(ascii: "/") {
                index += 1
                return FlatXMLElement(name: name, text: "", children: [])
            }
            index += 1
            var text = [UInt8]()
            var children: [FlatXMLElement] = []
            while index < bytes.count {
                if starts(with: "</") {
                    skip(past: ">")
                    return FlatXMLElement(name: name, text: Self.unescape(text), children: children)
                } else if starts(with: "<![CDATA[") {
                    index += 9
                    let start = index
                    skip(past: "]]>")
                    text.append(contentsOf: bytes[start..<max(start, index - 3)])
                } else if starts(with: "<!--") || starts(with: "<?") {
                    skipMisc()
                } else if bytes[index] == UInt8(ascii: "<") {
                    guard let child = element() else { return nil }
                    children.append(child)
                } else {
                    text.append(bytes[index])
                    index += 1
                }
            }
            return nil
        }

        func starts(with prefix: StaticString) -> Bool {
            let count = prefix.utf8CodeUnitCount
            guard index + count <= bytes.count else { return false }
            return prefix.withUTF8Buffer { buffer in
                buffer.indices.allSatisfy { bytes[index + $0] == buffer[$0] }
            }
        }

        mutating func skip(past terminator: StaticString) {
            while index < bytes.count, !starts(with: terminator) { index += 1 }
            index = min(bytes.count, index + terminator.utf8CodeUnitCount)
        }

        func isSpace(_ byte: UInt8) -> Bool {
            byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
        }

        static func unescape(_ bytes: [UInt8]) -> String {
            let text = String(decoding: bytes, as: UTF8.self)
            guard text.contains("&") else { return text }
            var out = ""
            var rest = Substring(text)
            while let amp = rest.firstIndex(of: "&") {
                out += rest[..<amp]
                let afterAmp = rest.index(after: amp)
                guard let semicolon = rest[afterAmp...].firstIndex(of: ";"),
                    rest.distance(from: afterAmp, to: semicolon) <= 10
                else {
                    out += "&"
                    rest = rest[afterAmp...]
                    continue
                }
                let entity = rest[afterAmp..<semicolon]
                var replacement: String?
                switch entity {
                case "amp": replacement = "&"
                case "lt": replacement = "<"
                case "gt": replacement = ">"
                case "quot": replacement = "\""
                case "apos": replacement = "'"
                default:
                    if entity.hasPrefix("#x") || entity.hasPrefix("#X") {
                        replacement = UInt32(entity.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init).map {
                            String($0)
                        }
                    } else if entity.hasPrefix("#") {
                        replacement = UInt32(entity.dropFirst()).flatMap(Unicode.Scalar.init).map { String($0) }
                    }
                }
                if let replacement {
                    out += replacement
                    rest = rest[rest.index(after: semicolon)...]
                } else {
                    out += "&"
                    rest = rest[afterAmp...]
                }
            }
            return out + rest
        }
    }
}

/// Writes the platform's XML: nested elements, nulls as empty elements.
struct FlatXMLWriter {
    private(set) var text = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

    mutating func open(_ name: String) { text += "<\(name)>" }
    mutating func close(_ name: String) { text += "</\(name)>" }

    mutating func element(_ name: String, _ value: String?) {
        guard let value else {
            text += "<\(name)/>"
            return
        }
        text += "<\(name)>\(Self.escape(value))</\(name)>"
    }

    var bytes: [UInt8] { Array((text + "\n").utf8) }

    static func escape(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }
}

extension StringProtocol {
    /// Without leading and trailing whitespace, newlines included.
    func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice = slice.dropFirst() }
        while let last = slice.last, last.isWhitespace { slice = slice.dropLast() }
        return String(slice)
    }
}
