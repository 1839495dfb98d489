/// The `Call` object that `Calls/connect` answers with and Call Details (`GET …/Calls/<sid>`) returns.
///
/// Scalars are kept as the platform's strings (`Duration` and `Price` are strings on the wire, timestamps
/// are zone-less `YYYY-MM-DD HH:mm:ss`); only the `Details` block carries integers.
public struct PlatformCall: Sendable, Hashable {
    /// The `Details` block of `?details=true`.
    public struct Details: Sendable, Hashable {
        /// One entry of `Details.Legs` (`{"Leg":{"Id":1,"OnCallDuration":21}}`).
        public struct Leg: Sendable, Hashable {
            public var id: Int
            public var onCallDuration: Int?

            public init(id: Int, onCallDuration: Int?) {
                self.id = id
                self.onCallDuration = onCallDuration
            }
        }

        public var conversationDuration: Int?
        public var leg1Status: String?
        public var leg2Status: String?
        public var legs: [Leg]

        public init(
            conversationDuration: Int? = nil,
            leg1Status: String? = nil,
            leg2Status: String? = nil,
            legs: [Leg] = []
        ) {
            self.conversationDuration = conversationDuration
            self.leg1Status = leg1Status
            self.leg2Status = leg2Status
            self.legs = legs
        }
    }

    public var sid: String
    public var parentCallSid: String?
    public var dateCreated: String?
    public var dateUpdated: String?
    public var accountSid: String?
    /// Null in flow mode (`Url` instead of `To`).
    public var to: String?
    public var from: String?
    public var phoneNumberSid: String?
    /// `queued`, `in-progress`, `completed`, `failed`, `busy`, `no-answer`, `ringing` or `canceled`.
    public var status: String
    public var startTime: String?
    public var endTime: String?
    public var duration: String?
    public var price: String?
    /// `inbound`, `outbound-dial` or `outbound-api`.
    public var direction: String?
    public var answeredBy: String?
    public var forwardedFrom: String?
    public var callerName: String?
    public var uri: String?
    public var recordingURL: String?
    public var details: Details?

    public init(sid: String, status: String) {
        self.sid = sid
        self.status = status
    }

    /// Decodes a JSON (`{"Call":{…}}`, keys case-insensitive, so the lowercase `{"call":{"sid":…}}` variant too)
    /// or XML (`<TwilioResponse><Call>…`) body, sniffed from its first byte, since clients cannot always trust
    /// the path or the content type. A `RestException` body throws `.rest` whatever the HTTP status was: some
    /// platform answers carry one under a 2xx status.
    public static func decode(_ body: [UInt8]) throws(PlatformResponseError) -> PlatformCall {
        if let exception = RestException.decode(body) { throw .rest(exception) }
        switch firstSignificantByte(body) {
        case UInt8(ascii: "{"):
            guard let document = RESTValue.parse(body) else { throw .malformed("The body is not valid JSON.") }
            guard let call = document["Call"], case .object = call else {
                throw .malformed("The JSON body has no 'Call' object.")
            }
            return try decode(json: call)
        case UInt8(ascii: "<"):
            guard let document = FlatXMLElement.parse(body) else { throw .malformed("The body is not valid XML.") }
            let call = document.name.lowercased() == "call" ? document : document.child("Call")
            guard let call else { throw .malformed("The XML body has no <Call> element.") }
            return try decode(xml: call)
        default:
            throw .malformed("The body is neither JSON nor XML.")
        }
    }

    private static func decode(json call: RESTValue) throws(PlatformResponseError) -> PlatformCall {
        guard let sid = call["Sid"]?.text else { throw .malformed("The 'Call' object has no 'Sid'.") }
        guard let status = call["Status"]?.text else { throw .malformed("The 'Call' object has no 'Status'.") }
        var result = PlatformCall(sid: sid, status: status)
        result.parentCallSid = call["ParentCallSid"]?.text
        result.dateCreated = call["DateCreated"]?.text
        result.dateUpdated = call["DateUpdated"]?.text
        result.accountSid = call["AccountSid"]?.text
        result.to = call["To"]?.text
        result.from = call["From"]?.text
        result.phoneNumberSid = call["PhoneNumberSid"]?.text
        result.startTime = call["StartTime"]?.text
        result.endTime = call["EndTime"]?.text
        result.duration = call["Duration"]?.text
        result.price = call["Price"]?.text
        result.direction = call["Direction"]?.text
        result.answeredBy = call["AnsweredBy"]?.text
        result.forwardedFrom = call["ForwardedFrom"]?.text
        result.callerName = call["CallerName"]?.text
        result.uri = call["Uri"]?.text
        result.recordingURL = call["RecordingUrl"]?.text
        if let details = call["Details"], case .object = details {
            var decoded = Details(
                conversationDuration: details["ConversationDuration"]?.integer,
                leg1Status: details["Leg1Status"]?.text,
                leg2Status: details["Leg2Status"]?.text
            )
            for (position, entry) in (details["Legs"]?.elements ?? []).enumerated() {
                // Documented as `{"Leg":{…}}`; a flat `{Id, OnCallDuration}` is read too.
                let leg = entry["Leg"] ?? entry
                decoded.legs.append(
                    Details.Leg(id: leg["Id"]?.integer ?? position + 1, onCallDuration: leg["OnCallDuration"]?.integer)
                )
            }
            result.details = decoded
        }
        return result
    }

    private static func decode(xml call: FlatXMLElement) throws(PlatformResponseError) -> PlatformCall {
        guard let sid = call.value("Sid") else { throw .malformed("The <Call> element has no <Sid>.") }
        guard let status = call.value("Status") else { throw .malformed("The <Call> element has no <Status>.") }
        var result = PlatformCall(sid: sid, status: status)
        result.parentCallSid = call.value("ParentCallSid")
        result.dateCreated = call.value("DateCreated")
        result.dateUpdated = call.value("DateUpdated")
        result.accountSid = call.value("AccountSid")
        result.to = call.value("To")
        result.from = call.value("From")
        result.phoneNumberSid = call.value("PhoneNumberSid")
        result.startTime = call.value("StartTime")
        result.endTime = call.value("EndTime")
        result.duration = call.value("Duration")
        result.price = call.value("Price")
        result.direction = call.value("Direction")
        result.answeredBy = call.value("AnsweredBy")
        result.forwardedFrom = call.value("ForwardedFrom")
        result.callerName = call.value("CallerName")
        result.uri = call.value("Uri")
        result.recordingURL = call.value("RecordingUrl")
        if let details = call.child("Details") {
            var decoded = Details(
                conversationDuration: details.value("ConversationDuration").flatMap { Int($0) },
                leg1Status: details.value("Leg1Status"),
                leg2Status: details.value("Leg2Status")
            )
            for (position, leg) in (details.child("Legs")?.children ?? []).enumerated() {
                decoded.legs.append(
                    Details.Leg(
                        id: leg.value("Id").flatMap { Int($0) } ?? position + 1,
                        onCallDuration: leg.value("OnCallDuration").flatMap { Int($0) }
                    )
                )
            }
            result.details = decoded
        }
        return result
    }

    /// `{"Call":{…}}` with every documented key in the documented order, absent values as `null`.
    public func jsonBody() -> [UInt8] {
        var writer = RESTJSONWriter()
        writer.beginObject()
        writer.beginObject("Call")
        for (key, value) in scalarFields { writer.string(key, value) }
        if let details {
            writer.beginObject("Details")
            writer.integer("ConversationDuration", details.conversationDuration)
            writer.string("Leg1Status", details.leg1Status)
            writer.string("Leg2Status", details.leg2Status)
            writer.beginArray("Legs")
            for leg in details.legs {
                writer.beginObject()
                writer.beginObject("Leg")
                writer.integer("Id", leg.id)
                writer.integer("OnCallDuration", leg.onCallDuration)
                writer.endObject()
                writer.endObject()
            }
            writer.endArray()
            writer.endObject()
        }
        writer.endObject()
        writer.endObject()
        return writer.bytes
    }

    /// `<TwilioResponse><Call>…</Call></TwilioResponse>`, absent values as empty elements.
    public func xmlBody() -> [UInt8] {
        var writer = FlatXMLWriter()
        writer.open("TwilioResponse")
        writer.open("Call")
        for (key, value) in scalarFields { writer.element(key, value) }
        if let details {
            writer.open("Details")
            writer.element("ConversationDuration", details.conversationDuration.map(String.init))
            writer.element("Leg1Status", details.leg1Status)
            writer.element("Leg2Status", details.leg2Status)
            writer.open("Legs")
            for leg in details.legs {
                writer.open("Leg")
                writer.element("Id", String(leg.id))
                writer.element("OnCallDuration", leg.onCallDuration.map(String.init))
                writer.close("Leg")
            }
            writer.close("Legs")
            writer.close("Details")
        }
        writer.close("Call")
        writer.close("TwilioResponse")
        return writer.bytes
    }

    private var scalarFields: KeyValuePairs<String, String?> {
        [
            "Sid": sid, "ParentCallSid": parentCallSid, "DateCreated": dateCreated, "DateUpdated": dateUpdated,
            "AccountSid": accountSid, "To": to, "From": from, "PhoneNumberSid": phoneNumberSid, "Status": status,
            "StartTime": startTime, "EndTime": endTime, "Duration": duration, "Price": price,
            "Direction": direction, "AnsweredBy": answeredBy, "ForwardedFrom": forwardedFrom,
            "CallerName": callerName, "Uri": uri, "RecordingUrl": recordingURL,
        ]
    }
}

/// Why a platform answer could not be turned into a value.
public enum PlatformResponseError: Error, Sendable, Hashable {
    /// The platform refused the request; its message is in the exception.
    case rest(RestException)
    /// The body is not what the platform sends; the text says what is missing.
    case malformed(String)
}

func firstSignificantByte(_ body: [UInt8]) -> UInt8? {
    // A UTF-8 byte-order mark and leading whitespace are skipped before sniffing.
    var index = 0
    if body.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
    while index < body.count, [0x20, 0x09, 0x0A, 0x0D].contains(body[index]) { index += 1 }
    return index < body.count ? body[index] : nil
}
