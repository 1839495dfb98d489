import Testing

@testable import ExotelKit

/// Decodes a urlencoded body the way the simulator receives it.
private func request(_ body: String) throws -> ConnectCallRequest {
    try ConnectCallRequest(form: URLEncodedForm.decode(Array(body.utf8)))
}

/// Expects the platform's verdict for a urlencoded body.
private func expectRefusal(
    _ body: String,
    parameter: String?,
    message: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    do {
        let decoded = try request(body)
        Issue.record("accepted: \(decoded)", sourceLocation: sourceLocation)
    } catch let error as ConnectRequestError {
        #expect(error.message == message, sourceLocation: sourceLocation)
        #expect(error.parameter == parameter, sourceLocation: sourceLocation)
        #expect(error.httpStatus == 400, sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

private let twoNumbers = "From=09876543210&To=09123456789&CallerId=0XXXXXX4890"
private let voiceBot =
    "From=09876543210&CallerId=0XXXXXX4890&StreamUrl=wss://bot.example.com/s&StreamType=bidirectional"

@Suite struct ConnectCallRequestValidationTests {
    @Test func fromIsRequired() {
        expectRefusal("To=1&CallerId=2", parameter: "From", message: "The 'From' parameter is required.")
        expectRefusal("From=&To=1&CallerId=2", parameter: "From", message: "The 'From' parameter is required.")
        expectRefusal("CallerId=2", parameter: "From", message: "The 'From' parameter is required.")
        let typed = ConnectCallRequest(from: " ", callerId: "2", destination: .number("1"))
        #expect(throws: ConnectRequestError(parameter: "From", message: "The 'From' parameter is required.")) {
            try typed.validate()
        }
    }

    @Test func toIsRequiredWithoutUrlOrStream() {
        expectRefusal("From=1&CallerId=2", parameter: "To", message: "The 'To' parameter is required.")
        let typed = ConnectCallRequest(from: "1", callerId: "2", destination: .number(""))
        #expect(throws: ConnectRequestError(parameter: "To", message: "The 'To' parameter is required.")) {
            try typed.validate()
        }
    }

    @Test func callerIdIsRequired() {
        expectRefusal("From=1&To=2", parameter: "CallerId", message: "The 'CallerId' parameter is required.")
    }

    @Test func toUrlAndStreamAreExclusive() {
        let message = "Only one of 'To', 'Url' or 'StreamUrl' with 'StreamType' may be given."
        expectRefusal(twoNumbers + "&Url=http://my.exotel.com/a/exoml/start_voice/1", parameter: "To", message: message)
        expectRefusal(voiceBot + "&To=1", parameter: "To", message: message)
        expectRefusal(voiceBot + "&Url=http://my.exotel.com/a/exoml/start_voice/1", parameter: "To", message: message)
    }

    @Test func flowUrlMustBeHTTP() {
        expectRefusal(
            "From=1&CallerId=2&Url=my.exotel.com/a",
            parameter: "Url",
            message: "The 'Url' parameter must be an http or https URL."
        )
    }

    @Test func voiceBotNeedsStreamUrl() {
        expectRefusal(
            "From=1&CallerId=2&StreamType=bidirectional",
            parameter: "StreamUrl",
            message: "The 'StreamUrl' parameter is required."
        )
    }

    @Test func streamTypeMustBeBidirectional() {
        expectRefusal(
            "From=1&CallerId=2&StreamUrl=wss://b/s&StreamType=unidirectional",
            parameter: "StreamType",
            message: "The 'StreamType' parameter must be 'bidirectional'."
        )
    }

    @Test func streamUrlMustBeWebSocket() {
        let message = "The 'StreamUrl' parameter must be a ws:// or wss:// URL."
        expectRefusal(
            "From=1&CallerId=2&StreamUrl=https://b/s&StreamType=bidirectional",
            parameter: "StreamUrl",
            message: message
        )
        expectRefusal(twoNumbers + "&StreamUrl=http://b/s", parameter: "StreamUrl", message: message)
    }

    @Test func streamUrlMustBeShorterThan600() throws {
        let prefix = "wss://b.example/"
        let fits = prefix + String(repeating: "a", count: 599 - prefix.count)
        let tooLong = prefix + String(repeating: "a", count: 600 - prefix.count)
        #expect(try request(twoNumbers + "&StreamUrl=" + fits).streamURL == fits)
        expectRefusal(
            twoNumbers + "&StreamUrl=" + tooLong,
            parameter: "StreamUrl",
            message: "The 'StreamUrl' parameter must be shorter than 600 characters."
        )
    }

    @Test func streamUrlOnlyOnceForVoiceBot() {
        var typed = ConnectCallRequest(
            from: "1",
            callerId: "2",
            destination: .voiceBot(streamURL: "wss://a/", streamType: "bidirectional")
        )
        typed.streamURL = "wss://b/"
        #expect(
            throws: ConnectRequestError(
                parameter: "StreamUrl",
                message: "The 'StreamUrl' parameter may be given only once."
            )
        ) {
            try typed.validate()
        }
    }

    @Test func callTypeIsTransOrPromo() throws {
        #expect(try request(twoNumbers + "&CallType=trans").callType == "trans")
        expectRefusal(
            twoNumbers + "&CallType=spam",
            parameter: "CallType",
            message: "The 'CallType' parameter must be 'trans' or 'promo'."
        )
    }

    @Test func timeLimitIsBetween1And14400() throws {
        let message = "The 'TimeLimit' parameter must be an integer between 1 and 14400."
        #expect(try request(twoNumbers + "&TimeLimit=14400").timeLimit == 14400)
        #expect(try request(twoNumbers + "&TimeLimit=1").timeLimit == 1)
        expectRefusal(twoNumbers + "&TimeLimit=14401", parameter: "TimeLimit", message: message)
        expectRefusal(twoNumbers + "&TimeLimit=0", parameter: "TimeLimit", message: message)
        expectRefusal(twoNumbers + "&TimeLimit=ten", parameter: "TimeLimit", message: message)
    }

    @Test func timeOutIsPositive() throws {
        #expect(try request(twoNumbers + "&TimeOut=30").timeOut == 30)
        let message = "The 'TimeOut' parameter must be a positive integer."
        expectRefusal(twoNumbers + "&TimeOut=0", parameter: "TimeOut", message: message)
        expectRefusal(twoNumbers + "&TimeOut=3.5", parameter: "TimeOut", message: message)
    }

    @Test func waitUrlMustBeHTTP() {
        expectRefusal(
            twoNumbers + "&WaitUrl=ftp://a/b.wav",
            parameter: "WaitUrl",
            message: "The 'WaitUrl' parameter must be an http or https URL."
        )
    }

    @Test func recordIsTrueOrFalse() throws {
        #expect(try request(twoNumbers + "&Record=true").record)
        #expect(try request(twoNumbers + "&Record=True").record)
        #expect(try request(twoNumbers + "&Record=FALSE").record == false)
        #expect(try request(twoNumbers).record == false)
        expectRefusal(
            twoNumbers + "&Record=1",
            parameter: "Record",
            message: "The 'Record' parameter must be 'true' or 'false'."
        )
    }

    @Test func recordingChannelsIsSingleOrDual() throws {
        #expect(try request(twoNumbers + "&RecordingChannels=dual").recordingChannels == .dual)
        expectRefusal(
            twoNumbers + "&RecordingChannels=stereo",
            parameter: "RecordingChannels",
            message: "The 'RecordingChannels' parameter must be 'single' or 'dual'."
        )
    }

    @Test func recordingFormatIsMp3OrMp3HQ() throws {
        #expect(try request(twoNumbers + "&RecordingFormat=mp3-hq").recordingFormat == .mp3HQ)
        expectRefusal(
            twoNumbers + "&RecordingFormat=wav",
            parameter: "RecordingFormat",
            message: "The 'RecordingFormat' parameter must be 'mp3' or 'mp3-hq'."
        )
    }

    @Test func streamBeginNeedsStreamUrlAndAKnownLeg() {
        expectRefusal(
            twoNumbers + "&StreamBegin=Leg1Connect",
            parameter: "StreamBegin",
            message: "The 'StreamBegin' parameter requires the 'StreamUrl' parameter."
        )
        expectRefusal(
            twoNumbers + "&StreamUrl=wss://a/&StreamBegin=Leg3Connect",
            parameter: "StreamBegin",
            message: "The 'StreamBegin' parameter must be 'at Leg1Connect' or 'at Leg2Connect'."
        )
    }

    @Test func streamNameIsAtMost32() throws {
        #expect(try request(voiceBot + "&StreamName=" + String(repeating: "n", count: 32)).streamName?.count == 32)
        expectRefusal(
            voiceBot + "&StreamName=" + String(repeating: "n", count: 33),
            parameter: "StreamName",
            message: "The 'StreamName' parameter must be at most 32 characters."
        )
    }

    @Test func customFieldIsAtMost128() throws {
        #expect(
            try request(twoNumbers + "&CustomField=" + String(repeating: "c", count: 128)).customField?.count == 128
        )
        expectRefusal(
            twoNumbers + "&CustomField=" + String(repeating: "c", count: 129),
            parameter: "CustomField",
            message: "The 'CustomField' parameter must be at most 128 characters."
        )
    }

    @Test func startPlaybackToIsCalleeOrBoth() throws {
        #expect(try request(twoNumbers + "&StartPlaybackToNew=Both").startPlaybackTo == .both)
        #expect(try request(twoNumbers + "&StartPlaybackToNew=callee").startPlaybackTo == .callee)
        expectRefusal(
            twoNumbers + "&StartPlaybackToNew=Caller",
            parameter: "StartPlaybackToNew",
            message: "The 'StartPlaybackToNew' parameter must be 'Callee' or 'Both'."
        )
    }

    @Test func startPlaybackValueMustBeHTTP() {
        expectRefusal(
            twoNumbers + "&StartPlaybackValueNew=hello.wav",
            parameter: "StartPlaybackValueNew",
            message: "The 'StartPlaybackValueNew' parameter must be an http or https URL."
        )
    }

    @Test func statusCallbackMustBeHTTP() {
        expectRefusal(
            twoNumbers + "&StatusCallback=//cb",
            parameter: "StatusCallback",
            message: "The 'StatusCallback' parameter must be an http or https URL."
        )
    }

    @Test func statusCallbackEventsAreTerminalOrAnswered() {
        expectRefusal(
            twoNumbers + "&StatusCallbackEvents[]=completed",
            parameter: "StatusCallbackEvents",
            message: "The 'StatusCallbackEvents' parameter values must be 'terminal' or 'answered'."
        )
    }

    @Test func ringingOnlyForVoiceBot() throws {
        #expect(try request(voiceBot + "&StatusCallbackEvents[]=ringing").statusCallbackEvents == [.ringing])
        expectRefusal(
            twoNumbers + "&StatusCallbackEvents[]=ringing",
            parameter: "StatusCallbackEvents",
            message:
                "The 'StatusCallbackEvents' parameter value 'ringing' is only supported with 'StreamUrl' and 'StreamType'."
        )
    }

    @Test func statusCallbackContentTypeIsMultipartOrJSON() throws {
        #expect(
            try request(twoNumbers + "&StatusCallbackContentType=application%2Fjson").statusCallbackContentType == .json
        )
        expectRefusal(
            twoNumbers + "&StatusCallbackContentType=text%2Fxml",
            parameter: "StatusCallbackContentType",
            message: "The 'StatusCallbackContentType' parameter must be 'multipart/form-data' or 'application/json'."
        )
    }
}

@Suite struct ConnectCallRequestCodingTests {
    static func full() -> ConnectCallRequest {
        var request = ConnectCallRequest(
            from: "+919876543210",
            callerId: "0XXXXXX4890",
            destination: .number("09123456789")
        )
        request.callType = "trans"
        request.timeLimit = 14400
        request.timeOut = 30
        request.waitURL = "https://audio.example.com/wait.wav?v=1a2b3c4d5e6f"
        request.record = true
        request.recordingChannels = .dual
        request.recordingFormat = .mp3HQ
        request.streamURL = "wss://user:pw@ingest.example.com/stream?sample-rate=16000"
        request.streamBegin = .leg2Connect
        request.customField = "order_12345 & co"
        request.startPlaybackTo = .both
        request.startPlaybackValue = "https://audio.example.com/hello.wav"
        request.statusCallback = "https://hooks.example.com/exotel?secret=s"
        request.statusCallbackEvents = [.terminal, .answered]
        request.statusCallbackContentType = .json
        return request
    }

    @Test func encodesPascalCaseInTableOrder() {
        let fields = Self.full().formFields()
        #expect(
            fields.map(\.name) == [
                "From", "To", "CallerId", "CallType", "TimeLimit", "TimeOut", "WaitUrl", "Record", "RecordingChannels",
                "RecordingFormat", "StreamUrl", "StreamBegin", "CustomField", "StartPlaybackToNew",
                "StartPlaybackValueNew",
                "StatusCallback", "StatusCallbackEvents[]", "StatusCallbackEvents[]", "StatusCallbackContentType",
            ]
        )
        #expect(fields.first("Record") == "true")
        #expect(fields.first("StreamBegin") == "at Leg2Connect")
        #expect(fields.all("StatusCallbackEvents[]") == ["terminal", "answered"])
        #expect(fields.first("RecordingFormat") == "mp3-hq")
    }

    @Test func minimalRequestSendsOnlyTheRequiredFields() {
        let request = ConnectCallRequest(from: "1", callerId: "3", destination: .number("2"))
        #expect(URLEncodedForm.encode(request.formFields()) == "From=1&To=2&CallerId=3")
    }

    @Test func roundTripsThroughUrlencodedAndMultipart() throws {
        let flow = ConnectCallRequest(
            from: "1",
            callerId: "3",
            destination: .flow(url: "http://my.exotel.com/sid/exoml/start_voice/42")
        )
        var bot = ConnectCallRequest(
            from: "1",
            callerId: "3",
            destination: .voiceBot(streamURL: "wss://bot/s?sample-rate=8000", streamType: "bidirectional")
        )
        bot.streamName = "support-bot"
        bot.statusCallbackEvents = [.ringing, .terminal]
        for original in [Self.full(), flow, bot] {
            let urlencoded = try URLEncodedForm.decode(Array(URLEncodedForm.encode(original.formFields()).utf8))
            #expect(try ConnectCallRequest(form: urlencoded) == original)
            let multipart = try MultipartForm.decode(
                MultipartForm.encode(original.formFields(), boundary: "b0"),
                contentType: "multipart/form-data; boundary=b0"
            )
            #expect(try ConnectCallRequest(form: multipart) == original)
        }
    }

    @Test func flowModeSendsUrlInsteadOfTo() {
        let request = ConnectCallRequest(
            from: "1",
            callerId: "3",
            destination: .flow(url: "http://my.exotel.in/exoml/start/9")
        )
        #expect(request.formFields().first("Url") == "http://my.exotel.in/exoml/start/9")
        #expect(request.formFields().first("To") == nil)
    }

    /// Every StatusCallbackEvents encoding real clients use decodes to the same events.
    @Test(arguments: [
        "StatusCallbackEvents[]=terminal&StatusCallbackEvents[]=answered",
        "StatusCallbackEvents[0]=terminal&StatusCallbackEvents[1]=answered",
        "StatusCallbackEvents[1]=answered&StatusCallbackEvents[0]=terminal",
        "StatusCallbackEvents=terminal&StatusCallbackEvents=answered",
        "StatusCallbackEvents=terminal,answered",
        "StatusCallbackEvents=terminal%2C%20answered",
        "statuscallbackevents%5B%5D=Terminal&statuscallbackevents%5B%5D=answered",
        "StatusCallbackEvents[]=terminal&StatusCallbackEvents[]=answered&StatusCallbackEvents[]=terminal",
    ])
    func everyEventsEncoding(_ encoding: String) throws {
        #expect(try request(twoNumbers + "&" + encoding).statusCallbackEvents == [.terminal, .answered])
    }

    @Test func singleBareEvent() throws {
        #expect(try request(twoNumbers + "&StatusCallbackEvents=terminal").statusCallbackEvents == [.terminal])
        #expect(try request(twoNumbers + "&StatusCallbackEvents=").statusCallbackEvents == [])
    }

    /// The lowercase names of one doc page (`from`, `callerid`, `streamurl`, `streamtype`).
    @Test func lowercaseNames() throws {
        let decoded = try request(
            "from=1&callerid=3&streamurl=wss://b/s&streamtype=bidirectional&timelimit=60&record=true&customfield=x"
        )
        #expect(decoded.from == "1")
        #expect(decoded.callerId == "3")
        #expect(decoded.destination == .voiceBot(streamURL: "wss://b/s", streamType: "bidirectional"))
        #expect(decoded.timeLimit == 60)
        #expect(decoded.record)
        #expect(decoded.customField == "x")
    }

    @Test(arguments: [
        ("at Leg1Connect", StreamBegin.leg1Connect), ("atLeg1connect", .leg1Connect), ("Leg1Connect", .leg1Connect),
        ("at Leg2Connect", .leg2Connect), ("atLeg2connect", .leg2Connect), ("leg2connect", .leg2Connect),
        ("AT LEG2 CONNECT", .leg2Connect),
    ])
    func streamBeginSpellings(_ spelling: String, _ expected: StreamBegin) throws {
        let body = twoNumbers + "&StreamUrl=wss://a/&StreamBegin=" + URLEncodedForm.percentEncode(spelling)
        #expect(try request(body).streamBegin == expected)
    }

    /// What the Python `exotel` and `pyexotel` packages send: ints as strings, `Record` from `str(True)`.
    @Test func pythonClientBodies() throws {
        let decoded = try request(
            "From=0987&CallerId=0XXX&To=0912&TimeLimit=14400&CallType=trans&TimeOut=30&CustomField=&StatusCallback=https%3A%2F%2Fh%2Fcb&Record=True"
        )
        #expect(decoded.timeLimit == 14400)
        #expect(decoded.timeOut == 30)
        #expect(decoded.customField == nil)
        #expect(decoded.statusCallback == "https://h/cb")
        #expect(decoded.record)
    }

    /// Exotel's Agent-Stream sample and the docs' multipart curl for Connect Voice AI.
    @Test func agentStreamSampleBody() throws {
        let decoded = try request(
            "From=%2B919876543210&CallerId=0XXXXXX4890&StreamUrl=wss%3A%2F%2Fbot.example.com%2Fmedia%3Fsample-rate%3D16000&StreamType=bidirectional&StatusCallback=https%3A%2F%2Fh%2Fcb&StatusCallbackEvents%5B%5D=terminal"
        )
        #expect(
            decoded.destination
                == .voiceBot(streamURL: "wss://bot.example.com/media?sample-rate=16000", streamType: "bidirectional")
        )
        #expect(decoded.statusCallbackEvents == [.terminal])
        #expect(decoded.isVoiceBot)
    }

    @Test func unknownParametersAreIgnored() throws {
        #expect(
            try request(twoNumbers + "&Foo=bar&details=true")
                == ConnectCallRequest(
                    from: "09876543210",
                    callerId: "0XXXXXX4890",
                    destination: .number("09123456789")
                )
        )
    }
}
