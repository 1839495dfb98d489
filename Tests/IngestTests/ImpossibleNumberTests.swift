import ExorecTesting
import ExotelKit
import Foundation
import Ingest
import MediaStore
import Testing

/// Numbers from outside (chunk, timestamp, sequence_number) can never make the timeline's
/// arithmetic overflow: a value that would place audio further ahead than any gap the recorder
/// fills closes that one stream with 1008 after finalizing what it wrote, and the sidecar names
/// the value. A bystander stream comes out sample-exact every time.
@Suite(.timeLimit(.minutes(2))) struct ImpossibleNumberTests {
    /// Where a media message carries its position: each field is sent as the JSON text given
    /// (a string such as `"0"`, a number such as `7`), or left out when nil.
    struct Placement: Sendable, CustomTestStringConvertible {
        var chunk: String?
        var timestamp: String?
        var sequence: String? = nil
        /// Samples in the frame (a one-sample frame makes `index × samples` as large as possible).
        var samples = 800

        var testDescription: String {
            "chunk \(self.chunk ?? "-") timestamp \(self.timestamp ?? "-") samples \(self.samples)"
        }
    }

    /// A media message for `script` frame `index` placed as `placement` says.
    static func media(_ script: StreamScript, frame index: Int, _ placement: Placement) -> String {
        var pcm = script.pcm(frame: index)
        if placement.samples < pcm.count { pcm = Array(pcm.prefix(placement.samples)) }
        let payload = pcm.withUnsafeBytes { Data($0).base64EncodedString() }
        var media: [String] = []
        if let chunk = placement.chunk { media.append(#""chunk":\#(chunk)"#) }
        if let timestamp = placement.timestamp { media.append(#""timestamp":\#(timestamp)"#) }
        media.append(#""payload":"\#(payload)""#)
        let sequence = placement.sequence.map { #""sequence_number":\#($0),"# } ?? ""
        return
            #"{"event":"media",\#(sequence)"stream_sid":"\#(script.streamSid)","media":{\#(media.joined(separator: ","))}}"#
    }

    /// A stream that keeps jumping ahead ends at `recording.max_duration` (closed 1008, `too-long`),
    /// with no more than that much audio and silence on disk.
    @Test func jumpsAheadEndTheStreamAtTheLongestStreamKept() async throws {
        try await withTestIngest(configure: { $0.recorder.maxDurationMs = 120_000 }) { ingest in
            let done = try await alongsideGoodStream(ingest, streamSid: "bystander") { ingest in
                let script = StreamScript(streamSid: "jumper", seed: 6)
                let client = try TestWebSocketClient(port: ingest.port)
                try client.sendText(script.start())
                for index in 0..<10 {
                    try client.sendText(
                        Self.media(script, frame: index, Placement(chunk: nil, timestamp: "\(index * 50_000)"))
                    )
                }
                let close = try await client.closed()
                #expect(close?.code == 1008, "close \(String(describing: close))")
                #expect(close?.reason.contains("longest stream") == true, "close reason \(close?.reason ?? "-")")
            }
            let bad = try #require(done.first { $0.streamSid == "jumper" })
            #expect(bad.state == .complete, "finalized before closing")
            #expect(bad.closeReason?.hasPrefix("too-long") == true, "\(bad.closeReason ?? "-")")
            #expect(bad.frames <= 120 * 8000, "at most the longest stream kept: \(bad.frames) frames")
            #expect(bad.frames >= 100 * 8000 + 800, "the frames before the limit are kept: \(bad.frames)")
        }
    }

    /// Sends `frames` on a new stream, expects a 1008 close, and returns that stream's sidecar
    /// after checking its WAV holds exactly `expectedFrames` of audio that arrived before.
    private func expectClosedWith1008(
        _ frames: [Placement],
        writtenFrames expectedFrames: Int,
        file: String = #filePath,
        line: Int = #line
    ) async throws {
        try await withTestIngest { ingest in
            let done = try await alongsideGoodStream(ingest, streamSid: "bystander") { ingest in
                let script = StreamScript(streamSid: "impossible", seed: 5)
                let client = try TestWebSocketClient(port: ingest.port)
                try client.sendText(script.start())
                for (index, placement) in frames.enumerated() {
                    try client.sendText(Self.media(script, frame: index, placement))
                }
                let close = try await client.closed()
                #expect(close?.code == 1008, "close \(String(describing: close))")
                #expect(close?.reason.contains("ahead") == true, "close reason \(close?.reason ?? "-")")
            }
            let bad = try #require(done.first { $0.streamSid == "impossible" })
            #expect(bad.state == .complete, "finalized before closing")
            let reason = bad.closeReason ?? ""
            #expect(reason.hasPrefix("gap-too-large; "), "the sidecar says why: \(reason)")
            let last = frames.last!
            #expect(reason.contains(last.timestamp != nil ? "media.timestamp" : "media.chunk"), "\(reason)")
            #expect(bad.frames == Int64(expectedFrames), "frames \(bad.frames)")
            let wav = try SoundFile.open(readingFrom: ingest.wavPath(of: bad))
            defer { try? wav.close() }
            #expect(wav.info.frames == Int64(expectedFrames))
        }
    }

    /// The reported crash: no position, then chunk 0, then the largest chunk. Before the fix,
    /// `chunkBase + index × samples` overflowed and the whole process died with SIGILL.
    @Test func reportedCrashChunkAfterUnplacedFrameClosesOnlyThatStream() async throws {
        try await self.expectClosedWith1008(
            [
                .init(chunk: nil, timestamp: nil), .init(chunk: #""0""#, timestamp: nil),
                .init(chunk: #""9223372036854775807""#, timestamp: nil, samples: 1),
            ],
            writtenFrames: 1600
        )
    }

    /// The cases of ``hugeChunkClosesWith1008AfterFinalizing(frames:)``, shared with the socket-free twin.
    static let hugeChunkCases: [[Placement]] = [
        [
            Placement(chunk: nil, timestamp: nil), Placement(chunk: #""0""#, timestamp: nil),
            Placement(chunk: #""11529215046068469""#, timestamp: nil),
        ],
        [
            Placement(chunk: nil, timestamp: nil), Placement(chunk: "0", timestamp: nil),
            Placement(chunk: "9223372036854775807", timestamp: nil),
        ],
        [
            Placement(chunk: #""1""#, timestamp: nil), Placement(chunk: #""2""#, timestamp: nil),
            Placement(chunk: #""9223372036854775807""#, timestamp: nil, samples: 1),
        ],
        [
            Placement(chunk: #""1""#, timestamp: nil), Placement(chunk: #""2""#, timestamp: nil),
            Placement(chunk: #""9223372036854775807""#, timestamp: nil),
        ],
    ]

    /// Huge chunks in every form that reaches the overflowing sum: a full frame whose product only
    /// just fits, a chunk sent as a JSON number, and the largest chunk after ordinary ones.
    @Test(arguments: Self.hugeChunkCases)
    func hugeChunkClosesWith1008AfterFinalizing(frames: [Placement]) async throws {
        try await self.expectClosedWith1008(frames, writtenFrames: 1600)
    }

    /// The cases of ``timestampJumpNearTheInt64LimitClosesWith1008(frames:)``, shared with the socket-free twin.
    static let timestampJumpCases: [[Placement]] = [
        [
            Placement(chunk: nil, timestamp: #""0""#), Placement(chunk: nil, timestamp: #""100""#),
            Placement(chunk: nil, timestamp: #""9223372036854775807""#),
        ],
        [
            Placement(chunk: nil, timestamp: "100"), Placement(chunk: nil, timestamp: "200"),
            Placement(chunk: nil, timestamp: "9223372036854775000", samples: 1),
        ],
        [
            Placement(chunk: #""1""#, timestamp: #""0""#), Placement(chunk: #""2""#, timestamp: #""100""#),
            Placement(chunk: #""3""#, timestamp: #""1152921504606846976""#),
        ],
    ]

    /// Timestamps near the Int64 limit: the jump from an ordinary origin, and from the origin 0.
    @Test(arguments: Self.timestampJumpCases)
    func timestampJumpNearTheInt64LimitClosesWith1008(frames: [Placement]) async throws {
        try await self.expectClosedWith1008(frames, writtenFrames: 1600)
    }

    /// Mixed placements: timestamps first, then chunk-only frames whose chunk jumps to the limit.
    @Test func chunkOnlyFramesAfterTimestampedOnesCannotOverflow() async throws {
        try await self.expectClosedWith1008(
            [
                .init(chunk: nil, timestamp: #""0""#), .init(chunk: #""5""#, timestamp: nil),
                .init(chunk: #""9223372036854775807""#, timestamp: nil, samples: 1),
            ],
            writtenFrames: 1600
        )
    }

    /// Odd but placeable numbers, and numbers the parser refuses (shared with the socket-free twin):
    /// frames, the invalid-message counts expected, the sample frames written.
    static let oddButHarmlessCases: [([Placement], [String: Int64], Int)] = [
        // Origins at the limit: the next frame at the same position is a duplicate, one before it late.
        (
            [
                Placement(chunk: #""9223372036854775807""#, timestamp: nil),
                Placement(chunk: #""9223372036854775807""#, timestamp: nil), Placement(chunk: #""0""#, timestamp: nil),
            ],
            [String: Int64](), 800
        ),
        (
            [
                Placement(chunk: nil, timestamp: #""9223372036854775807""#),
                Placement(chunk: nil, timestamp: #""9223372036854775807""#), Placement(chunk: nil, timestamp: #""0""#),
            ],
            [String: Int64](), 800
        ),
        // Negative and out-of-range values never reach the timeline: dropped and counted.
        (
            [
                Placement(chunk: #""1""#, timestamp: nil), Placement(chunk: "-1", timestamp: nil),
                Placement(chunk: #""-9223372036854775808""#, timestamp: nil),
            ],
            ["field": 2], 800
        ),
        (
            [
                Placement(chunk: nil, timestamp: "0"), Placement(chunk: nil, timestamp: "-100"),
                Placement(chunk: nil, timestamp: "9223372036854775808"),
            ],
            ["field": 2], 800
        ),
        (
            [
                Placement(chunk: nil, timestamp: "0", sequence: "-1"),
                Placement(chunk: nil, timestamp: "100", sequence: "99999999999999999999"),
                Placement(chunk: nil, timestamp: "1e3"),
            ],
            ["field": 3], 0
        ),
    ]

    /// Values that are odd but placeable, or refused by the parser, do not end the stream: the
    /// origin at the Int64 limit, a frame before it, negative and out-of-range numbers.
    @Test(arguments: Self.oddButHarmlessCases)
    func oddButHarmlessNumbersDoNotEndTheStream(
        frames: [Placement],
        invalid: [String: Int64],
        written: Int
    ) async throws {
        try await withTestIngest { ingest in
            let done = try await alongsideGoodStream(ingest, streamSid: "bystander") { ingest in
                let script = StreamScript(streamSid: "odd", seed: 6)
                let client = try TestWebSocketClient(port: ingest.port)
                try client.sendText(script.start())
                for (index, placement) in frames.enumerated() {
                    try client.sendText(Self.media(script, frame: index, placement))
                }
                try client.sendText(script.stop())
                #expect(try await client.closed()?.code == 1000)
            }
            let odd = try #require(done.first { $0.streamSid == "odd" })
            #expect(odd.state == .complete)
            #expect(odd.closeReason == "stop:callended")
            #expect(odd.invalidMessages == invalid)
            #expect(odd.frames == Int64(written))
        }
    }
}
