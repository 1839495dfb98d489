import ExorecTesting
import ExotelKit
import Foundation
import MediaStore
import Testing

/// Issue 12, stream shapes: every start shape seen in the wild keeps its audio, `media_format.encoding` is
/// honoured (G.711 checked sample by sample against Python's audioop, a decoder exorec did not write), and an
/// encoding exorec cannot read is refused at `start` with nothing written.
@Suite(.timeLimit(.minutes(2))) struct StreamShapeTests {
    /// Sends `start`, then `frames` frames of the script's PCM and a stop; returns the finished sidecar.
    private func record(
        _ ingest: TestIngest,
        start: String,
        script: StreamScript,
        frames: Int = 5
    ) async throws -> StreamSidecar {
        let client = try TestWebSocketClient(port: ingest.port)
        try client.sendText(script.connected())
        try client.sendText(start)
        for i in 0..<frames { try client.sendText(script.media(frame: i)) }
        try client.sendText(script.stop())
        let close = try #require(try await client.closed())
        #expect(close.code == 1000, "closed \(close.code) \(close.reason)")
        return try #require(try await ingest.waitForFinished(1).first)
    }

    private func samples(_ path: String) throws -> [Int16] {
        let file = try SoundFile.open(readingFrom: path)
        defer { try? file.close() }
        return file.readAll()
    }

    // MARK: - Thin metadata

    @Test func startWithOnlyATopLevelStreamSidIsKeptUnderStreams() async throws {
        try await withTestIngest { ingest in
            let script = StreamScript(streamSid: "thin1", seed: 5)
            let sidecar = try await self.record(
                ingest,
                start: #"{"event":"start","sequence_number":"1","stream_sid":"thin1"}"#,
                script: script
            )
            #expect(sidecar.state == .complete)
            #expect(sidecar.callSid == nil)
            #expect(sidecar.accountSid == nil)
            #expect(sidecar.streamSid == "thin1")
            #expect(sidecar.streamSidGenerated == nil)
            #expect(sidecar.sourceEncoding == "pcm16")
            let path = ingest.wavPath(of: sidecar)
            #expect(path.contains("/media/_streams/"), "\(path)")
            #expect(path.hasSuffix("/thin1/stream-thin1.wav"), "\(path)")
            #expect(try self.samples(path) == script.expected(frames: 5))
            // The sidecar on disk says the same (a rebuild reads it).
            let onDisk = try StreamSidecar.load(from: String(path.dropLast(4)) + ".json")
            #expect(onDisk.callSid == nil && onDisk.state == .complete)
        }
    }

    @Test func startWithACallButNoAccountBelongsToTheCall() async throws {
        try await withTestIngest { ingest in
            let script = StreamScript(streamSid: "noacct", callSid: "CAnoacct", seed: 6)
            let sidecar = try await self.record(
                ingest,
                start:
                    #"{"event":"start","stream_sid":"noacct","start":{"stream_sid":"noacct","call_sid":"CAnoacct","account_sid":""}}"#,
                script: script
            )
            #expect(sidecar.callSid == "CAnoacct")
            #expect(sidecar.accountSid == nil)
            let path = ingest.wavPath(of: sidecar)
            #expect(path.contains("/media/_unknown/"), "\(path)")
            #expect(path.hasSuffix("/CAnoacct/stream-noacct.wav"), "\(path)")
            #expect(try self.samples(path) == script.expected(frames: 5))
        }
    }

    @Test func startWithNoStreamSidGetsOneMadeUp() async throws {
        try await withTestIngest { ingest in
            let script = StreamScript(streamSid: "ignored", seed: 7)
            let sidecar = try await self.record(
                ingest,
                start: #"{"event":"start","start":{"from":"+919800000001"}}"#,
                script: script
            )
            #expect(sidecar.streamSidGenerated == true)
            #expect(sidecar.streamSid.hasPrefix("exorec-") && sidecar.streamSid.count == 39, "\(sidecar.streamSid)")
            #expect(sidecar.from == "+919800000001")
            let path = ingest.wavPath(of: sidecar)
            #expect(path.contains("/media/_streams/"), "\(path)")
            #expect(path.hasSuffix("/\(sidecar.streamSid)/stream-\(sidecar.streamSid).wav"), "\(path)")
            #expect(try self.samples(path) == script.expected(frames: 5))
        }
    }

    // MARK: - Encodings

    /// Every μ-law / A-law code, in an order that is not the codes' own, over several frames.
    private static func g711Frames(_ count: Int) -> [[UInt8]] {
        (0..<count).map { frame in (0..<800).map { UInt8(truncatingIfNeeded: ($0 &* 37 &+ frame &* 11) & 0xFF) } }
    }

    @Test(arguments: [
        ("audio/x-mulaw", "ulaw", "mulaw"), ("audio/x-alaw", "alaw", "alaw"), ("PCMU;rate=8000", "ulaw", "mulaw"),
    ])
    func g711StreamMatchesAudioopSampleBySample(encoding: String, law: String, recorded: String) async throws {
        try await withTestIngest { ingest in
            let script = StreamScript(streamSid: "g711\(law)", seed: 8)
            let frames = Self.g711Frames(12)
            let client = try TestWebSocketClient(port: ingest.port)
            try client.sendText(script.start(encoding: encoding))
            for (i, bytes) in frames.enumerated() { try client.sendText(script.media(frame: i, bytes: bytes)) }
            try client.sendText(script.stop())
            #expect(try await client.closed()?.code == 1000)
            let sidecar = try #require(try await ingest.waitForFinished(1).first)
            #expect(sidecar.sourceEncoding == recorded)
            #expect(sidecar.mediaFormatEncoding == encoding)
            #expect(sidecar.frames == 12 * 800)
            #expect(sidecar.gaps.isEmpty, "a G.711 frame is 800 samples, 100 ms at 8 kHz: no gap between frames")
            let expected = try await OutsideReader.g711Expanded(frames.flatMap { $0 }, law: law)
            let path = ingest.wavPath(of: sidecar)
            let written = try self.samples(path)
            #expect(written.count == expected.count)
            #expect(written == expected, "the WAV differs from audioop's expansion")
            let outside = try await OutsideReader.soundfileInfo(path)
            #expect(outside.subtype == "PCM_16" && outside.channels == 1 && outside.sampleRate == 8000)
        }
    }

    @Test(arguments: [
        ("audio/opus", "audio/opus"),
        ("garbage\nwith \u{1B}[31m control", #"garbage\nwith"#),
    ])
    func unreadableEncodingIsRefusedAtStartAndNothingIsWritten(encoding: String, shown: String) async throws {
        try await withTestIngest { ingest in
            _ = try await alongsideGoodStream(ingest, expectFinished: 1) { ingest in
                let script = StreamScript(streamSid: "opus1", seed: 9)
                let client = try TestWebSocketClient(port: ingest.port)
                try client.sendText(script.start(encoding: encoding))
                try? client.sendText(script.media(frame: 0))
                let close = try #require(try await client.closed())
                #expect(close.code == 1003)
                #expect(close.reason.contains("media_format.encoding"), "\(close.reason)")
                #expect(close.reason.contains(shown), "the reason names the encoding, escaped: \(close.reason)")
                #expect(!close.reason.contains("\n") && !close.reason.contains("\u{1B}"))
            }
            #expect(ingest.startedStreams.allSatisfy { $0.streamSid != "opus1" })
            #expect(FileSystem.files(under: ingest.storageRoot, withSuffix: "stream-opus1.wav").isEmpty)
            #expect(FileSystem.files(under: ingest.storageRoot, withSuffix: "stream-opus1.json").isEmpty)
        }
    }

    @Test(arguments: [
        #"{"event":"start","stream_sid":"huge","start":{"stream_sid":"huge","call_sid":"CA1","account_sid":"a","media_format":{"encoding":"audio/x-raw","sample_rate":"99999999999999999999"}}}"#,
        #"{"event":"start","stream_sid":"huge","start":{"stream_sid":"huge","call_sid":"CA1","account_sid":"a","media_format":{"sample_rate":-8000}}}"#,
        #"{"event":"start","stream_sid":"huge","start":{"stream_sid":"huge","call_sid":"CA1","account_sid":"a","media_format":{"sample_rate":"8000","bit_rate":"99999999999999999999999"}}}"#,
    ])
    func impossibleMediaFormatNumberIsRefusedAtStart(start: String) async throws {
        try await withTestIngest { ingest in
            let client = try TestWebSocketClient(port: ingest.port)
            try client.sendText(start)
            let close = try #require(try await client.closed())
            #expect(close.code == 1003)
            #expect(close.reason.hasPrefix("media_format."), "\(close.reason)")
            #expect(FileSystem.files(under: ingest.storageRoot, withSuffix: ".wav").isEmpty)
        }
    }
}
