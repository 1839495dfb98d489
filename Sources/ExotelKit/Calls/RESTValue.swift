import Foundation

/// A parsed JSON value of the platform's REST bodies. The platform is inconsistent about scalar types (numbers
/// as strings and vice versa, `null` vs `""`), so readers go through the lenient accessors below rather than
/// matching cases.
enum RESTValue: Sendable, Hashable, Decodable {
    case null
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case array([RESTValue])
    case object([String: RESTValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([RESTValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: RESTValue].self))
        }
    }

    /// Parses a JSON document; nil when the bytes are not JSON.
    static func parse(_ body: [UInt8]) -> RESTValue? {
        try? JSONDecoder().decode(RESTValue.self, from: Data(body))
    }

    /// The member named `name`, compared case-insensitively (the platform has a lowercase variant).
    subscript(_ name: String) -> RESTValue? {
        guard case .object(let members) = self else { return nil }
        if let exact = members[name] { return exact }
        let key = name.lowercased()
        return members.first { $0.key.lowercased() == key }?.value
    }

    /// A scalar as text (numbers in decimal); nil for null, empty strings and containers.
    var text: String? {
        switch self {
        case .string(let value): value.isEmpty ? nil : value
        case .integer(let value): String(value)
        case .number(let value): value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
        case .bool(let value): String(value)
        case .null, .array, .object: nil
        }
    }

    /// A scalar as an integer, from a number or a decimal string; nil otherwise.
    var integer: Int? {
        switch self {
        case .integer(let value): value
        case .number(let value): value.isFinite && value == value.rounded() ? Int(exactly: value) : nil
        case .string(let value): Int(value.trimmingCharacters())
        case .null, .bool, .array, .object: nil
        }
    }

    var elements: [RESTValue] {
        if case .array(let values) = self { values } else { [] }
    }
}

/// Writes JSON with the key order and scalar types the platform uses.
struct RESTJSONWriter {
    private(set) var text = ""
    private var needsComma = [false]

    mutating func beginObject(_ key: String? = nil) {
        prefix(key)
        text += "{"
        needsComma.append(false)
    }

    mutating func endObject() {
        needsComma.removeLast()
        text += "}"
    }

    mutating func beginArray(_ key: String? = nil) {
        prefix(key)
        text += "["
        needsComma.append(false)
    }

    mutating func endArray() {
        needsComma.removeLast()
        text += "]"
    }

    mutating func string(_ key: String?, _ value: String?) {
        prefix(key)
        if let value { text += Self.quoted(value) } else { text += "null" }
    }

    mutating func integer(_ key: String?, _ value: Int?) {
        prefix(key)
        if let value { text += String(value) } else { text += "null" }
    }

    var bytes: [UInt8] { Array(text.utf8) }

    private mutating func prefix(_ key: String?) {
        if needsComma[needsComma.count - 1] { text += "," }
        needsComma[needsComma.count - 1] = true
        if let key { text += Self.quoted(key) + ":" }
    }

    static func quoted(_ value: String) -> String { JSONText.quoted(value) }
}
