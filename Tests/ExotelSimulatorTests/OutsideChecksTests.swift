import ExorecTesting
import ExotelKit
import ExotelSimulator
import Foundation
import Testing

/// Programs exorec did not write — curl with the platform docs' own requests, the PyPI `pyexotel` SDK, and
/// ffprobe — agree that the simulator is the platform. `make deps` installs all three; a test is skipped only
/// when its program is absent.
@Suite(.serialized) struct OutsideChecksTests {
    static let curl = ExternalCommand.locate("curl")
    static let ffprobe = ExternalCommand.locate("ffprobe")
    static let pyexotelAvailable = ExternalCommand.pythonCanImport("pyexotel")

    /// `tools/simulator-checks/` beside the package.
    static let checksDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("tools/simulator-checks").path

    /// `http://key:token@127.0.0.1:PORT`: credentials in the URL's user-info, as the docs' curl examples put them.
    static func userInfoURL(_ running: RunningSimulator, _ account: SimulatedAccount = TestAccounts.primary) -> String {
        "http://\(account.apiKey):\(account.apiToken)@\(running.host):\(running.port)"
    }

    /// Runs curl and splits its output into body and status (curl's `-w` appends the status on its own line).
    static func curl(_ arguments: [String]) async throws -> (status: Int, body: String) {
        let outcome = try await ExternalCommand.run(["curl", "-sS", "-w", "\n%{http_code}"] + arguments)
        #expect(outcome.status == 0, "curl failed: \(outcome.errors)")
        let lines = outcome.output.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.last ?? "") ?? 0
        return (status, lines.dropLast().joined(separator: "\n"))
    }

    @Test(.enabled(if: curl != nil, "curl is not installed (make deps installs it)"))
    func docsCurlUrlencodedTwoNumberCallAnswersXML() async throws {
        try await withTestSimulator { running, _ in
            // developer.exotel.com "Connect two numbers": -d fields, no .json, so the answer is XML.
            let placed = try await Self.curl([
                "-X", "POST", "\(Self.userInfoURL(running))/v1/Accounts/\(TestAccounts.primary.sid)/Calls/connect",
                "-d", "From=0XXXXX30240", "-d", "To=0XXXXX38847", "-d", "CallerId=0XXXXXX4890",
                "-d", "CallType=trans", "-d", "TimeLimit=14400", "-d", "TimeOut=30", "-d", "Record=true",
            ])
            #expect(placed.status == 200, "\(placed.body)")
            #expect(placed.body.contains("<TwilioResponse>"))
            let call = try PlatformCall.decode(Array(placed.body.utf8))
            #expect(call.from == "0XXXXX30240")
            #expect(call.to == "0XXXXX38847")

            let details = try await Self.curl([
                "\(Self.userInfoURL(running))/v1/Accounts/\(TestAccounts.primary.sid)/Calls/\(call.sid).json?details=true"
            ])
            #expect(details.status == 200, "\(details.body)")
            #expect(try PlatformCall.decode(Array(details.body.utf8)).sid == call.sid)
        }
    }

    @Test(.enabled(if: curl != nil, "curl is not installed (make deps installs it)"))
    func docsCurlMultipartConnectVoiceAI() async throws {
        try await withTestSimulator { running, _ in
            // The Connect Voice AI doc's request: -F fields, StatusCallbackEvents[] and the .json path. The bot URL
            // refuses connections; the request itself must still be accepted.
            let placed = try await Self.curl([
                "-X", "POST", "\(Self.userInfoURL(running))/v1/Accounts/\(TestAccounts.primary.sid)/Calls/connect.json",
                "-F", "From=+919900000001", "-F", "CallerId=08030752400", "-F", "StreamType=bidirectional",
                "-F", "StreamUrl=ws://127.0.0.1:9/media?sample-rate=16000", "-F",
                "StatusCallback=http://127.0.0.1:9/callbacks",
                "-F", "StatusCallbackEvents[]=terminal", "-F", "Record=true", "-F", "RecordingChannels=dual",
            ])
            #expect(placed.status == 200, "\(placed.body)")
            let call = try PlatformCall.decode(Array(placed.body.utf8))
            #expect(call.from == "+919900000001")
            #expect(await running.platform.call(accountSid: TestAccounts.primary.sid, sid: call.sid) != nil)
        }
    }

    @Test(.enabled(if: curl != nil, "curl is not installed (make deps installs it)"))
    func curlLikeFrappeCRMWithIndexedEventsAndLowercasePath() async throws {
        try await withTestSimulator { running, _ in
            let placed = try await Self.curl([
                "-X", "POST",
                "\(Self.userInfoURL(running))/v1/accounts/\(TestAccounts.primary.sid)/calls/connect.json?details=true",
                // `-d` sends its text as is, so a `+` would arrive as a space: numbers go in the national form.
                "-d", "From=09900000001", "-d", "To=09900000002", "-d", "CallerId=08030752400", "-d", "Record=false",
                "--data-urlencode", "StatusCallbackEvents[0]=terminal", "--data-urlencode",
                "StatusCallbackEvents[1]=answered",
            ])
            #expect(placed.status == 200, "\(placed.body)")
            #expect(try PlatformCall.decode(Array(placed.body.utf8)).to == "09900000002")

            let refused = try await Self.curl([
                "-X", "POST",
                "http://\(running.host):\(running.port)/v1/Accounts/\(TestAccounts.primary.sid)/Calls/connect.json",
                "-d", "From=09900000001",
            ])
            #expect(refused.status == 401)
            #expect(RestException.decode(Array(refused.body.utf8))?.status == 401)
        }
    }

    @Test(.enabled(if: pyexotelAvailable, "python3 with the pyexotel package is not installed (make deps installs it)"))
    func pyexotelPlacesACallAndReadsItsDetails() async throws {
        try await withTestSimulator { running, _ in
            let outcome = try await ExternalCommand.run([
                "python3", "\(Self.checksDirectory)/pyexotel_check.py", "--base-url", running.baseURL,
                "--sid", TestAccounts.primary.sid, "--key", TestAccounts.primary.apiKey, "--token",
                TestAccounts.primary.apiToken,
                "--from-number", "+919876500001", "--to-number", "+919876500002",
            ])
            #expect(outcome.status == 0, "\(outcome.errors)\(outcome.output)")
            let line = try #require(outcome.output.split(separator: "\n").last)
            let document = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let placed = try #require(document["placed"] as? [String: Any])
            let details = try #require(document["details"] as? [String: Any])
            let sid = try #require(placed["Sid"] as? String)
            #expect(details["Sid"] as? String == sid)
            #expect(placed["From"] as? String == "+919876500001")
            #expect(details["To"] as? String == "+919876500002")
            // The call the SDK placed is the platform's, two-legged, and recorded as the SDK's Record=true asked.
            let plan = try #require(await running.platform.plan(ofCall: sid))
            #expect(plan.leg2 != nil)
            await running.platform.waitUntilIdle()
            #expect(await running.platform.recording(accountSid: TestAccounts.primary.sid, callSid: sid) != nil)
        }
    }

    @Test(
        .enabled(if: curl != nil, "curl is not installed (make deps installs it)"),
        .enabled(if: ffprobe != nil, "ffprobe is not installed (make deps installs ffmpeg)"),
        arguments: [("single", "mp3", 1), ("dual", "mp3", 2), ("single", "mp3-hq", 1), ("dual", "mp3-hq", 2)]
    )
    func recordingOpensInFFprobeWithTheRightChannelCount(
        _ channels: String,
        _ format: String,
        _ expectedChannels: Int
    ) async throws {
        try await withTestSimulator { running, _ in
            let response = try await WireClient(running).connect(
                twoNumberForm(["Record": "true", "RecordingChannels": channels, "RecordingFormat": format])
            )
            let sid = try PlatformCall.decode(response.body).sid
            await running.platform.waitUntilIdle()
            let recordingURL = try #require(
                try PlatformCall.decode(try await WireClient(running).details(sid).body).recordingURL
            )

            let directory = try temporaryDirectory("ffprobe")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let file = "\(directory)/\(sid).mp3"
            // The RecordingUrl needs the account's credentials; curl sends them from the URL's user-info.
            let authenticated = recordingURL.replacingOccurrences(of: running.baseURL, with: Self.userInfoURL(running))
            let download = try await ExternalCommand.run(["curl", "-sS", "-f", "-o", file, authenticated])
            #expect(download.status == 0, "\(download.errors)")

            let probe = try await ExternalCommand.run([
                "ffprobe", "-v", "error", "-show_entries", "stream=codec_name,channels,sample_rate:format=duration",
                "-of", "json", file,
            ])
            #expect(probe.status == 0, "\(probe.errors)")
            let document = try #require(
                try JSONSerialization.jsonObject(with: Data(probe.output.utf8)) as? [String: Any]
            )
            let streams = try #require(document["streams"] as? [[String: Any]])
            try #require(streams.count == 1, "\(probe.output)")
            #expect(streams[0]["codec_name"] as? String == "mp3")
            #expect(streams[0]["channels"] as? Int == expectedChannels)
            let duration = Double((document["format"] as? [String: Any])?["duration"] as? String ?? "") ?? 0
            #expect(duration > 1, "\(probe.output)")
        }
    }
}
