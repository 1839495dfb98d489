/// Why one AgentStream WebSocket message was rejected.
///
/// Problems are reported in a fixed priority: JSON syntax first (the whole document is validated before any
/// field is looked at), then the shape of the document (`notAnObject`, `missingEvent`), then the fields of the
/// named event, and finally the media payload when it is decoded. So a message has one well-defined error,
/// whatever order its keys came in.
public enum StreamProtocolError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The bytes are not one valid JSON document; `offset` is the byte where the problem was found.
    case malformedJSON(offset: Int, reason: String)
    /// The document is valid JSON, but its top-level value is not an object.
    case notAnObject
    /// The object has no `"event"` key, or its value is not a string.
    case missingEvent
    /// A field the event needs is missing or has the wrong type; `name` is the dotted path ("media.timestamp").
    case invalidField(name: String, reason: String)
    /// The media payload is not base64; `offset` counts characters from the start of the payload text.
    case invalidBase64(offset: Int)
    /// The media payload decodes to an odd number of bytes, which cannot be 16-bit PCM.
    case oddPCMByteCount(Int)

    /// A stable identifier without the associated values, for metrics labels and `--json` output.
    public var code: String {
        switch self {
        case .malformedJSON: "json"
        case .notAnObject: "not-object"
        case .missingEvent: "missing-event"
        case .invalidField: "field"
        case .invalidBase64: "base64"
        case .oddPCMByteCount: "odd-pcm"
        }
    }

    public var description: String {
        switch self {
        case .malformedJSON(let offset, let reason):
            "stream message is not valid JSON: \(reason) at byte \(offset)"
        case .notAnObject:
            "stream message is valid JSON but not an object; every stream event is an object like {\"event\":…}"
        case .missingEvent:
            "stream message has no \"event\" string, so its kind is unknown"
        case .invalidField(let name, let reason):
            "stream message field \"\(name)\" \(reason)"
        case .invalidBase64(let offset):
            "media payload is not valid base64 at character \(offset) of the payload"
        case .oddPCMByteCount(let count):
            "media payload decodes to \(count) bytes, an odd count; 16-bit PCM needs an even number of bytes"
        }
    }
}
