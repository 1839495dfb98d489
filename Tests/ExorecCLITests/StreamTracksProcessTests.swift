import ExorecTesting
import Foundation
import Glibc
import MediaStore
import Testing

/// Issue 12 with real processes: `calls.stream_tracks: both` places calls whose stream carries both legs
/// (`track=both` on the StreamUrl, which `exorec simulate` honours), and `exorec serve` writes a 2-channel stream
/// WAV whose channels carry each leg (the simulator's leg 1 is a 440 Hz tone, leg 2 a 1000 Hz one). A thin stream
/// (a start with only a stream_sid) on the same server is kept and catalogued as a stream without a call.
@Suite(.timeLimit(.minutes(3))) struct StreamTracksProcessTests {
    static let account = "ACtracks01"

    /// Zero crossings per second of one channel of interleaved stereo samples.
    /// Zero crossings per second of sound on one channel of a 2-channel stream: counted in 20 ms windows
    /// that carry the tone (peak above 1/8 of full scale), so silence (the tones' off time, a leg not yet
    /// answered, a gap filled) does not dilute it. A 440 Hz tone crosses 880 times a second, 1000 Hz 2000.
    static func crossingsPerSecond(_ samples: [Int16], channel: Int, rate: Int) -> Double {
        let window = rate / 50
        let frames = samples.count / 2
        var crossings = 0
        var soundingFrames = 0
        var start = 0
        while start + window <= frames {
            var peak = 0
            var windowCrossings = 0
            var previous = Int(samples[start * 2 + channel])
            for frame in (start + 1)..<(start + window) {
                let sample = Int(samples[frame * 2 + channel])
                peak = max(peak, abs(sample))
                if (sample > 0 && previous < 0) || (sample < 0 && previous > 0) { windowCrossings += 1 }
                if sample != 0 { previous = sample }
            }
            if peak > Int(Int16.max) / 8 {
                crossings += windowCrossings
                soundingFrames += window
            }
            start += window
        }
        return soundingFrames == 0 ? 0 : Double(crossings) / (Double(soundingFrames) / Double(rate))
    }

    @Test func bothTracksGiveADualChannelStreamWithEachLeg() async throws {
        let directory = makeTemporaryDirectory("exorec-tracks")
        let storage = "\(directory)/storage"
        let scenario = "\(directory)/scenario.json"
        try #"{"rules": [], "defaultRingSeconds": 1, "defaultTalkSeconds": 3, "defaultTimeOutSeconds": 30}"#
            .write(toFile: scenario, atomically: true, encoding: .utf8)
        let simulator = try ExorecProcess([
            "simulate", "--port", "0", "--speed", "2", "--scenario", scenario, "--recordings",
            "\(directory)/recordings",
            "--account-sid", Self.account, "--api-key", "tracks-key", "--api-token", "tracks-token",
        ])
        defer { simulator.signal(SIGKILL) }
        let simulatorPort = try await simulator.waitForListening()
        let streamPort = try PipelineProcess.freeLoopbackPort()
        let config = "\(directory)/exorec.yaml"
        try """
        storage: \(storage)
        ingest:
          host: 127.0.0.1
          port: \(streamPort)
          auth:
            credentials:
              - username: exotel
                password: tracks-stream-secret
        callbacks:
          port: 0
          token: tracks-callback-token-0123456789
        api:
          port: 0
        exotel:
          account_sid: \(Self.account)
          api_key: tracks-key
          api_token: tracks-token
          base_url: http://127.0.0.1:\(simulatorPort)
          caller_id: "08030752400"
        calls:
          public_url: http://127.0.0.1:\(streamPort)
          stream_tracks: both
        reconciler:
          after: 30m
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let server = try ExorecProcess([
            "serve", "--config", config, "--callbacks-port", "0", "--api-port", "0", "--log-level", "info",
        ])
        defer { server.signal(SIGKILL) }
        #expect(try await server.waitForListening() == streamPort)

        // A thin stream alongside: only a top-level stream_sid, as the platform's public test client sends.
        let thin = StreamScript(streamSid: "thinproc", seed: 23)
        let client = try TestWebSocketClient(port: streamPort, credentials: ("exotel", "tracks-stream-secret"))
        try client.sendText(#"{"event":"start","stream_sid":"thinproc"}"#)
        for frame in 0..<4 { try client.sendText(thin.media(frame: frame)) }
        try client.sendText(thin.stop())
        #expect(try await client.closed()?.code == 1000)

        let placed = try await ExorecProcess.run([
            "call", "--config", config, "--from", "+919900000021", "--to", "+919900000022", "--json",
        ])
        #expect(placed.status == 0, "call: \(placed.errors)")
        let sid = try #require(placed.output.firstMatch(of: /"call_sid"\s*:\s*"([A-Za-z0-9_-]+)"/)?.1).description

        var sidecarPath = ""
        try await PipelineProcess.eventually("the call's stream is finalized", timeout: .seconds(90)) {
            let found = FileSystem.files(under: "\(storage)/media", withSuffix: ".json").first { path in
                guard (path as NSString).lastPathComponent.hasPrefix("stream-"),
                    let sidecar = try? StreamSidecar.load(from: path)
                else { return false }
                return sidecar.callSid == sid && sidecar.state == .complete
            }
            sidecarPath = found ?? ""
            return found != nil
        }
        let sidecar = try StreamSidecar.load(from: sidecarPath)
        #expect(sidecar.channels == 2)
        #expect(sidecar.channelMap == StreamSidecar.channelMap(channels: 2))
        #expect(sidecar.queryParameters["track"] == "both")
        #expect(sidecar.customParameters["track"] == nil, "the track option is the simulator's, not a custom parameter")
        let wav = String(sidecarPath.dropLast(5)) + ".wav"
        let outside = try await OutsideReader.soundfileInfo(wav)
        #expect(outside.channels == 2 && outside.subtype == "PCM_16")
        let file = try SoundFile.open(readingFrom: wav)
        let samples = file.readAll()
        try? file.close()
        #expect(samples.count > 2 * sidecar.sampleRate, "at least a second of audio")
        let leg1 = Self.crossingsPerSecond(samples, channel: 0, rate: sidecar.sampleRate)
        let leg2 = Self.crossingsPerSecond(samples, channel: 1, rate: sidecar.sampleRate)
        // While it sounds, 440 Hz crosses ≈ 880 times a second and 1000 Hz ≈ 2000: far apart, and neither is
        // the mix (which would cross alike on both channels).
        #expect((750...1050).contains(leg1), "channel 0 should be leg 1's 440 Hz tone: \(leg1) crossings/s")
        #expect((1750...2250).contains(leg2), "channel 1 should be leg 2's 1000 Hz tone: \(leg2) crossings/s")

        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)

        // The thin stream is catalogued as a stream without a call.
        let unattached = try await ExorecProcess.run([
            "catalog", "search", "--config", config, "--unattached", "--json",
        ])
        #expect(unattached.status == 0, "\(unattached.errors)")
        #expect(unattached.output.contains(#""stream_sid":"thinproc""#), "\(unattached.output)")
        #expect(!unattached.output.contains(sid), "a stream of a call is not unattached")
        let shown = try await ExorecProcess.run(["catalog", "show", "--config", config, "thinproc"])
        #expect(shown.status == 0, "\(shown.errors)")
        #expect(shown.output.contains("media/_streams/"), "\(shown.output)")

        let bag = "\(directory)/loose-streams"
        let exported = try await ExorecProcess.run([
            "export", "--config", config, "--unattached", "--bag", "--quiet", bag,
        ])
        #expect(exported.status == 0, "\(exported.errors)")
        #expect(try await OutsideReader.bagitProblem(bag) == nil)
        let exportedFile = try SoundFile.open(readingFrom: "\(bag)/data/_streams/thinproc/stream-thinproc.wav")
        #expect(exportedFile.readAll() == thin.expected(frames: 4))
        try? exportedFile.close()
        let detail = try String(contentsOfFile: "\(bag)/data/_streams/thinproc/stream-detail.json", encoding: .utf8)
        #expect(detail.contains("\"stream_sid\" : \"thinproc\""), "\(detail)")
        #expect(!FileManager.default.fileExists(atPath: "\(bag)/data/\(sid)"), "only streams without a call")
    }
}

/// `calls.stream_tracks` is validated with the other keys: a value outside mixed/inbound/outbound/both is a
/// usage error that names the key.
@Suite struct StreamTracksConfigTests {
    @Test(arguments: ["left", "stereo", "1"])
    func unknownStreamTracksIsAUsageErrorNamingTheKey(value: String) async throws {
        let path = makeTemporaryDirectory() + "/exorec.yaml"
        try "ingest:\n  auth:\n    disabled: true\ncalls:\n  stream_tracks: \(value)\n".write(
            toFile: path,
            atomically: true,
            encoding: .utf8
        )
        let result = try await ExorecProcess.run([
            "serve", "--config", path, "--callbacks-port", "0", "--api-port", "0", "--storage",
            makeTemporaryDirectory(),
        ])
        #expect(result.status == 64, "\(value): status \(result.status), stderr \(result.errors.prefix(300))")
        #expect(result.errors.contains("calls.stream_tracks"), "\(value): \(result.errors.prefix(300))")
    }
}
