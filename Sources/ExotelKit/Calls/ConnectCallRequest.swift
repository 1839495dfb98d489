/// A `POST /v1/Accounts/<sid>/Calls/connect` request in any of its three forms: two numbers, a number to a
/// call flow, or a number to a voice bot.
public struct ConnectCallRequest: Sendable, Hashable {
    /// What leg 1 (`From`) is connected to once it answers.
    public enum Destination: Sendable, Hashable {
        /// `To`: the second number (two-number mode).
        case number(String)
        /// `Url`: a call flow (`http://my.exotel.com/<sid>/exoml/start_voice/<flow_id>`).
        case flow(url: String)
        /// `StreamUrl` + `StreamType` (Connect Voice AI); the type must be `bidirectional`.
        case voiceBot(streamURL: String, streamType: String)
    }

    public static let maximumTimeLimit = 14400
    public static let maximumCustomFieldLength = 128
    public static let maximumStreamNameLength = 32
    /// The platform wants `StreamUrl` *shorter than* 600 characters.
    public static let streamURLLengthLimit = 600

    public var from: String
    public var callerId: String
    public var destination: Destination
    public var callType: String?
    public var timeLimit: Int?
    public var timeOut: Int?
    public var waitURL: String?
    public var record: Bool
    public var recordingChannels: RecordingChannels?
    public var recordingFormat: RecordingFormat?
    /// Two-number or flow streaming (with `streamBegin`); a voice bot's URL lives in `destination`.
    public var streamURL: String?
    public var streamBegin: StreamBegin?
    public var streamName: String?
    public var customField: String?
    public var startPlaybackTo: PlaybackAudience?
    public var startPlaybackValue: String?
    public var statusCallback: String?
    public var statusCallbackEvents: [StatusCallbackEvent]
    public var statusCallbackContentType: CallbackContentType?

    public init(from: String, callerId: String, destination: Destination) {
        self.from = from
        self.callerId = callerId
        self.destination = destination
        self.record = false
        self.statusCallbackEvents = []
    }

    /// Whether this is a Connect Voice AI call (the only kind for which `ringing` callbacks exist).
    public var isVoiceBot: Bool {
        if case .voiceBot = destination { true } else { false }
    }

    /// The same verdicts as the platform, before anything is sent; the first failing rule wins, in the order
    /// the platform's table lists the parameters.
    public func validate() throws(ConnectRequestError) {
        if from.isBlank { throw .required("From") }
        switch destination {
        case .number(let to):
            if to.isBlank { throw .required("To") }
        case .flow(let url):
            if url.isBlank { throw .required("Url") }
            if !url.hasScheme(["http", "https"]) { throw .invalid("Url", "must be an http or https URL") }
        case .voiceBot(let url, let type):
            try Self.validateStreamURL(url)
            if type.isBlank { throw .required("StreamType") }
            if type != "bidirectional" { throw .invalid("StreamType", "must be 'bidirectional'") }
        }
        if callerId.isBlank { throw .required("CallerId") }
        if let callType, callType != "trans", callType != "promo" {
            throw .invalid("CallType", "must be 'trans' or 'promo'")
        }
        if let timeLimit, !(1...Self.maximumTimeLimit).contains(timeLimit) {
            throw .invalid("TimeLimit", "must be an integer between 1 and \(Self.maximumTimeLimit)")
        }
        if let timeOut, timeOut < 1 {
            throw .invalid("TimeOut", "must be a positive integer")
        }
        if let waitURL, !waitURL.hasScheme(["http", "https"]) {
            throw .invalid("WaitUrl", "must be an http or https URL")
        }
        if let streamURL {
            if isVoiceBot {
                throw ConnectRequestError(
                    parameter: "StreamUrl",
                    message: "The 'StreamUrl' parameter may be given only once."
                )
            }
            try Self.validateStreamURL(streamURL)
        }
        if streamBegin != nil, streamURL == nil {
            throw .invalid("StreamBegin", "requires the 'StreamUrl' parameter")
        }
        if let streamName, streamName.count > Self.maximumStreamNameLength {
            throw .invalid("StreamName", "must be at most \(Self.maximumStreamNameLength) characters")
        }
        if let customField, customField.count > Self.maximumCustomFieldLength {
            throw .invalid("CustomField", "must be at most \(Self.maximumCustomFieldLength) characters")
        }
        if let startPlaybackValue, !startPlaybackValue.hasScheme(["http", "https"]) {
            throw .invalid("StartPlaybackValueNew", "must be an http or https URL")
        }
        if let statusCallback, !statusCallback.hasScheme(["http", "https"]) {
            throw .invalid("StatusCallback", "must be an http or https URL")
        }
        if statusCallbackEvents.contains(.ringing), !isVoiceBot {
            throw .invalid(
                "StatusCallbackEvents",
                "value 'ringing' is only supported with 'StreamUrl' and 'StreamType'"
            )
        }
    }

    private static func validateStreamURL(_ url: String) throws(ConnectRequestError) {
        if url.isBlank { throw .required("StreamUrl") }
        if !url.hasScheme(["ws", "wss"]) { throw .invalid("StreamUrl", "must be a ws:// or wss:// URL") }
        if url.count >= streamURLLengthLimit {
            throw .invalid("StreamUrl", "must be shorter than \(streamURLLengthLimit) characters")
        }
    }

    /// The form body real clients send: PascalCase names, in the order of the platform's table.
    ///
    /// `StatusCallbackEvents` goes out as repeated `StatusCallbackEvents[]` fields: that is the spelling of the
    /// platform's own curl examples and of Exotel's Agent-Stream sample client, the most documented one. The
    /// indexed form (`StatusCallbackEvents[0]`) appears only in third-party clients.
    public func formFields() -> FormFields {
        var fields = FormFields()
        fields.append("From", from)
        switch destination {
        case .number(let to): fields.append("To", to)
        case .flow(let url): fields.append("Url", url)
        case .voiceBot: break
        }
        fields.append("CallerId", callerId)
        if let callType { fields.append("CallType", callType) }
        if let timeLimit { fields.append("TimeLimit", String(timeLimit)) }
        if let timeOut { fields.append("TimeOut", String(timeOut)) }
        if let waitURL { fields.append("WaitUrl", waitURL) }
        if record { fields.append("Record", "true") }
        if let recordingChannels { fields.append("RecordingChannels", recordingChannels.rawValue) }
        if let recordingFormat { fields.append("RecordingFormat", recordingFormat.rawValue) }
        if case .voiceBot(let url, let type) = destination {
            fields.append("StreamUrl", url)
            fields.append("StreamType", type)
        } else if let streamURL {
            fields.append("StreamUrl", streamURL)
        }
        if let streamBegin { fields.append("StreamBegin", streamBegin.wireValue) }
        if let streamName { fields.append("StreamName", streamName) }
        if let customField { fields.append("CustomField", customField) }
        if let startPlaybackTo { fields.append("StartPlaybackToNew", startPlaybackTo.rawValue) }
        if let startPlaybackValue { fields.append("StartPlaybackValueNew", startPlaybackValue) }
        if let statusCallback { fields.append("StatusCallback", statusCallback) }
        for event in statusCallbackEvents { fields.append("StatusCallbackEvents[]", event.rawValue) }
        if let statusCallbackContentType {
            fields.append("StatusCallbackContentType", statusCallbackContentType.rawValue)
        }
        return fields
    }

    /// Decodes what any real client sends, then `validate()`s it.
    ///
    /// Lenient where clients differ and the platform is believed to accept them all: names in any case
    /// (PascalCase or the lowercase of one doc page); `StatusCallbackEvents` as `[]`, `[n]`, bare, repeated or
    /// comma-separated; integers as decimal strings; `Record` as `true`/`false` in any case (`True` comes from
    /// Python's `str(True)`); `StreamBegin` with or without spaces and `at`. Empty values count as absent, since
    /// form encoders turn `None`/`nil` into empty strings. Unknown names are ignored, as the platform does.
    public init(form: FormFields) throws(ConnectRequestError) {
        func value(_ name: String) -> String? {
            guard let text = form.first(name)?.trimmingCharacters(), !text.isEmpty else { return nil }
            return text
        }
        func integer(_ name: String, _ requirement: String) throws(ConnectRequestError) -> Int? {
            guard let text = value(name) else { return nil }
            guard let number = Int(text) else { throw .invalid(name, requirement) }
            return number
        }
        func choice<Choice: RawRepresentable>(
            _ name: String,
            _ requirement: String
        ) throws(ConnectRequestError)
            -> Choice? where Choice.RawValue == String
        {
            guard let text = value(name) else { return nil }
            guard let choice = Choice(rawValue: text) ?? Choice(rawValue: text.lowercased()) else {
                throw .invalid(name, requirement)
            }
            return choice
        }

        // The platform names a missing `From` before anything about the destination.
        guard let from = value("From") else { throw .required("From") }
        let to = value("To")
        let url = value("Url")
        let streamURL = value("StreamUrl")
        let streamType = value("StreamType")

        let destination: Destination
        switch (to, url, streamType) {
        case (let to?, nil, nil):
            destination = .number(to)
        case (nil, let url?, nil):
            destination = .flow(url: url)
        case (nil, nil, let type?):
            guard let streamURL else { throw .required("StreamUrl") }
            destination = .voiceBot(streamURL: streamURL, streamType: type.lowercased())
        case (nil, nil, nil):
            throw .required("To")
        default:
            throw ConnectRequestError(
                parameter: "To",
                message: "Only one of 'To', 'Url' or 'StreamUrl' with 'StreamType' may be given."
            )
        }

        self.init(from: from, callerId: value("CallerId") ?? "", destination: destination)
        if case .voiceBot = destination {} else { self.streamURL = streamURL }

        callType = value("CallType")
        timeLimit = try integer("TimeLimit", "must be an integer between 1 and \(Self.maximumTimeLimit)")
        timeOut = try integer("TimeOut", "must be a positive integer")
        waitURL = value("WaitUrl")
        if let text = value("Record") {
            switch text.lowercased() {
            case "true": record = true
            case "false": record = false
            default: throw .invalid("Record", "must be 'true' or 'false'")
            }
        }
        recordingChannels = try choice("RecordingChannels", "must be 'single' or 'dual'")
        recordingFormat = try choice("RecordingFormat", "must be 'mp3' or 'mp3-hq'")
        if let text = value("StreamBegin") {
            guard let begin = StreamBegin(lenient: text) else {
                throw .invalid("StreamBegin", "must be 'at Leg1Connect' or 'at Leg2Connect'")
            }
            streamBegin = begin
        }
        streamName = value("StreamName")
        customField = form.first("CustomField").flatMap { $0.isEmpty ? nil : $0 }
        if let text = value("StartPlaybackToNew") {
            guard
                let audience = PlaybackAudience.allCases.first(where: { $0.rawValue.lowercased() == text.lowercased() })
            else { throw .invalid("StartPlaybackToNew", "must be 'Callee' or 'Both'") }
            startPlaybackTo = audience
        }
        startPlaybackValue = value("StartPlaybackValueNew")
        statusCallback = value("StatusCallback")
        statusCallbackEvents = try Self.decodeEvents(form)
        if let text = value("StatusCallbackContentType") {
            guard let type = CallbackContentType(rawValue: text.lowercased()) else {
                throw .invalid("StatusCallbackContentType", "must be 'multipart/form-data' or 'application/json'")
            }
            statusCallbackContentType = type
        }
        try validate()
    }

    /// Every `StatusCallbackEvents` encoding real clients use, in wire order (indexed ones by index), without
    /// duplicates.
    private static func decodeEvents(_ form: FormFields) throws(ConnectRequestError) -> [StatusCallbackEvent] {
        var ordered: [(index: Int, position: Int, value: String)] = []
        for (position, field) in form.enumerated() {
            let name = field.name.lowercased()
            guard name.hasPrefix("statuscallbackevents") else { continue }
            let suffix = name.dropFirst("statuscallbackevents".count)
            var index = Int.max
            if suffix.isEmpty || suffix == "[]" {
                index = Int.max
            } else if suffix.first == "[", suffix.last == "]", let number = Int(suffix.dropFirst().dropLast()) {
                index = number
            } else {
                continue
            }
            for piece in field.value.split(separator: ",") {
                let text = piece.trimmingCharacters()
                if !text.isEmpty { ordered.append((index, position, text)) }
            }
        }
        let anyIndexed = ordered.contains { $0.index != Int.max }
        if anyIndexed {
            ordered.sort { ($0.index, $0.position) < ($1.index, $1.position) }
        }
        var events: [StatusCallbackEvent] = []
        for entry in ordered {
            guard let event = StatusCallbackEvent(rawValue: entry.value.lowercased()) else {
                throw .invalid("StatusCallbackEvents", "values must be 'terminal' or 'answered'")
            }
            if !events.contains(event) { events.append(event) }
        }
        return events
    }
}

extension String {
    var isBlank: Bool { allSatisfy(\.isWhitespace) }

    /// Whether the text starts with `<scheme>://` for one of `schemes` (case-insensitively) and has a host.
    func hasScheme(_ schemes: [String]) -> Bool {
        guard let colon = firstIndex(of: ":") else { return false }
        let scheme = self[..<colon].lowercased()
        let rest = self[index(after: colon)...]
        guard rest.hasPrefix("//") else { return false }
        let authority = rest.dropFirst(2)
        return schemes.contains(scheme) && !authority.isEmpty && authority.first != "/"
    }
}
