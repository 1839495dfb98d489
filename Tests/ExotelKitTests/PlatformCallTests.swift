import Foundation
import Testing

@testable import ExotelKit

@Suite struct PlatformCallTests {
    /// The Calls/connect success response of the platform's docs, verbatim.
    static let connectResponse = """
        {"Call": {"Sid": "c5797dcbaaeed7678c4062a4a3ed2f8a", "ParentCallSid": null,
          "DateCreated": "2017-03-03 10:48:33", "DateUpdated": "2017-03-03 10:48:33",
          "AccountSid": "Exotel", "To": "0XXXXX38847", "From": "0XXXXX30240",
          "PhoneNumberSid": "0XXXXXX4890", "Status": "in-progress",
          "StartTime": "2017-03-03 10:48:33", "EndTime": null, "Duration": null, "Price": null,
          "Direction": "outbound-api", "AnsweredBy": null, "ForwardedFrom": null, "CallerName": null,
          "Uri": "/v1/Accounts/Exotel/Calls.json/c5797dcbaaeed7678c4062a4a3ed2f8a", "RecordingUrl": null}}
        """

    /// The Call Details response with `details=true`, verbatim.
    static let detailsResponse = """
        {"Call": {"Sid": "b6cfaf5f5cef3ca0fc937749ef96d245", "ParentCallSid": null,
          "DateCreated": "2017-03-03 10:48:33", "DateUpdated": "2017-03-03 10:53:33",
          "AccountSid": "<sid>", "To": "0XXXXX38847", "From": "0XXXXX30240",
          "PhoneNumberSid": "0XXXXXX4890", "Status": "completed",
          "StartTime": "2017-03-03 10:48:33", "EndTime": "2017-03-03 10:49:50",
          "Duration": "17", "Price": "1.500", "Direction": "outbound-api", "AnsweredBy": null,
          "RecordingUrl": "https://s3-ap-southeast-1.amazonaws.com/.../recording.mp3",
          "Details": {"ConversationDuration": 8, "Leg1Status": "completed", "Leg2Status": "completed",
                      "Legs": [{"Leg": {"Id": 1, "OnCallDuration": 21}}, {"Leg": {"Id": 2, "OnCallDuration": 8}}]}}}
        """

    @Test func decodesTheDocumentedConnectResponse() throws {
        let call = try PlatformCall.decode(Array(Self.connectResponse.utf8))
        #expect(call.sid == "c5797dcbaaeed7678c4062a4a3ed2f8a")
        #expect(call.status == "in-progress")
        #expect(call.parentCallSid == nil)
        #expect(call.accountSid == "Exotel")
        #expect(call.to == "0XXXXX38847")
        #expect(call.from == "0XXXXX30240")
        #expect(call.phoneNumberSid == "0XXXXXX4890")
        #expect(call.dateCreated == "2017-03-03 10:48:33")
        #expect(call.startTime == "2017-03-03 10:48:33")
        #expect(call.endTime == nil)
        #expect(call.duration == nil)
        #expect(call.direction == "outbound-api")
        #expect(call.uri == "/v1/Accounts/Exotel/Calls.json/c5797dcbaaeed7678c4062a4a3ed2f8a")
        #expect(call.recordingURL == nil)
        #expect(call.details == nil)
    }

    @Test func decodesTheDocumentedDetailsResponse() throws {
        let call = try PlatformCall.decode(Array(Self.detailsResponse.utf8))
        #expect(call.status == "completed")
        #expect(call.duration == "17")
        #expect(call.price == "1.500")
        #expect(call.endTime == "2017-03-03 10:49:50")
        #expect(call.recordingURL == "https://s3-ap-southeast-1.amazonaws.com/.../recording.mp3")
        #expect(
            call.details
                == PlatformCall.Details(
                    conversationDuration: 8,
                    leg1Status: "completed",
                    leg2Status: "completed",
                    legs: [.init(id: 1, onCallDuration: 21), .init(id: 2, onCallDuration: 8)]
                )
        )
    }

    /// The Connect Voice AI subset, and the lowercase variant of one doc page.
    @Test func decodesSubsetAndLowercaseVariants() throws {
        let subset = try PlatformCall.decode(
            Array(
                """
                {"Call":{"Sid":"abc","Status":"queued","From":"+9198","PhoneNumberSid":"0X","Direction":"outbound-api","DateCreated":"2024-01-15 14:25:10","RecordingUrl":null}}
                """.utf8
            )
        )
        #expect(subset.sid == "abc")
        #expect(subset.status == "queued")
        #expect(subset.to == nil)
        let lowercase = try PlatformCall.decode(
            Array(#"{"call":{"sid":"def","status":"in-progress","to":null,"from":"1"}}"#.utf8)
        )
        #expect(lowercase.sid == "def")
        #expect(lowercase.status == "in-progress")
        #expect(lowercase.from == "1")
    }

    /// Numbers where strings are documented (and the reverse) are read, not refused.
    @Test func toleratesNumbersForStrings() throws {
        let call = try PlatformCall.decode(
            Array(
                """
                {"Call":{"Sid":"a","Status":"completed","Duration":17,"Price":1.5,"Details":{"ConversationDuration":"8","Legs":[{"Id":"1","OnCallDuration":"21"}]}}}
                """.utf8
            )
        )
        #expect(call.duration == "17")
        #expect(call.price == "1.5")
        #expect(call.details?.conversationDuration == 8)
        #expect(call.details?.legs == [.init(id: 1, onCallDuration: 21)])
    }

    @Test func decodesXML() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <TwilioResponse>
              <Call>
                <Sid>c5797dcbaaeed7678c4062a4a3ed2f8a</Sid>
                <ParentCallSid/>
                <DateCreated>2017-03-03 10:48:33</DateCreated>
                <To></To>
                <From>0XXXXX30240</From>
                <Status>in-progress</Status>
                <Uri>/v1/Accounts/Exotel/Calls/c5797?a=1&amp;b=2</Uri>
              </Call>
            </TwilioResponse>
            """
        let call = try PlatformCall.decode(Array(xml.utf8))
        #expect(call.sid == "c5797dcbaaeed7678c4062a4a3ed2f8a")
        #expect(call.status == "in-progress")
        #expect(call.parentCallSid == nil)
        #expect(call.to == nil)
        #expect(call.from == "0XXXXX30240")
        #expect(call.uri == "/v1/Accounts/Exotel/Calls/c5797?a=1&b=2")
    }

    static func full() -> PlatformCall {
        var call = PlatformCall(sid: "b6cfaf5f5cef3ca0fc937749ef96d245", status: "completed")
        call.dateCreated = "2017-03-03 10:48:33"
        call.dateUpdated = "2017-03-03 10:53:33"
        call.accountSid = "acme"
        call.from = "0XXXXX30240"
        call.to = "0XXXXX38847"
        call.phoneNumberSid = "0XXXXXX4890"
        call.startTime = "2017-03-03 10:48:33"
        call.endTime = "2017-03-03 10:49:50"
        call.duration = "17"
        call.price = "1.500"
        call.direction = "outbound-api"
        call.uri = "/v1/Accounts/acme/Calls/b6cf.json"
        call.recordingURL = "https://recordings.example/acme/b6cf.mp3?x=<&>\"'"
        call.details = .init(
            conversationDuration: 8,
            leg1Status: "completed",
            leg2Status: nil,
            legs: [
                .init(id: 1, onCallDuration: 21), .init(id: 2, onCallDuration: nil),
            ]
        )
        return call
    }

    @Test func jsonAndXMLRoundTrip() throws {
        let flow = PlatformCall(sid: "f", status: "queued")
        for call in [Self.full(), flow] {
            #expect(try PlatformCall.decode(call.jsonBody()) == call)
            #expect(try PlatformCall.decode(call.xmlBody()) == call)
        }
    }

    /// The JSON carries every documented key, nulls as null, Duration/Price as strings, Details ints as numbers.
    @Test func jsonBodyHasEveryDocumentedKey() throws {
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(PlatformCall(sid: "s", status: "queued").jsonBody()))
                as? [String: Any]
        )
        let call = try #require(object["Call"] as? [String: Any])
        #expect(
            Set(call.keys) == [
                "Sid", "ParentCallSid", "DateCreated", "DateUpdated", "AccountSid", "To", "From", "PhoneNumberSid",
                "Status", "StartTime", "EndTime", "Duration", "Price", "Direction", "AnsweredBy", "ForwardedFrom",
                "CallerName", "Uri", "RecordingUrl",
            ]
        )
        #expect(call["To"] is NSNull)
        let text = String(decoding: Self.full().jsonBody(), as: UTF8.self)
        #expect(text.hasPrefix(#"{"Call":{"Sid":"b6cfaf5f5cef3ca0fc937749ef96d245","ParentCallSid":null,"#))
        #expect(text.contains(#""Duration":"17","Price":"1.500""#))
        #expect(
            text.contains(
                #""Details":{"ConversationDuration":8,"Leg1Status":"completed","Leg2Status":null,"Legs":[{"Leg":{"Id":1,"OnCallDuration":21}}"#
            )
        )
    }

    @Test func xmlBodyShape() {
        let text = String(decoding: PlatformCall(sid: "s", status: "queued").xmlBody(), as: UTF8.self)
        #expect(text.contains("<TwilioResponse><Call><Sid>s</Sid><ParentCallSid/>"))
        #expect(text.contains("</Call></TwilioResponse>"))
    }

    /// A RestException body throws `.rest`, even when the HTTP status was 2xx.
    @Test func restExceptionBodiesThrow() {
        let body = Array(#"{"RestException":{"Status":400,"Message":"The 'From' parameter is required."}}"#.utf8)
        #expect(
            throws: PlatformResponseError.rest(RestException(status: 400, message: "The 'From' parameter is required."))
        ) {
            try PlatformCall.decode(body)
        }
    }

    @Test func malformedBodies() {
        for body in [
            "", "Internal Server Error", "{\"Call\":", "{\"Foo\":{}}", "{\"Call\":{\"Status\":\"queued\"}}",
            "<html><body>502</body></html>", "<TwilioResponse><Call><Sid>x</Sid>",
        ] {
            #expect(throws: PlatformResponseError.self) { try PlatformCall.decode(Array(body.utf8)) }
        }
    }

    @Test func timestampsFormatAndParseAsUTC() throws {
        let date = Date(timeIntervalSince1970: 1_488_538_113)  // 2017-03-03 10:48:33 UTC
        #expect(PlatformTimestamp.format(date) == "2017-03-03 10:48:33")
        #expect(PlatformTimestamp.parse("2017-03-03 10:48:33") == date)
        #expect(PlatformTimestamp.parse("2017-03-03T10:48:33") == date)
        #expect(PlatformTimestamp.format(Date(timeIntervalSince1970: 951_782_400.9)) == "2000-02-29 00:00:00")
        #expect(PlatformTimestamp.format(Date(timeIntervalSince1970: -1)) == "1969-12-31 23:59:59")
        for bad in ["2017-02-30 10:00:00", "2017-03-03 24:00:00", "2017-3-3 10:48:33", "", "2017-03-03 10:48:33Z"] {
            #expect(PlatformTimestamp.parse(bad) == nil)
        }
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        #expect(PlatformTimestamp.parse(PlatformTimestamp.format(now)) == now)
    }
}
