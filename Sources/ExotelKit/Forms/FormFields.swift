/// One name/value pair of a form body.
public struct FormField: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// The fields of a form body in wire order, names repeatable.
///
/// Lookups ignore case because real clients disagree on it: the platform documents PascalCase
/// (`StatusCallback`), some SDKs send lowercase (`statuscallback`), and the platform accepts both.
public struct FormFields: Sendable, Hashable, Sequence {
    public private(set) var fields: [FormField]

    public init(_ fields: [FormField] = []) {
        self.fields = fields
    }

    /// Fields from `(name, value)` pairs, in order.
    public init(_ pairs: KeyValuePairs<String, String>) {
        self.fields = pairs.map { FormField(name: $0.key, value: $0.value) }
    }

    public mutating func append(_ name: String, _ value: String) {
        fields.append(FormField(name: name, value: value))
    }

    /// The value of the first field named `name`, compared case-insensitively.
    public func first(_ name: String) -> String? {
        let key = name.lowercased()
        return fields.first { $0.name.lowercased() == key }?.value
    }

    /// Every value of fields named `name` (case-insensitively), in wire order.
    public func all(_ name: String) -> [String] {
        let key = name.lowercased()
        return fields.filter { $0.name.lowercased() == key }.map(\.value)
    }

    public var count: Int { fields.count }
    public var isEmpty: Bool { fields.isEmpty }

    public func makeIterator() -> IndexingIterator<[FormField]> {
        fields.makeIterator()
    }
}

/// A form body that could not be decoded; `message` says what was wrong.
public struct FormDecodingError: Error, Sendable, Hashable {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }
}
