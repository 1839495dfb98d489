import ExorecTesting
import ExotelKit
import ExotelSimulator
import Foundation
import MediaStore
import Testing

/// A Python `websockets` server (tools/simulator-checks/ws_receiver.py, code exorec did not write)
/// receives the simulator's stream and checks it against the platform's protocol.
@Suite struct OutsideStreamCheckTests {
    static let pythonWebsockets = ExternalCommand.pythonCanImport("websockets")

    static let receiver = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("tools/simulator-checks/ws_receiver.py").path

    struct Report: Decodable {
        var ok: Bool
        var problems: [String]
        var events: [String: Int]?
        var frames: Int?
        var samples: Int?
        var sample_rate: Int?
        var tracks: [String]?
        var stop_reason: String?
        var custom_parameters: [String: String]?
        var mark_echoed: Bool?
        var chunks_sent: Int?
    }

    /// Starts the Python server; returns it and its port once it listens.
    private func startReceiver(
        portFile: String,
        reportFile: String,
        bot: Bool = false
    ) async throws -> (process: ChildProcess, port: Int) {
        let process = try ChildProcess(
            executable: "/usr/bin/env",
            arguments: ["python3", Self.receiver, portFile, reportFile, "--user", "bot", "--password", "s3cret"]
                + (bot ? ["--bot"] : []),
            standardOutput: .nullDevice,
            standardError: .nullDevice
        )
        var port: Int?
        for _ in 0..<200 where port == nil {
            port = (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { Int($0) }
            if port == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        return (process, try #require(port, "the Python receiver did not start"))
    }

    private func receive(trackOption: String?, sampleRate: Int) async throws -> Report {
        let directory = try temporaryDirectory("ws-receiver")
        let portFile = directory + "/port"
        let reportFile = directory + "/report.json"
        let (process, boundPort) = try await self.startReceiver(portFile: portFile, reportFile: reportFile)
        defer { process.signal(SIGTERM) }

        return try await withTestSimulator(rate: 50) { running, _ in
            var request = ConnectCallRequest(
                from: "+919876500001",
                callerId: "08047112345",
                destination: .number("+919123456789")
            )
            var query = "sample-rate=\(sampleRate)&campaign=spring"
            if let trackOption { query += "&track=\(trackOption)" }
            request.streamURL = "ws://bot:s3cret@127.0.0.1:\(boundPort)/media?\(query)"
            request.streamBegin = .leg2Connect
            _ = await running.platform.placeCall(accountSid: TestAccounts.primary.sid, request: request)
            await running.platform.waitUntilIdle()
            for _ in 0..<200 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
            let data = try #require(
                FileManager.default.contents(atPath: reportFile),
                "the Python receiver wrote no report"
            )
            return try JSONDecoder().decode(Report.self, from: data)
        }
    }

    @Test(.enabled(if: pythonWebsockets, "python3 -m pip install websockets (make deps does)"))
    func pythonWebsocketsServerReceivesAProtocolCorrectMonoStream() async throws {
        let report = try await self.receive(trackOption: nil, sampleRate: 8000)
        #expect(report.ok, "\(report.problems)")
        #expect(report.events?["connected"] == 1 && report.events?["start"] == 1 && report.events?["stop"] == 1)
        #expect((report.frames ?? 0) >= 10, "at least a second of audio")
        #expect(report.tracks == ["mono"])
        #expect(report.sample_rate == 8000)
        #expect(report.custom_parameters?["campaign"] == "spring")
    }

    @Test(.enabled(if: pythonWebsockets, "python3 -m pip install websockets (make deps does)"))
    func pythonWebsocketsServerReceivesBothTracksAt16kHz() async throws {
        let report = try await self.receive(trackOption: "both", sampleRate: 16000)
        #expect(report.ok, "\(report.problems)")
        #expect(report.tracks == ["inbound", "outbound"])
        #expect(report.sample_rate == 16000)
    }

    @Test(.enabled(if: pythonWebsockets, "python3 -m pip install websockets (make deps does)"))
    func aPythonVoiceBotIsHeardInTheRecordingGetsItsMarkBackAndEndsTheCallByHangingUp() async throws {
        let directory = try temporaryDirectory("ws-bot")
        let portFile = directory + "/port"
        let reportFile = directory + "/report.json"
        let (process, port) = try await self.startReceiver(portFile: portFile, reportFile: reportFile, bot: true)
        defer { process.signal(SIGTERM) }

        // Real time: the bot's audio is placed by when it arrives over a real socket.
        try await withTestSimulator(
            rate: 1,
            configure: { $0.scenario = Scenario(defaultRingSeconds: 1, defaultTalkSeconds: 20) }
        ) {
            running,
            _ in
            var request = ConnectCallRequest(
                from: "+919876500001",
                callerId: "08047112345",
                destination: .voiceBot(
                    streamURL: "ws://bot:s3cret@127.0.0.1:\(port)/bot?sample-rate=16000",
                    streamType: "bidirectional"
                )
            )
            request.record = true
            request.recordingChannels = .dual
            let placed = await running.platform.placeCall(accountSid: TestAccounts.primary.sid, request: request)
            await running.platform.waitUntilIdle()
            for _ in 0..<200 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
            let data = try #require(FileManager.default.contents(atPath: reportFile), "the Python bot wrote no report")
            let report = try JSONDecoder().decode(Report.self, from: data)
            #expect(report.ok, "\(report.problems)")
            #expect(report.mark_echoed == true, "the mark came back after the audio played")
            #expect(report.chunks_sent == 5)

            let botReport = try #require(await running.platform.botReport(ofCall: placed.sid))
            #expect(botReport.closedByBot && botReport.mediaMessages == 5 && botReport.marksEchoed == 1)
            #expect(botReport.rejected.isEmpty && botReport.flagged.isEmpty, "200 ms chunks at 16 kHz are 6,400 bytes")
            let details = try #require(
                await running.platform.call(accountSid: TestAccounts.primary.sid, sid: placed.sid)
            )
            #expect(details.status == "completed")
            let talked = try #require(details.details?.conversationDuration)
            #expect(talked < 10, "the hang-up ended the call (it was planned to talk for longer)")
            let recording = try #require(
                await running.platform.recording(accountSid: TestAccounts.primary.sid, callSid: placed.sid)
            )
            let file = try SoundFile.open(readingFrom: recording.path)
            defer { try? file.close() }
            let samples = file.readAll()
            let bot = stride(from: 1, to: samples.count, by: 2).map { samples[$0] }
            let rate = file.info.sampleRate
            #expect(tonePower(bot, frequency: 1500, sampleRate: rate) > 1e3, "the bot's reply is in channel 1")
        }
    }
}
