/// `multipart/form-data` bodies (RFC 7578): the platform's default status-callback encoding, and what
/// `curl -F` and some SDKs send to `Calls/connect`.
public enum MultipartForm {
    /// The `Content-Type` header value for a body written with `boundary`.
    public static func contentType(boundary: String) -> String {
        "multipart/form-data; boundary=" + boundary
    }

    /// One part per field, each `Content-Disposition: form-data; name="…"`, CRLF line ends.
    public static func encode(_ fields: FormFields, boundary: String) -> [UInt8] {
        var out = ""
        for field in fields {
            out += "--\(boundary)\r\n"
            out += "Content-Disposition: form-data; name=\"\(escapeQuoted(field.name))\"\r\n\r\n"
            out += field.value
            out += "\r\n"
        }
        out += "--\(boundary)--\r\n"
        return Array(out.utf8)
    }

    /// Decodes a body whose boundary is taken from `contentType` (quoted or bare). File parts keep their
    /// content as the value and lose their filename: the platform's parameters are never files, but `curl -F
    /// name=@file` style clients may still send one. Bare LF line ends are tolerated as well as CRLF.
    public static func decode(_ body: [UInt8], contentType: String) throws(FormDecodingError) -> FormFields {
        guard let boundary = boundary(in: contentType) else {
            throw FormDecodingError("multipart/form-data without a boundary parameter.")
        }
        let delimiter = Array(("--" + boundary).utf8)
        var result = FormFields()
        guard var cursor = find(delimiter, in: body, from: 0) else {
            throw FormDecodingError("multipart/form-data body without its boundary.")
        }
        while true {
            var partStart = cursor + delimiter.count
            // "--" after a delimiter closes the body.
            if partStart + 1 < body.count, body[partStart] == UInt8(ascii: "-"),
                body[partStart + 1] == UInt8(ascii: "-")
            {
                return result
            }
            partStart = skipLineEnd(body, from: skipTransportPadding(body, from: partStart))
            guard let next = find(delimiter, in: body, from: partStart) else {
                throw FormDecodingError("multipart/form-data body is not terminated by its closing boundary.")
            }
            var partEnd = next
            // The line break before the delimiter belongs to the delimiter.
            if partEnd > partStart, body[partEnd - 1] == UInt8(ascii: "\n") { partEnd -= 1 }
            if partEnd > partStart, body[partEnd - 1] == UInt8(ascii: "\r") { partEnd -= 1 }
            if let field = try parsePart(body[partStart..<partEnd]) {
                result.append(field.name, field.value)
            }
            cursor = next
        }
    }

    /// The `boundary` parameter of a `multipart/form-data` content type, unquoted.
    public static func boundary(in contentType: String) -> String? {
        parameter("boundary", in: contentType)
    }

    /// A parameter of a header value like `form-data; name="x"` or `multipart/form-data; boundary=abc`.
    static func parameter(_ wanted: String, in header: String) -> String? {
        var rest = Substring(header)
        while let semicolon = rest.firstIndex(of: ";") {
            rest = rest[rest.index(after: semicolon)...]
            let trimmed = rest.drop { $0 == " " || $0 == "\t" }
            guard let equals = trimmed.firstIndex(of: "=") else { continue }
            let name = trimmed[..<equals].trimmingCharacters()
            var value = trimmed[trimmed.index(after: equals)...]
            if value.first == "\"" {
                value = value.dropFirst()
                var unquoted = ""
                var escaped = false
                var end = value.endIndex
                for index in value.indices {
                    let character = value[index]
                    if escaped {
                        unquoted.append(character)
                        escaped = false
                    } else if character == "\\" {
                        escaped = true
                    } else if character == "\"" {
                        end = index
                        break
                    } else {
                        unquoted.append(character)
                    }
                }
                if name.lowercased() == wanted.lowercased() { return unquoted }
                rest = value[end...]
            } else {
                let end = value.firstIndex(of: ";") ?? value.endIndex
                if name.lowercased() == wanted.lowercased() {
                    return String(value[..<end]).trimmingCharacters()
                }
                rest = value[end...]
            }
        }
        return nil
    }

    private static func parsePart(_ part: ArraySlice<UInt8>) throws(FormDecodingError) -> FormField? {
        var index = part.startIndex
        var name: String?
        while index < part.endIndex {
            var lineEnd = index
            while lineEnd < part.endIndex, part[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            var contentEnd = lineEnd
            if contentEnd > index, part[contentEnd - 1] == UInt8(ascii: "\r") { contentEnd -= 1 }
            let next = lineEnd < part.endIndex ? lineEnd + 1 : lineEnd
            if contentEnd == index {
                // Blank line: the headers are over, the rest is the value.
                guard let name else {
                    throw FormDecodingError("multipart/form-data part without a Content-Disposition name.")
                }
                return FormField(name: name, value: String(decoding: part[next...], as: UTF8.self))
            }
            let line = String(decoding: part[index..<contentEnd], as: UTF8.self)
            if let colon = line.firstIndex(of: ":"),
                line[..<colon].lowercased() == "content-disposition"
            {
                name = parameter("name", in: String(line[line.index(after: colon)...]))
            }
            index = next
        }
        if part.isEmpty { return nil }
        throw FormDecodingError("multipart/form-data part without a blank line after its headers.")
    }

    private static func skipTransportPadding(_ body: [UInt8], from start: Int) -> Int {
        var index = start
        while index < body.count, body[index] == UInt8(ascii: " ") || body[index] == UInt8(ascii: "\t") { index += 1 }
        return index
    }

    private static func skipLineEnd(_ body: [UInt8], from start: Int) -> Int {
        var index = start
        if index < body.count, body[index] == UInt8(ascii: "\r") { index += 1 }
        if index < body.count, body[index] == UInt8(ascii: "\n") { index += 1 }
        return index
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
        var index = start
        let last = haystack.count - needle.count
        while index <= last {
            if haystack[index] == needle[0] {
                var matched = true
                for offset in 1..<needle.count where haystack[index + offset] != needle[offset] {
                    matched = false
                    break
                }
                if matched { return index }
            }
            index += 1
        }
        return nil
    }

    private static func escapeQuoted(_ text: String) -> String {
        var out = ""
        for character in text {
            if character == "\"" || character == "\\" { out.append("\\") }
            if character == "\r" || character == "\n" { continue }
            out.append(character)
        }
        return out
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (Foundation-free, so usable anywhere in ExotelKit).
    func trimmingCharacters() -> String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
