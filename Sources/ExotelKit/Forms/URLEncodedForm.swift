/// `application/x-www-form-urlencoded` bodies, as HTML forms, curl `-d` and the SDKs send them.
public enum URLEncodedForm {
    public static let contentType = "application/x-www-form-urlencoded"

    /// `name=value&…` with everything but RFC 3986 unreserved characters percent-encoded. Spaces become
    /// `%20` rather than `+`: both decode to a space everywhere, and `%20` is unambiguous in query strings too.
    public static func encode(_ fields: FormFields) -> String {
        fields.map { percentEncode($0.name) + "=" + percentEncode($0.value) }.joined(separator: "&")
    }

    /// Splits on `&` (and `;`, which old HTML forms use), decodes `+` as space and `%XX` escapes.
    /// Empty segments are skipped; a segment without `=` is a field with an empty value.
    public static func decode(_ body: some Collection<UInt8>) throws(FormDecodingError) -> FormFields {
        var result = FormFields()
        for segment in body.split(whereSeparator: { $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: ";") }) {
            let name: String
            let value: String
            if let equals = segment.firstIndex(of: UInt8(ascii: "=")) {
                name = try percentDecode(segment[segment.startIndex..<equals])
                value = try percentDecode(segment[segment.index(after: equals)...])
            } else {
                name = try percentDecode(segment)
                value = ""
            }
            result.append(name, value)
        }
        return result
    }

    /// Percent-encodes every byte outside RFC 3986's unreserved set.
    public static func percentEncode(_ text: String) -> String {
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in text.utf8 {
            if isUnreserved(byte) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `+` and `%XX`; a `%` not followed by two hex digits is an error, since guessing would
    /// silently change a value (a URL, say) that the caller relies on.
    public static func percentDecode(_ bytes: some Collection<UInt8>) throws(FormDecodingError) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%") {
                let first = bytes.index(after: index)
                guard first != bytes.endIndex, let high = hexValue(bytes[first]) else {
                    throw FormDecodingError("Malformed percent escape in form body.")
                }
                let second = bytes.index(after: first)
                guard second != bytes.endIndex, let low = hexValue(bytes[second]) else {
                    throw FormDecodingError("Malformed percent escape in form body.")
                }
                out.append(high << 4 | low)
                index = second
            } else {
                out.append(byte)
            }
            index = bytes.index(after: index)
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            true
        default:
            false
        }
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
