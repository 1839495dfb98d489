import Foundation
import Testing

@testable import ExotelKit

@Suite struct StatusCallbackTests {
    /// The documented `application/json` terminal callback, verbatim.
    static let documentedJSON = """
        {"CallSid": "80bfbec2d78bbbf10fb851f4fa165211", "EventType": "terminal",
         "DateCreated": "2024-01-15 14:25:10", "DateUpdated": "2024-01-15 14:30:45",
         "To": "09123456789", "From": "09876543210", "PhoneNumberSid": "0XXXXXX4890",
         "StartTime": "2024-01-15 14:25:12", "EndTime": "2024-01-15 14:30:45",
         "Status": "completed", "ConversationDuration": 320, "Direction": "outbound-api",
         "CustomField": "order_12345",
         "RecordingUrl": "https://s3-ap-southeast-1.amazonaws.com/recordings/abc123.mp3",
         "Legs": [{"OnCallDuration": 335, "Status": "completed", "AnsweredBy": "NA"},
                  {"OnCallDuration": 320, "Status": "completed", "AnsweredBy": "HUMAN"}]}
        """

    static func documented() -> StatusCallback {
        var callback = StatusCallback(callSid: "80bfbec2d78bbbf10fb851f4fa165211")
        callback.eventType = "terminal"
        callback.dateCreated = "2024-01-15 14:25:10"
        callback.dateUpdated = "2024-01-15 14:30:45"
        callback.to = "09123456789"
        callback.from = "09876543210"
        callback.phoneNumberSid = "0XXXXXX4890"
        callback.startTime = "2024-01-15 14:25:12"
        callback.endTime = "2024-01-15 14:30:45"
        callback.status = "completed"
        callback.conversationDuration = 320
        callback.direction = "outbound-api"
        callback.customField = "order_12345"
        callback.recordingURL = "https://s3-ap-southeast-1.amazonaws.com/recordings/abc123.mp3"
        callback.legs = [
            .init(onCallDuration: 335, status: "completed", answeredBy: "NA"),
            .init(onCallDuration: 320, status: "completed", answeredBy: "HUMAN"),
        ]
        return callback
    }

    @Test func parsesTheDocumentedJSON() throws {
        let parsed = try StatusCallback.parse(
            body: Array(Self.documentedJSON.utf8),
            contentType: "application/json; charset=utf-8"
        )
        #expect(parsed == Self.documented())
    }

    /// Numbers as strings, nulls and unknown keys, as the undocumented JSON variants may carry.
    @Test func jsonWithStringsNullsAndUnknownKeys() throws {
        let body = """
            {"CallSid":"a1","EventType":"answered","Status":"in-progress","ConversationDuration":"0","EndTime":null,
             "RecordingUrl":"","DialCallStatus":"x","Legs":[{"OnCallDuration":"12","Status":"in-progress","AnsweredBy":null},
             {"OnCallDuration":null,"Status":null}]}
            """
        let parsed = try StatusCallback.parse(body: Array(body.utf8), contentType: "application/json")
        #expect(parsed.conversationDuration == 0)
        #expect(parsed.endTime == nil)
        #expect(parsed.recordingURL == nil)
        #expect(parsed.legs == [.init(onCallDuration: 12, status: "in-progress"), .init()])
    }

    /// The documented multipart (default) shape: flattened legs, all values strings, empty for unknown.
    @Test func parsesFlattenedMultipart() throws {
        var fields = FormFields()
        for (name, value) in [
            ("CallSid", "80bfbec2d78bbbf10fb851f4fa165211"), ("EventType", "terminal"), ("Status", "completed"),
            ("ConversationDuration", "320"), ("RecordingUrl", ""), ("Legs[0][OnCallDuration]", "335"),
            ("Legs[0][Status]", "completed"), ("Legs[0][AnsweredBy]", "NA"), ("Legs[1][OnCallDuration]", "320"),
            ("Legs[1][Status]", "completed"), ("Legs[1][AnsweredBy]", "Human"), ("Legs[0][Cause]", "16"),
            ("CallFrom", "0987"),
        ] { fields.append(name, value) }
        let parsed = try StatusCallback.parse(
            body: MultipartForm.encode(fields, boundary: "zz"),
            contentType: "multipart/form-data; boundary=\"zz\""
        )
        #expect(parsed.callSid == "80bfbec2d78bbbf10fb851f4fa165211")
        #expect(parsed.eventType == "terminal")
        #expect(parsed.conversationDuration == 320)
        #expect(parsed.recordingURL == nil)
        #expect(
            parsed.legs == [
                .init(onCallDuration: 335, status: "completed", answeredBy: "NA"),
                .init(onCallDuration: 320, status: "completed", answeredBy: "Human"),
            ]
        )
    }

    /// The first `answered` callback: leg 2 not yet answered, its fields empty.
    @Test func parsesUrlencodedAnsweredEvent() throws {
        let body =
            "CallSid=c1&EventType=answered&Status=in-progress&ConversationDuration=&Legs%5B0%5D%5BStatus%5D=in-progress&Legs%5B1%5D%5BStatus%5D=&Legs%5B1%5D%5BOnCallDuration%5D="
        let parsed = try StatusCallback.parse(body: Array(body.utf8), contentType: "application/x-www-form-urlencoded")
        #expect(parsed.status == "in-progress")
        #expect(parsed.conversationDuration == nil)
        #expect(parsed.legs == [.init(status: "in-progress"), .init()])
    }

    /// A skipped leg index keeps leg 2 at index 1.
    @Test func sparseLegIndicesKeepPositions() throws {
        let parsed = try StatusCallback.parse(body: Array("CallSid=c&Legs[1][Status]=busy".utf8), contentType: "")
        #expect(parsed.legs == [.init(), .init(status: "busy")])
    }

    /// The legacy callback without StatusCallbackEvents: four fields.
    @Test func parsesLegacyMinimalCallback() throws {
        let parsed = try StatusCallback.parse(
            body: Array("CallSid=c9&DateUpdated=2024-01-15+14%3A30%3A45&Status=no-answer&RecordingUrl=".utf8),
            contentType: "application/x-www-form-urlencoded; charset=UTF-8"
        )
        var expected = StatusCallback(callSid: "c9")
        expected.dateUpdated = "2024-01-15 14:30:45"
        expected.status = "no-answer"
        #expect(parsed == expected)
    }

    @Test func callSidIsRequired() {
        #expect(throws: StatusCallbackError("The status callback has no CallSid.")) {
            try StatusCallback.parse(body: Array(#"{"EventType":"terminal"}"#.utf8), contentType: "application/json")
        }
        #expect(throws: StatusCallbackError("The status callback has no CallSid.")) {
            try StatusCallback.parse(
                body: Array("CallSid=&Status=completed".utf8),
                contentType: "application/x-www-form-urlencoded"
            )
        }
        #expect(throws: StatusCallbackError.self) {
            try StatusCallback.parse(body: Array("[1,2]".utf8), contentType: "application/json")
        }
        #expect(throws: StatusCallbackError.self) {
            try StatusCallback.parse(body: Array("x".utf8), contentType: "multipart/form-data")
        }
    }

    /// Multipart as the platform sends it: every documented field, all strings, empty for null.
    @Test func encodesMultipartWithEveryField() throws {
        var callback = Self.documented()
        callback.customField = nil
        let (contentType, body) = callback.encoded(as: .multipart, boundary: "bnd")
        #expect(contentType == "multipart/form-data; boundary=bnd")
        let fields = try MultipartForm.decode(body, contentType: contentType)
        #expect(
            fields.map(\.name) == [
                "CallSid", "EventType", "DateCreated", "DateUpdated", "To", "From", "PhoneNumberSid", "StartTime",
                "EndTime", "Status", "ConversationDuration", "Direction", "CustomField", "RecordingUrl",
                "Legs[0][OnCallDuration]", "Legs[0][Status]", "Legs[0][AnsweredBy]",
                "Legs[1][OnCallDuration]", "Legs[1][Status]", "Legs[1][AnsweredBy]",
            ]
        )
        #expect(fields.first("CustomField") == "")
        #expect(fields.first("ConversationDuration") == "320")
        #expect(fields.first("Legs[1][AnsweredBy]") == "HUMAN")
        #expect(
            StatusCallback.defaultBoundary
                == String(callback.encoded(as: .multipart).contentType.split(separator: "=").last!)
        )
    }

    /// JSON as the platform sends it: durations as numbers, absent values as null.
    @Test func encodesJSONWithNumbersAndNulls() throws {
        var callback = Self.documented()
        callback.recordingURL = nil
        callback.legs[1].onCallDuration = nil
        let (contentType, body) = callback.encoded(as: .json)
        #expect(contentType == "application/json")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        #expect(object["ConversationDuration"] as? Int == 320)
        #expect(object["RecordingUrl"] is NSNull)
        let legs = try #require(object["Legs"] as? [[String: Any]])
        #expect(legs[0]["OnCallDuration"] as? Int == 335)
        #expect(legs[1]["OnCallDuration"] is NSNull)
        #expect(
            String(decoding: body, as: UTF8.self).hasPrefix(
                #"{"CallSid":"80bfbec2d78bbbf10fb851f4fa165211","EventType":"terminal","#
            )
        )
    }

    @Test func legacyCallbackEncodesOnlyItsFourFields() throws {
        var callback = StatusCallback(callSid: "c9")
        callback.status = "busy"
        let fields = try MultipartForm.decode(
            callback.encoded(as: .multipart, boundary: "q").body,
            contentType: "multipart/form-data; boundary=q"
        )
        #expect(fields.map(\.name) == ["CallSid", "DateUpdated", "Status", "RecordingUrl"])
        let json = String(decoding: callback.encoded(as: .json).body, as: UTF8.self)
        #expect(json == #"{"CallSid":"c9","DateUpdated":null,"Status":"busy","RecordingUrl":null}"#)
    }

    @Test(arguments: CallbackContentType.allCases)
    func encodeParseRoundTrip(_ format: CallbackContentType) throws {
        var answered = StatusCallback(callSid: "c2")
        answered.eventType = "answered"
        answered.status = "in-progress"
        answered.legs = [.init(status: "in-progress"), .init()]
        for callback in [Self.documented(), answered, StatusCallback(callSid: "c3")] {
            let (contentType, body) = callback.encoded(as: format)
            #expect(try StatusCallback.parse(body: body, contentType: contentType) == callback)
        }
    }
}
