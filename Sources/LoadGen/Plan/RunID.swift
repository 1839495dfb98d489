/// The identity of one load run; every stream and call identifier of the run derives from it.
///
/// Deriving identifiers (rather than drawing them at random per stream) lets the verifier, or a
/// second invocation with `--run-id`, find each stream's file again from the run id and index alone.
public struct RunID: Sendable, Hashable, CustomStringConvertible {
    public let value: UInt64

    public init(_ value: UInt64) { self.value = value }

    /// Parses 1 to 16 hexadecimal digits.
    public init(hex: String) throws(LoadGenError) {
        guard (1...16).contains(hex.utf8.count), let value = UInt64(hex, radix: 16) else {
            throw .invalidRunID(hex)
        }
        self.value = value
    }

    public static func random() -> RunID {
        var generator = SystemRandomNumberGenerator()
        return RunID(generator.next())
    }

    /// Sixteen lowercase hex digits.
    public var description: String { hexDigits(self.value, width: 16) }

    /// `stream_sid` of stream `index`: 32 hex characters, the run id then `5` and the index.
    public func streamSid(_ index: Int) -> String { self.description + "5" + hexDigits(UInt64(index), width: 15) }

    /// `call_sid` of stream `index`: 32 hex characters, the run id then `c` and the index.
    ///
    /// The marker digit differs from the stream's, so a file name holding both (`<call>_<stream>.wav`)
    /// still contains each stream_sid exactly once.
    public func callSid(_ index: Int) -> String { self.description + "c" + hexDigits(UInt64(index), width: 15) }
}

func hexDigits(_ value: UInt64, width: Int) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
}
