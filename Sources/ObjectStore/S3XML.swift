import Foundation

#if canImport(FoundationXML)
import FoundationXML
#endif

/// An S3 response body as a small element tree, parsed with Foundation's `XMLParser` (libxml2; no
/// dependency beyond the toolchain, and S3's documents are a few flat elements, which a tree reads as
/// easily as a decoder would). The store's bytes are hostile: the body is bounded before it gets here
/// (``S3Client``), and the parser refuses documents deeper than ``maxDepth`` or with more than
/// ``maxElements`` elements; external entities are not resolved.
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

    /// Parses a document; nil when it is not well-formed XML or exceeds the limits.
    ///
    /// Only UTF-8 without a document type is handed to the parser: S3 sends nothing else, and Foundation's
    /// parser traps on an element name that is not valid UTF-8 (found by `FuzzS3Response`), while a DTD could
    /// declare entities to expand.
    public static func parse(_ data: Data) -> S3XML? {
        guard let text = String(validating: data, as: UTF8.self) else { return nil }
        let head = text.prefix(200).lowercased()
        if head.contains("encoding="), !(head.contains("encoding=\"utf-8\"") || head.contains("encoding='utf-8'")) {
            return nil
        }
        if text.contains("<!") { return nil }  // DOCTYPE, ENTITY, CDATA, comments: none in S3's answers
        let delegate = TreeBuilder()
        let parser = XMLParser(data: data)
        parser.shouldResolveExternalEntities = false
        parser.shouldProcessNamespaces = false
        parser.delegate = delegate
        guard parser.parse(), !delegate.failed, let root = delegate.root else { return nil }
        return root
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

    /// Builds the tree; not `Sendable`, one parse owns it.
    private final class TreeBuilder: NSObject, XMLParserDelegate {
        var stack: [S3XML] = []
        var root: S3XML?
        var count = 0
        var failed = false

        func parser(
            _ parser: XMLParser,
            didStartElement elementName: String,
            namespaceURI: String?,
            qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            self.count += 1
            if self.stack.count >= S3XML.maxDepth || self.count > S3XML.maxElements || self.root != nil {
                self.failed = true
                parser.abortParsing()
                return
            }
            self.stack.append(S3XML(name: elementName))
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            guard !self.stack.isEmpty else { return }
            let index = self.stack.count - 1
            if self.stack[index].text.utf8.count + string.utf8.count <= S3XML.maxTextBytes {
                self.stack[index].text += string
            }
        }

        func parser(
            _ parser: XMLParser,
            didEndElement elementName: String,
            namespaceURI: String?,
            qualifiedName: String?
        ) {
            guard let done = self.stack.popLast() else {
                self.failed = true
                parser.abortParsing()
                return
            }
            if self.stack.isEmpty {
                self.root = done
            } else {
                self.stack[self.stack.count - 1].children.append(done)
            }
        }

        func parser(_ parser: XMLParser, parseErrorOccurred parseError: any Error) { self.failed = true }
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
        String(String.UnicodeScalarView(text.unicodeScalars.filter { !CharacterSet.controlCharacters.contains($0) }).prefix(200))
    }
}
