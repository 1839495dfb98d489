import Foundation

/// An S3 response body as a small element tree, read by a strict parser of its own.
///
/// S3's answers are a few flat elements: a declaration, elements, attributes (namespaces), text and the five
/// predefined entities plus character references. That, and nothing else, is what this reads; DTDs,
/// processing instructions, comments and CDATA are refused. Foundation's `XMLParser` (libxml2) was the first
/// choice and is not used: `FuzzS3Response` found it trapping on an element name that is not UTF-8 and
/// crashing (a null `strlen`) on an empty processing instruction, and a store's bytes are hostile. No XML
/// library of the package set is needed for so small a grammar. The body is bounded before it gets here
/// (``S3Client``); the parser refuses documents deeper than ``maxDepth`` or with more than ``maxElements``
/// elements, and is linear in the input.
public struct S3XML: Sendable, Hashable {
    public var name: String
    public var text: String
    public var children: [S3XML]

    public static let maxDepth = 16
    public static let maxElements = 200_000
    /// The longest text kept in one element, in bytes; longer text is cut (S3's values are short).
    public static let maxTextBytes = 64 * 1024

    public init(name: String, text: String = "", children: [S3XML] = []) {
        self.name = name
        self.text = text
        self.children = children
    }

    /// Parses a document; nil when it is not well-formed (in the subset above), not UTF-8, or over the limits.
    public static func parse(_ data: Data) -> S3XML? {
        guard String(validating: data, as: UTF8.self) != nil else { return nil }
        var reader = Reader(bytes: [UInt8](data))
        return reader.document()
    }

    /// The first child named `name` (local name: a namespace prefix is ignored).
    public func child(_ name: String) -> S3XML? { self.children.first { $0.localName == name } }

    /// Every child named `name`.
    public func children(_ name: String) -> [S3XML] { self.children.filter { $0.localName == name } }

    /// The text of the first child named `name`, trimmed.
    public func value(_ name: String) -> String? {
        self.child(name).map { $0.text.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    var localName: String {
        guard let colon = self.name.lastIndex(of: ":") else { return self.name }
        return String(self.name[self.name.index(after: colon)...])
    }

    /// The parser: one pass over the bytes, an index that only moves forward.
    private struct Reader {
        let bytes: [UInt8]
        var index = 0
        var elements = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { self.index >= self.bytes.count }
        var current: UInt8? { self.atEnd ? nil : self.bytes[self.index] }

        func starts(with text: String) -> Bool {
            let pattern = Array(text.utf8)
            guard self.index + pattern.count <= self.bytes.count else { return false }
            return Array(self.bytes[self.index..<(self.index + pattern.count)]) == pattern
        }

        mutating func skipSpace() {
            while let byte = self.current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
                self.index += 1
            }
        }

        mutating func document() -> S3XML? {
            if self.starts(with: "\u{FEFF}") { self.index += 3 }
            self.skipSpace()
            if self.starts(with: "<?xml") {
                guard let end = self.find("?>") else { return nil }
                let declaration = String(decoding: self.bytes[self.index..<end], as: UTF8.self).lowercased()
                if declaration.contains("encoding="),
                    !(declaration.contains("\"utf-8\"") || declaration.contains("'utf-8'"))
                {
                    return nil
                }
                self.index = end + 2
                self.skipSpace()
            }
            guard let root = self.element(depth: 0) else { return nil }
            self.skipSpace()
            return self.atEnd ? root : nil
        }

        func find(_ text: String) -> Int? {
            let pattern = Array(text.utf8)
            var i = self.index
            while i + pattern.count <= self.bytes.count {
                if self.bytes[i] == pattern[0], Array(self.bytes[i..<(i + pattern.count)]) == pattern { return i }
                i += 1
            }
            return nil
        }

        static func isNameByte(_ byte: UInt8) -> Bool {
            (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ":") || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "-") || byte >= 0x80
        }

        mutating func name() -> String? {
            let start = self.index
            while let byte = self.current, Self.isNameByte(byte), self.index - start < 256 { self.index += 1 }
            guard self.index > start, let first = self.bytes[start...].first,
                !(first >= 0x30 && first <= 0x39) && first != UInt8(ascii: "-") && first != UInt8(ascii: ".")
            else { return nil }
            return String(decoding: self.bytes[start..<self.index], as: UTF8.self)
        }

        mutating func element(depth: Int) -> S3XML? {
            self.elements += 1
            guard depth < S3XML.maxDepth, self.elements <= S3XML.maxElements, self.current == UInt8(ascii: "<")
            else { return nil }
            self.index += 1
            guard let name = self.name() else { return nil }
            // Attributes (xmlns, …): read and dropped.
            while true {
                self.skipSpace()
                guard let byte = self.current else { return nil }
                if byte == UInt8(ascii: "/") {
                    guard self.starts(with: "/>") else { return nil }
                    self.index += 2
                    return S3XML(name: name)
                }
                if byte == UInt8(ascii: ">") {
                    self.index += 1
                    break
                }
                guard self.name() != nil else { return nil }
                self.skipSpace()
                guard self.current == UInt8(ascii: "=") else { return nil }
                self.index += 1
                self.skipSpace()
                guard let quote = self.current, quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else {
                    return nil
                }
                self.index += 1
                while let byte = self.current, byte != quote {
                    guard byte != UInt8(ascii: "<") else { return nil }
                    self.index += 1
                }
                guard !self.atEnd else { return nil }
                self.index += 1
            }
            var node = S3XML(name: name)
            var text: [UInt8] = []
            while true {
                guard let byte = self.current else { return nil }
                if byte == UInt8(ascii: "<") {
                    if self.starts(with: "</") {
                        self.index += 2
                        guard self.name() == name else { return nil }
                        self.skipSpace()
                        guard self.current == UInt8(ascii: ">") else { return nil }
                        self.index += 1
                        node.text = String(decoding: text, as: UTF8.self)
                        return node
                    }
                    if self.starts(with: "<!") || self.starts(with: "<?") { return nil }
                    guard let child = self.element(depth: depth + 1) else { return nil }
                    node.children.append(child)
                } else if byte == UInt8(ascii: "&") {
                    guard let decoded = self.reference() else { return nil }
                    if text.count + decoded.count <= S3XML.maxTextBytes { text += decoded }
                } else {
                    if text.count < S3XML.maxTextBytes { text.append(byte) }
                    self.index += 1
                }
            }
        }

        /// `&amp;` and the other four, `&#NN;`, `&#xHH;`: the bytes they stand for.
        mutating func reference() -> [UInt8]? {
            guard let end = self.bytes[self.index...].prefix(12).firstIndex(of: UInt8(ascii: ";")) else { return nil }
            let body = String(decoding: self.bytes[(self.index + 1)..<end], as: UTF8.self)
            self.index = end + 1
            switch body {
            case "amp": return Array("&".utf8)
            case "lt": return Array("<".utf8)
            case "gt": return Array(">".utf8)
            case "quot": return Array("\"".utf8)
            case "apos": return Array("'".utf8)
            default:
                guard body.hasPrefix("#") else { return nil }
                let digits = body.dropFirst()
                let value =
                    digits.hasPrefix("x") ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits, radix: 10)
                guard let value, let scalar = Unicode.Scalar(value), value != 0 else { return nil }
                return Array(String(Character(scalar)).utf8)
            }
        }
    }
}

/// An S3 error document (`<Error><Code>…</Code><Message>…</Message></Error>`), as far as it could be read.
public struct S3ErrorBody: Sendable, Hashable {
    public var code: String
    public var message: String

    /// The error's code and message from a response body; nil when the body is no S3 error document.
    /// Both are cut to 200 characters and stripped of control characters: they end up in logs and errors.
    public static func parse(_ data: Data) -> S3ErrorBody? {
        guard let root = S3XML.parse(data), root.localName == "Error" else { return nil }
        return S3ErrorBody(code: Self.clean(root.value("Code") ?? ""), message: Self.clean(root.value("Message") ?? ""))
    }

    static func clean(_ text: String) -> String {
        String(
            String.UnicodeScalarView(text.unicodeScalars.filter { !CharacterSet.controlCharacters.contains($0) })
                .prefix(200)
        )
    }
}
