/// An identifier (account, CallSid, stream_sid) that is safe to use as one path component.
///
/// The platform's ids are hex or alphanumeric; anything outside `A-Z a-z 0-9 _ -` (1 to 128
/// characters, not starting with `-`) is refused before it can reach the filesystem, so `..`, `/`,
/// NUL and shell-special characters never become part of a path.
public struct PathSafeIdentifier: Sendable, Hashable, Codable, CustomStringConvertible {
    public let value: String

    public init(_ value: String, field: String) throws(MediaError) {
        guard Self.isValid(value) else { throw .invalidIdentifier(field: field, value: value) }
        self.value = value
    }

    public static func isValid(_ value: String) -> Bool {
        let utf8 = value.utf8
        guard (1...128).contains(utf8.count), utf8.first != UInt8(ascii: "-") else { return false }
        return utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default:
                false
            }
        }
    }

    public var description: String { self.value }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(raw, field: "identifier") } catch {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: error.description)
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.value)
    }
}
