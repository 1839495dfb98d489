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

    /// A time column (epoch milliseconds).
    func timestamp(_ column: String) throws -> Timestamp {
        Timestamp(millisecondsSinceEpoch: try self.value(column, as: Int64.self))
    }

    func optionalTimestamp(_ column: String) throws -> Timestamp? {
        try self.optional(column, as: Int64.self).map(Timestamp.init(millisecondsSinceEpoch:))
    }
}
