import ExotelKit
import ExotelSimulator
import Foundation
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
    }

    private func receive(trackOption: String?, sampleRate: Int) async throws -> Report {
        let directory = try temporaryDirectory("ws-receiver")
        let portFile = directory + "/port", reportFile = directory + "/report.json"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.receiver, portFile, reportFile, "--user", "bot", "--password", "s3cret"]
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        var port: Int?
        for _ in 0..<200 where port == nil {
            port = (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { Int($0) }
            if port == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let boundPort = try #require(port, "the Python receiver did not start")

        return try await withTestSimulator(rate: 50) { running, _ in
            var request = ConnectCallRequest(from: "+919876500001", callerId: "08047112345", destination: .number("+919123456789"))
            var query = "sample-rate=\(sampleRate)&campaign=spring"
            if let trackOption { query += "&track=\(trackOption)" }
            request.streamURL = "ws://bot:s3cret@127.0.0.1:\(boundPort)/media?\(query)"
            request.streamBegin = .leg2Connect
            _ = await running.platform.placeCall(accountSid: TestAccounts.primary.sid, request: request)
            await running.platform.waitUntilIdle()
            for _ in 0..<200 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
            let data = try #require(FileManager.default.contents(atPath: reportFile), "the Python receiver wrote no report")
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
}
