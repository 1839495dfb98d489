/// The platform's error body: `{"RestException":{"Status":400,"Message":"…","Code":…}}` or its XML form.
public struct RestException: Error, Sendable, Hashable, CustomStringConvertible {
    /// The HTTP status the body names (0 when the body names none).
    public var status: Int
    /// The platform's text, e.g. "The 'From' parameter is required."
    public var message: String
    /// Numeric in the OpenAPI spec, a word (`UNAUTHORIZED`) on other pages; kept as text.
    public var code: String?

    public init(status: Int, message: String, code: String? = nil) {
        self.status = status
        self.message = message
        self.code = code
    }

    /// The exception a refused `Calls/connect` request gets.
    public init(_ error: ConnectRequestError) {
        self.init(status: error.httpStatus, message: error.message)
    }

    public var description: String { "\(status) \(message)" }

    /// Reads a JSON or XML exception body, with `Status` and `Code` as numbers or strings; nil if the body is
    /// not one (so callers can test any answer, whatever its HTTP status).
    public static func decode(_ body: [UInt8]) -> RestException? {
        switch firstSignificantByte(body) {
        case UInt8(ascii: "{"):
            guard let exception = RESTValue.parse(body)?["RestException"], case .object = exception,
                let message = exception["Message"]?.text
            else { return nil }
            return RestException(
                status: exception["Status"]?.integer ?? 0,
                message: message,
                code: exception["Code"]?.text
            )
        case UInt8(ascii: "<"):
            guard let document = FlatXMLElement.parse(body) else { return nil }
            let exception =
                document.name.lowercased() == "restexception" ? document : document.child("RestException")
            guard let exception, let message = exception.value("Message") else { return nil }
            return RestException(
                status: exception.value("Status").flatMap { Int($0) } ?? 0,
                message: message,
                code: exception.value("Code")
            )
        default:
            return nil
        }
    }

    /// `{"RestException":{"Status":400,"Message":"…"}}`, with `Code` after them when there is one: as a
    /// number when it is all digits (the OpenAPI type), as a string otherwise.
    public func jsonBody() -> [UInt8] {
        var writer = RESTJSONWriter()
        writer.beginObject()
        writer.beginObject("RestException")
        writer.integer("Status", status)
        writer.string("Message", message)
        if let code {
            if let number = Int(code), String(number) == code {
                writer.integer("Code", number)
            } else {
                writer.string("Code", code)
            }
        }
        writer.endObject()
        writer.endObject()
        return writer.bytes
    }

    /// `<TwilioResponse><RestException><Status/><Message/>[<Code/>]</RestException></TwilioResponse>`.
    public func xmlBody() -> [UInt8] {
        var writer = FlatXMLWriter()
        writer.open("TwilioResponse")
        writer.open("RestException")
        writer.element("Status", String(status))
        writer.element("Message", message)
        if let code { writer.element("Code", code) }
        writer.close("RestException")
        writer.close("TwilioResponse")
        return writer.bytes
    }
}
