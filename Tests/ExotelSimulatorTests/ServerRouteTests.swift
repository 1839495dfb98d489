import ExotelKit
import ExotelSimulator
import Foundation
import NIOHTTP1
import Testing

/// The REST surface answers every route the platform has, in the format the path asks for.
@Suite(.serialized) struct ServerRouteTests {
    @Test func connectAnswersJSONWithTheCall() async throws {
        try await withTestSimulator { running, _ in
            let response = try await WireClient(running).connect(twoNumberForm(["CustomField": "order-7"]))
            #expect(response.status == 200)
            #expect(response.header("content-type")?.hasPrefix("application/json") == true)
            #expect(response.text.hasPrefix("{"))
            let call = try PlatformCall.decode(response.body)
            #expect(call.sid.count == 32)
            #expect(call.status == "in-progress")
            #expect(call.from == "+919900000001")
            #expect(call.to == "+919900000002")
            #expect(call.accountSid == TestAccounts.primary.sid)
            #expect(call.details == nil)
            // The platform kept the call under the account it was placed for.
            #expect(await running.platform.call(accountSid: TestAccounts.primary.sid, sid: call.sid) != nil)
            #expect(await running.platform.call(accountSid: TestAccounts.other.sid, sid: call.sid) == nil)
        }
    }

    @Test func connectWithoutJSONSuffixAnswersXML() async throws {
        try await withTestSimulator { running, _ in
            let response = try await WireClient(running).connect(twoNumberForm(), json: false)
            #expect(response.status == 200)
            #expect(response.header("content-type")?.hasPrefix("application/xml") == true)
            #expect(response.text.contains("<TwilioResponse>"))
            #expect(response.text.contains("<Call>"))
            let call = try PlatformCall.decode(response.body)
            #expect(call.from == "+919900000001")
            #expect(await running.platform.call(accountSid: TestAccounts.primary.sid, sid: call.sid) != nil)
        }
    }

    @Test func multipartBodyIsParsedLikeUrlencoded() async throws {
        try await withTestSimulator { running, _ in
            let response = try await WireClient(running).connectMultipart(
                twoNumberForm(from: "+919811111111", to: "+919822222222")
            )
            #expect(response.status == 200, "\(response.text)")
            let call = try PlatformCall.decode(response.body)
            #expect(call.from == "+919811111111")
            #expect(call.to == "+919822222222")
        }
    }

    @Test func flowModeAnswersWithNullTo() async throws {
        try await withTestSimulator { running, _ in
            var fields = FormFields()
            fields.append("From", "+919900000001")
            fields.append("CallerId", "08030752400")
            fields.append("Url", "http://my.exotel.com/\(TestAccounts.primary.sid)/exoml/start_voice/926")
            let response = try await WireClient(running).connect(fields)
            #expect(response.status == 200, "\(response.text)")
            #expect(try PlatformCall.decode(response.body).to == nil)
        }
    }

    @Test func callDetailsInBothFormats() async throws {
        try await withTestSimulator { running, _ in
            let client = WireClient(running)
            let placed = try PlatformCall.decode(try await client.connect(twoNumberForm()).body)

            let json = try await client.details(placed.sid)
            #expect(json.status == 200)
            #expect(json.header("content-type")?.hasPrefix("application/json") == true)
            let fromJSON = try PlatformCall.decode(json.body)
            #expect(fromJSON.sid == placed.sid)
            #expect(fromJSON.from == "+919900000001")
            #expect(fromJSON.details == nil)

            let xml = try await client.details(placed.sid, json: false)
            #expect(xml.status == 200)
            #expect(xml.header("content-type")?.hasPrefix("application/xml") == true)
            #expect(xml.text.contains("<TwilioResponse>"))
            #expect(try PlatformCall.decode(xml.body).sid == placed.sid)
        }
    }

    @Test func detailsTrueAddsTheDetailsBlockOnceTheCallIsOver() async throws {
        try await withTestSimulator { running, _ in
            let client = WireClient(running)
            let placed = try PlatformCall.decode(try await client.connect(twoNumberForm()).body)
            await running.platform.waitUntilIdle()
            let response = try await client.details(placed.sid, query: "?details=true")
            let call = try PlatformCall.decode(response.body)
            #expect(call.status == "completed")
            let details = try #require(call.details)
            #expect(details.leg1Status == "completed")
            #expect(details.leg2Status == "completed")
            #expect((details.conversationDuration ?? 0) > 0)
        }
    }

    @Test(arguments: [
        "/v1/accounts/ACprimary01/calls/connect.json",
        "/V1/ACCOUNTS/ACprimary01/CALLS/CONNECT.JSON",
        "/v1/Accounts/ACprimary01/Calls/Connect.Json",
        "//v1/Accounts/ACprimary01/Calls/connect.json",
    ])
    func pathsMatchCaseInsensitively(_ path: String) async throws {
        try await withTestSimulator { running, _ in
            let client = WireClient(running)
            let response = try await client.send(
                .POST,
                path,
                authorization: TestAccounts.authorization(TestAccounts.primary),
                contentType: "application/x-www-form-urlencoded",
                body: Array(URLEncodedForm.encode(twoNumberForm()).utf8)
            )
            #expect(response.status == 200, "\(response.text)")
            #expect(response.header("content-type")?.hasPrefix("application/json") == true)
            let sid = try PlatformCall.decode(response.body).sid

            let details = try await client.send(
                .GET,
                "/V1/accounts/ACprimary01/CALLS/\(sid).JSON",
                authorization: TestAccounts.authorization(TestAccounts.primary)
            )
            #expect(details.status == 200)
            #expect(try PlatformCall.decode(details.body).sid == sid)
        }
    }

    @Test func legacyUriShapeServesTheCall() async throws {
        try await withTestSimulator { running, _ in
            let client = WireClient(running)
            let sid = try PlatformCall.decode(try await client.connect(twoNumberForm()).body).sid
            let response = try await client.send(
                .GET,
                "/v1/Accounts/ACprimary01/Calls.json/\(sid)",
                authorization: TestAccounts.authorization(TestAccounts.primary)
            )
            #expect(response.status == 200)
            #expect(try PlatformCall.decode(response.body).sid == sid)
        }
    }

    @Test func lowercaseParameterNamesAreAccepted() async throws {
        try await withTestSimulator { running, _ in
            var fields = FormFields()
            fields.append("from", "+919900000001")
            fields.append("to", "+919900000002")
            fields.append("callerid", "08030752400")
            fields.append("timelimit", "14400")
            fields.append("record", "True")
            let response = try await WireClient(running).connect(fields)
            #expect(response.status == 200, "\(response.text)")
        }
    }

    @Test func recordingIsServedWithTheAccountsCredentialsOnly() async throws {
        try await withTestSimulator { running, _ in
            let client = WireClient(running)
            let placed = try PlatformCall.decode(try await client.connect(twoNumberForm(["Record": "true"])).body)
            await running.platform.waitUntilIdle()
            let details = try PlatformCall.decode(try await client.details(placed.sid).body)
            let recordingURL = try #require(details.recordingURL)
            #expect(
                recordingURL
                    == "\(running.baseURL)/v1/Accounts/\(TestAccounts.primary.sid)/Recordings/\(placed.sid).mp3"
            )
            let path = String(recordingURL.dropFirst(running.baseURL.count))

            let served = try await client.send(
                .GET,
                path,
                authorization: TestAccounts.authorization(TestAccounts.primary)
            )
            #expect(served.status == 200)
            #expect(served.header("content-type") == "audio/mpeg")
            let recording = try #require(
                await running.platform.recording(accountSid: TestAccounts.primary.sid, callSid: placed.sid)
            )
            #expect(served.body == Array(try Data(contentsOf: URL(fileURLWithPath: recording.path))))
            // An MP3 stream starts with an ID3 tag or a frame sync.
            #expect(
                served.body.starts(with: Array("ID3".utf8))
                    || (served.body.count > 1 && served.body[0] == 0xFF && served.body[1] & 0xE0 == 0xE0)
            )

            #expect(try await client.send(.GET, path).status == 401)
            #expect(
                try await client.send(.GET, path, authorization: TestAccounts.authorization(TestAccounts.other)).status
                    == 401
            )
            #expect(
                try await client.send(.GET, path, authorization: TestAccounts.authorization("key-primary", "wrong"))
                    .status == 401
            )
            let unknown = try await client.send(
                .GET,
                "/v1/Accounts/ACprimary01/Recordings/0123456789abcdef0123456789abcdef.mp3",
                authorization: TestAccounts.authorization(TestAccounts.primary)
            )
            #expect(unknown.status == 404)
            #expect(RestException.decode(unknown.body)?.status == 404)
        }
    }

    /// The delay (6 s real) leaves room for a machine that stalls the test for a few seconds.
    @Test func recordingIsNotFoundBeforeItsDelayHasPassed() async throws {
        try await withTestSimulator(rate: 100, configure: { $0.recordingDelay = .seconds(600) }) { running, clock in
            let client = WireClient(running)
            let placed = try PlatformCall.decode(try await client.connect(twoNumberForm(["Record": "true"])).body)
            await running.platform.waitUntilIdle()
            let recording = try #require(
                await running.platform.recording(accountSid: TestAccounts.primary.sid, callSid: placed.sid)
            )
            let path = "/v1/Accounts/\(TestAccounts.primary.sid)/Recordings/\(placed.sid).mp3"
            #expect(clock.now < recording.availableAt)
            let early = try await client.send(
                .GET,
                path,
                authorization: TestAccounts.authorization(TestAccounts.primary)
            )
            #expect(early.status == 404)
            try await clock.sleep(until: recording.availableAt, tolerance: nil)
            let late = try await client.send(
                .GET,
                path,
                authorization: TestAccounts.authorization(TestAccounts.primary)
            )
            #expect(late.status == 200)
            #expect(!late.body.isEmpty)
        }
    }

    @Test func wrongMethodsAreRefused() async throws {
        try await withTestSimulator { running, _ in
            let client = WireClient(running)
            let get = try await client.send(
                .GET,
                "/v1/Accounts/ACprimary01/Calls/connect.json",
                authorization: TestAccounts.authorization(TestAccounts.primary)
            )
            #expect(get.status == 405)
            #expect(get.header("allow") == "POST")
            #expect(RestException.decode(get.body)?.status == 405)
        }
    }
}
