import Crypto
import ExotelKit
import Foundation

/// The JSON text the catalog stores in its `…_json` columns and the hashes it computes.
///
/// Keys are sorted and slashes left unescaped, so equal values always give equal text: a rebuilt catalog's
/// columns compare equal to the original's.
enum CatalogJSON {
    static func encode(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Only maps and arrays of strings and numbers are stored: encoding cannot fail.
        let data = (try? encoder.encode(value)) ?? Data("null".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, from text: String, column: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(text.utf8))
        } catch {
            throw CatalogError.database(operation: "read \(column)", reason: "the stored JSON cannot be read: \(error)")
        }
    }
}

enum SHA256Hex {
    static func of(_ bytes: some Sequence<UInt8>) -> String {
        HexText.lowercase(SHA256.hash(data: Array(bytes)))
    }

    static func of(_ text: String) -> String { Self.of(text.utf8) }
}
