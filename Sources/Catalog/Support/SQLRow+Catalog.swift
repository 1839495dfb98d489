import MediaStore
import SQLKit

extension SQLRow {
    /// A non-null column.
    func value<T: Decodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        try self.decode(column: column, as: T.self)
    }

    /// A nullable column: nil for SQL `NULL`.
    func optional<T: Decodable>(_ column: String, as type: T.Type = T.self) throws -> T? {
        try self.decodeNil(column: column) ? nil : self.decode(column: column, as: T.self)
    }

    /// A text column holding one of an enum's raw values; any other value is a catalog error naming it.
    func choice<T: RawRepresentable>(_ column: String, as type: T.Type, reading what: String) throws -> T
    where T.RawValue == String {
        let text: String = try self.value(column)
        guard let value = T(rawValue: text) else {
            throw CatalogError.database(operation: "read \(what)", reason: "unknown \(column) '\(text)'")
        }
        return value
    }

    /// A time column (epoch milliseconds).
    func timestamp(_ column: String) throws -> Timestamp {
        Timestamp(millisecondsSinceEpoch: try self.value(column, as: Int64.self))
    }

    func optionalTimestamp(_ column: String) throws -> Timestamp? {
        try self.optional(column, as: Int64.self).map(Timestamp.init(millisecondsSinceEpoch:))
    }
}
