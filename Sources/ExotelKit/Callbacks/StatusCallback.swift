/// The platform's `StatusCallback` webhook body.
///
/// Without `StatusCallbackEvents` the platform sends a minimal callback (`CallSid`, `DateUpdated`, `Status`,
/// `RecordingUrl`; `eventType` nil); with them, an `answered` and/or `terminal` callback with every field.
public struct StatusCallback: Sendable, Hashable {
    /// One entry of `Legs`: index 0 is leg 1 (`From`), index 1 leg 2 (`To`).
    public struct Leg: Sendable, Hashable {
        public var onCallDuration: Int?
        /// `completed`, `busy`, `failed`, `no-answer`, `canceled`, `in-progress`; nil when not attempted.
        public var status: String?
        /// `Human`, `Machine`, `NotSure`, `NA`; the platform's case varies (`HUMAN`), so compare case-insensitively.
        public var answeredBy: String?

        public init(onCallDuration: Int? = nil, status: String? = nil, answeredBy: String? = nil) {
            self.onCallDuration = onCallDuration
            self.status = status
            self.answeredBy = answeredBy
        }
    }

    /// The boundary `encoded(as:)` uses unless told otherwise.
    public static let defaultBoundary = "ExotelStatusCallbackBoundary7d3f9a"

    public var callSid: String
    /// `terminal`, `answered` or `ringing`; nil for the legacy minimal callback.
    public var eventType: String?
    public var status: String?
    public var recordingURL: String?
    public var dateCreated: String?
    public var dateUpdated: String?
    public var startTime: String?
    public var endTime: String?
    public var conversationDuration: Int?
    public var direction: String?
    public var from: String?
    public var to: String?
    public var phoneNumberSid: String?
    public var customField: String?
    /// `AccountSid`, when the platform sends it (its documented callback fields do not include it; some
    /// bodies carry it). Only read, never encoded.
    public var accountSid: String?
    public var legs: [Leg]

    public init(callSid: String) {
        self.callSid = callSid
        self.legs = []
    }

    /// Parses an `application/json`, `multipart/form-data` or `application/x-www-form-urlencoded` body.
    ///
    /// Values may be strings or numbers; `null` and empty strings are absent; unknown keys (`DialCallStatus`,
    /// `Legs[0][Cause]`, …) are ignored. Form bodies carry `Legs` flattened as `Legs[0][Status]`; a `Legs`
    /// field holding a JSON array is read too. An unknown content type is sniffed: JSON if it starts with `{`,
    /// urlencoded otherwise.
    public static func parse(body: [UInt8], contentType: String) throws(StatusCallbackError) -> StatusCallback {
        let mediaType = contentType.split(separator: ";").first.map { $0.trimmingWhitespace().lowercased() } ?? ""
        if mediaType == "application/json" || mediaType.hasSuffix("+json")
            || (mediaType != "multipart/form-data" && mediaType != URLEncodedForm.contentType
                && firstSignificantByte(body) == UInt8(ascii: "{"))
        {
            guard let document = RESTValue.parse(body), case .object = document else {
                throw StatusCallbackError("The status callback body is not a JSON object.")
            }
            return try parse(json: document)
        }
        let fields: FormFields
        do {
            fields =
                mediaType == "multipart/form-data"
                ? try MultipartForm.decode(body, contentType: contentType) : try URLEncodedForm.decode(body)
        } catch {
            throw StatusCallbackError("The status callback form is malformed: \(error.message)")
        }
        return try parse(form: fields)
    }

    private static func parse(json: RESTValue) throws(StatusCallbackError) -> StatusCallback {
        guard let callSid = json["CallSid"]?.text else {
            throw StatusCallbackError("The status callback has no CallSid.")
        }
        var callback = StatusCallback(callSid: callSid)
        callback.eventType = json["EventType"]?.text
        callback.status = json["Status"]?.text
        callback.recordingURL = json["RecordingUrl"]?.text
        callback.dateCreated = json["DateCreated"]?.text
        callback.dateUpdated = json["DateUpdated"]?.text
        callback.startTime = json["StartTime"]?.text
        callback.endTime = json["EndTime"]?.text
        callback.conversationDuration = json["ConversationDuration"]?.integer
        callback.direction = json["Direction"]?.text
        callback.from = json["From"]?.text
        callback.to = json["To"]?.text
        callback.phoneNumberSid = json["PhoneNumberSid"]?.text
        callback.customField = json["CustomField"]?.text
        callback.accountSid = json["AccountSid"]?.text
        callback.legs = legs(from: json["Legs"])
        return callback
    }

    private static func legs(from value: RESTValue?) -> [Leg] {
        (value?.elements ?? []).map { entry in
            Leg(
                onCallDuration: entry["OnCallDuration"]?.integer,
                status: entry["Status"]?.text,
                answeredBy: entry["AnsweredBy"]?.text
            )
        }
    }

    private static func parse(form: FormFields) throws(StatusCallbackError) -> StatusCallback {
        func value(_ name: String) -> String? {
            guard let text = form.first(name), !text.isEmpty else { return nil }
            return text
        }
        guard let callSid = value("CallSid") else { throw StatusCallbackError("The status callback has no CallSid.") }
        var callback = StatusCallback(callSid: callSid)
        callback.eventType = value("EventType")
        callback.status = value("Status")
        callback.recordingURL = value("RecordingUrl")
        callback.dateCreated = value("DateCreated")
        callback.dateUpdated = value("DateUpdated")
        callback.startTime = value("StartTime")
        callback.endTime = value("EndTime")
        callback.conversationDuration = value("ConversationDuration").flatMap { RESTValue.string($0).integer }
        callback.direction = value("Direction")
        callback.from = value("From")
        callback.to = value("To")
        callback.phoneNumberSid = value("PhoneNumberSid")
        callback.customField = value("CustomField")
        callback.accountSid = value("AccountSid")

        var flattened: [Int: Leg] = [:]
        for field in form {
            guard let (index, key) = flattenedLegKey(field.name) else { continue }
            var leg = flattened[index] ?? Leg()
            let text = field.value.isEmpty ? nil : field.value
            switch key {
            case "oncallduration": leg.onCallDuration = text.flatMap { RESTValue.string($0).integer }
            case "status": leg.status = text
            case "answeredby": leg.answeredBy = text
            default: break
            }
            flattened[index] = leg
        }
        if let highest = flattened.keys.max() {
            // Indices are positions: a leg the body skipped is kept as an empty leg so leg 2 stays at index 1.
            callback.legs = (0...highest).map { flattened[$0] ?? Leg() }
        } else if let json = value("Legs"), let array = RESTValue.parse(Array(json.utf8)) {
            callback.legs = legs(from: array)
        }
        return callback
    }

    /// `Legs[3][Status]` → (3, "status"); nil for any other name. Indices above 64 are refused so a hostile
    /// body cannot make the leg array huge.
    private static func flattenedLegKey(_ name: String) -> (Int, String)? {
        let lowered = name.lowercased()
        guard lowered.hasPrefix("legs["), lowered.hasSuffix("]") else { return nil }
        let inner = lowered.dropFirst(5).dropLast()
        guard let close = inner.firstIndex(of: "]"), let index = Int(inner[..<close]), (0...64).contains(index)
        else { return nil }
        let rest = inner[inner.index(after: close)...]
        guard rest.first == "[" else { return nil }
        return (index, String(rest.dropFirst()))
    }

    /// The body the platform sends: multipart with every value a string (empty for null), or JSON with
    /// `ConversationDuration`/`OnCallDuration` as numbers and absent values as `null`. A callback without an
    /// `eventType` is the legacy minimal one and carries only its four fields.
    public func encoded(
        as contentType: CallbackContentType,
        boundary: String = StatusCallback.defaultBoundary
    )
        -> (contentType: String, body: [UInt8])
    {
        switch contentType {
        case .multipart:
            var fields = FormFields()
            for (key, value) in scalarFields { fields.append(key, value ?? "") }
            if eventType != nil {
                for (index, leg) in legs.enumerated() {
                    fields.append("Legs[\(index)][OnCallDuration]", leg.onCallDuration.map(String.init) ?? "")
                    fields.append("Legs[\(index)][Status]", leg.status ?? "")
                    fields.append("Legs[\(index)][AnsweredBy]", leg.answeredBy ?? "")
                }
            }
            return (MultipartForm.contentType(boundary: boundary), MultipartForm.encode(fields, boundary: boundary))
        case .json:
            var writer = RESTJSONWriter()
            writer.beginObject()
            for (key, value) in scalarFields {
                if key == "ConversationDuration" {
                    writer.integer(key, conversationDuration)
                } else {
                    writer.string(key, value)
                }
            }
            if eventType != nil {
                writer.beginArray("Legs")
                for leg in legs {
                    writer.beginObject()
                    writer.integer("OnCallDuration", leg.onCallDuration)
                    writer.string("Status", leg.status)
                    writer.string("AnsweredBy", leg.answeredBy)
                    writer.endObject()
                }
                writer.endArray()
            }
            writer.endObject()
            return (CallbackContentType.json.rawValue, writer.bytes)
        }
    }

    /// The scalar fields in the documented order: the minimal set for a legacy callback, all of them otherwise.
    private var scalarFields: [(String, String?)] {
        guard eventType != nil else {
            return [
                ("CallSid", callSid), ("DateUpdated", dateUpdated), ("Status", status), ("RecordingUrl", recordingURL),
            ]
        }
        return [
            ("CallSid", callSid), ("EventType", eventType), ("DateCreated", dateCreated), ("DateUpdated", dateUpdated),
            ("To", to), ("From", from), ("PhoneNumberSid", phoneNumberSid), ("StartTime", startTime),
            ("EndTime", endTime), ("Status", status), ("ConversationDuration", conversationDuration.map(String.init)),
            ("Direction", direction), ("CustomField", customField), ("RecordingUrl", recordingURL),
        ]
    }
}

/// A status callback body that cannot be read; `message` says why.
public struct StatusCallbackError: Error, Sendable, Hashable {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }
}
