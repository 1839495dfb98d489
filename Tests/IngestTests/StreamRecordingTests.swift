import ExorecTesting
import ExotelKit
import Foundation
import MediaStore
import Testing

/// Streams in the platform's protocol reach disk sample-exact, checked with libsndfile and with
/// Python's soundfile (a reader exorec did not write).
@Suite(.timeLimit(.minutes(1))) struct StreamRecordingTests {
    @Test(arguments: [8000, 16000, 24000])
    func monoStreamIsStoredSampleExact(rate: Int) async throws {
        try await withTestIngest { ingest in
            let script = StreamScript(sampleRate: rate, seed: rate)
            let client = try TestWebSocketClient(port: ingest.port, path: "/v1/streams?sample-rate=\(rate)")
            try client.sendText(script.connected())
            try client.sendText(script.start())
            for i in 0..<15 { try client.sendText(script.media(frame: i)) }
            try client.sendText(script.stop())
            let close = try #require(try await client.closed())
            #expect(close.code == 1000)

            let sidecar = try #require(try await ingest.waitForFinished(1).first)
            #expect(sidecar.state == .complete)
            #expect(sidecar.sampleRate == rate)
            #expect(sidecar.channels == 1)
            #expect(sidecar.frames == Int64(15 * rate / 10))
            #expect(sidecar.closeReason == "stop:callended")
            #expect(sidecar.customParameters == ["campaign": "test"])
            #expect(sidecar.gaps.isEmpty)

            let path = ingest.wavPath(of: sidecar)
            #expect(path.contains("/media/acct1/"))
            #expect(path.hasSuffix("/\(script.callSid)/stream-\(script.streamSid).wav"))
            let file = try SoundFile.open(readingFrom: path)
            defer { try? file.close() }
            #expect(file.info.sampleRate == rate)
            #expect(file.readAll() == script.expected(frames: 15))
            #expect(try FileSystem.sha256(of: path) == sidecar.sha256)
            #expect(try permissions(of: path) & 0o222 == 0, "a finalized file is read-only")

            let outside = try await OutsideReader.soundfile(path)
            #expect(outside.sampleRate == rate && outside.channels == 1 && outside.frames == 15 * rate / 10)
        }
    }

    @Test func dualTrackStreamPutsEachLegInItsChannel() async throws {
        try await withTestIngest { ingest in
            let script = StreamScript(sampleRate: 16000, seed: 7)
            let client = try TestWebSocketClient(port: ingest.port, path: "/v1/streams?sample-rate=16000")
            try client.sendText(script.start())
            for i in 0..<10 {
                // Outbound first on odd frames: arrival order must not matter.
                if i % 2 == 1 { try client.sendText(script.media(frame: i, track: .outbound)) }
                try client.sendText(script.media(frame: i, track: .inbound))
                if i % 2 == 0 { try client.sendText(script.media(frame: i, track: .outbound)) }
            }
            try client.sendText(script.stop())
            _ = try await client.closed()

            let sidecar = try #require(try await ingest.waitForFinished(1).first)
            #expect(sidecar.channels == 2)
            #expect(sidecar.channelMap == ["inbound (leg 1, caller)", "outbound (leg 2, callee)"])
            let path = ingest.wavPath(of: sidecar)
            let file = try SoundFile.open(readingFrom: path)
            defer { try? file.close() }
            #expect(file.info.channels == 2)
            #expect(file.readAll() == script.expected(frames: 10, channels: 2))
            let outside = try await OutsideReader.soundfile(path)
            #expect(outside.channels == 2 && outside.frames == 16000)
        }
    }

    @Test func missingAudioBecomesARecordedGapAndReorderedFramesFindTheirPlace() async throws {
        try await withTestIngest { ingest in
            let script = StreamScript(seed: 3)
            let client = try TestWebSocketClient(port: ingest.port)
            try client.sendText(script.start())
            // Frame 2 comes after frame 3 (reordered); frame 5 never comes (gap); frame 1 twice (duplicate).
            for i in [0, 1, 3, 2, 4, 1, 6, 7, 8] { try client.sendText(script.media(frame: i)) }
            try client.sendText(script.stop())
            _ = try await client.closed()

            let sidecar = try #require(try await ingest.waitForFinished(1).first)
            #expect(sidecar.gaps == [.init(channel: 0, startMs: 500, durationMs: 100)])
            #expect(sidecar.gapMsTotal == 100)
            #expect(sidecar.duplicates == 1)
            #expect(sidecar.reorderedFrames == 1)
            var expected = script.expected(frames: 9)
            for i in 4000..<4800 { expected[i] = 0 }
            let file = try SoundFile.open(readingFrom: ingest.wavPath(of: sidecar))
            defer { try? file.close() }
            #expect(file.readAll() == expected)
        }
    }

    @Test func fragmentedMessagesAreReassembled() async throws {
        try await withTestIngest { ingest in
            let script = StreamScript(seed: 11)
            let client = try TestWebSocketClient(port: ingest.port)
            try client.sendFragmented(script.start(), pieceSize: 17)
            for i in 0..<5 { try client.sendFragmented(script.media(frame: i), pieceSize: 300) }
            try client.sendText(script.stop())
            _ = try await client.closed()
            let sidecar = try #require(try await ingest.waitForFinished(1).first)
            let file = try SoundFile.open(readingFrom: ingest.wavPath(of: sidecar))
            defer { try? file.close() }
            #expect(file.readAll() == script.expected(frames: 5))
        }
    }

    @Test func repeatedStreamSidGetsANewFileAndNothingIsOverwritten() async throws {
        try await withTestIngest { ingest in
            let first = StreamScript(streamSid: "samesid", callSid: "CAsame", seed: 1)
            var second = first
            second.seed = 2
            for script in [first, second] {
                let client = try TestWebSocketClient(port: ingest.port)
                try client.sendText(script.start())
                for i in 0..<3 { try client.sendText(script.media(frame: i)) }
                try client.sendText(script.stop())
                _ = try await client.closed()
            }
            let done = try await ingest.waitForFinished(2)
            #expect(Set(done.map(\.file)) == ["stream-samesid.wav", "stream-samesid-2.wav"])
            for sidecar in done {
                let file = try SoundFile.open(readingFrom: ingest.wavPath(of: sidecar))
                defer { try? file.close() }
                let script = sidecar.file == "stream-samesid.wav" ? first : second
                #expect(file.readAll() == script.expected(frames: 3))
            }
        }
    }

    @Test func dtmfMarksAndUnknownEventsAreKeptInTheSidecar() async throws {
        try await withTestIngest { ingest in
            let script = StreamScript(seed: 5)
            let client = try TestWebSocketClient(port: ingest.port)
            try client.sendText(script.start())
            try client.sendText(script.media(frame: 0))
            try client.sendText(
                #"{"event":"dtmf","sequence_number":"3","stream_sid":"\#(script.streamSid)","dtmf":{"digit":"5","duration":"100"}}"#
            )
            try client.sendText(
                #"{"event":"mark","sequence_number":"4","stream_sid":"\#(script.streamSid)","mark":{"name":"greeting"}}"#
            )
            try client.sendText(#"{"event":"clear","stream_sid":"\#(script.streamSid)"}"#)
            try client.sendText(script.stop())
            _ = try await client.closed()
            let sidecar = try #require(try await ingest.waitForFinished(1).first)
            #expect(sidecar.dtmf.map(\.digit) == ["5"])
            #expect(sidecar.dtmf.first?.durationMs == 100)
            #expect(sidecar.marks == 1)
            #expect(sidecar.unknownEvents == 1)
        }
    }

    @Test func sampleRateComesFromQueryThenMediaFormatThenDefault() async throws {
        try await withTestIngest { ingest in
            // Alternative spelling in the query wins over media_format.
            let a = StreamScript(streamSid: "ratea", sampleRate: 16000)
            var client = try TestWebSocketClient(port: ingest.port, path: "/v1/streams?sample_rate=16000")
            try client.sendText(a.start(mediaFormatRate: 8000))
            try client.sendText(a.stop())
            _ = try await client.closed()
            // No query: media_format's rate.
            let b = StreamScript(streamSid: "rateb", sampleRate: 24000)
            client = try TestWebSocketClient(port: ingest.port)
            try client.sendText(b.start())
            try client.sendText(b.stop())
            _ = try await client.closed()
            // Neither: the platform's default, 8000.
            client = try TestWebSocketClient(port: ingest.port)
            try client.sendText(
                #"{"event":"start","stream_sid":"ratec","start":{"stream_sid":"ratec","call_sid":"CAc","account_sid":"acct1"}}"#
            )
            try client.sendText(#"{"event":"stop","stream_sid":"ratec","stop":{"reason":"stopped"}}"#)
            _ = try await client.closed()
            let done = try await ingest.waitForFinished(3)
            let rates = Dictionary(uniqueKeysWithValues: done.map { ($0.streamSid, $0.sampleRate) })
            #expect(rates == ["ratea": 16000, "rateb": 24000, "ratec": 8000])
            #expect(done.first { $0.streamSid == "ratec" }?.closeReason == "stop:stopped")
        }
    }
}

/// The permission bits of a file (root may write to anything, so `access(W_OK)` proves nothing).
func permissions(of path: String) throws -> mode_t {
    var st = stat()
    guard stat(path, &st) == 0 else { throw TestFailure("stat \(path) failed") }
    return st.st_mode & 0o777
}
