import ExorecTesting
import ExotelKit
import Glibc
import MediaStore
import Testing

@testable import Ingest

/// `StreamRecorder`, the tools' and tests' way to record one stream, over the machine's `Timeline` and
/// `WriteBuffer`: what it leaves on disk (WAV and sidecar) for reordered, missing, duplicate and dual-track
/// audio, its write buffer and header, and the 4 GB limit.
@Suite struct StreamRecorderTests {
    private func recorder(
        _ stream: String = "MZrec",
        rate: Int = 8000,
        change: (inout StreamRecorder.Configuration) -> Void = { _ in }
    ) throws -> StreamRecorder {
        var configuration = StreamRecorder.Configuration()
        change(&configuration)
        return try StreamRecorder(
            layout: StorageLayout(root: makeTemporaryDirectory()),
            identity: StreamRecorder.Identity(
                account: try PathSafeIdentifier("acct", field: "account"),
                callSid: try PathSafeIdentifier("CArec", field: "call"),
                streamSid: try PathSafeIdentifier(stream, field: "stream"),
                from: "+1",
                to: "+2",
                customParameters: [:],
                queryParameters: [:]
            ),
            sampleRate: rate,
            startedAt: Timestamp(millisecondsSinceEpoch: 1_700_000_000_000),
            configuration: configuration,
            exorecVersion: "test"
        )
    }

    /// 100 ms at 8 kHz whose samples name their frame and channel.
    private func pcm(_ frame: Int, channel: Int = 0) -> [Int16] {
        (0..<800).map { Int16(truncatingIfNeeded: frame * 1000 + $0 + channel * 7) }
    }

    @discardableResult
    private func append(
        _ recorder: StreamRecorder,
        _ frame: Int,
        channel: Int = 0
    ) -> StreamRecorder.Placement {
        self.pcm(frame, channel: channel).withUnsafeBufferPointer {
            recorder.append(channel: channel, timestampMs: Int64(frame * 100), chunk: nil, samples: $0)
        }
    }

    @Test func reorderedMissingAndDuplicateFramesAreStoredByTimestamp() throws {
        let recorder = try self.recorder()
        try recorder.setChannels(1)
        var placements: [StreamRecorder.Placement] = []
        // Frame 2 after frame 3 (reordered), frame 5 never (a gap), frame 1 twice (a duplicate).
        for frame in [0, 1, 3, 2, 4, 1, 6, 7, 8] { placements.append(self.append(recorder, frame)) }
        #expect(placements == [.placed, .placed, .placed, .reordered, .placed, .duplicate, .placed, .placed, .placed])
        let sidecar = recorder.finish(closeReason: "stop:callended", endedAt: .now())
        #expect(recorder.writeError == nil)
        #expect(sidecar.frames == 7200 && recorder.framesWritten == 7200 && recorder.committedFrames == 7200)
        #expect(sidecar.gaps == [.init(channel: 0, startMs: 500, durationMs: 100)])
        #expect(sidecar.duplicates == 1 && sidecar.reorderedFrames == 1 && sidecar.mediaMessages == 9)
        #expect(sidecar.closeReason == "stop:callended")
        var expected: [Int16] = []
        for frame in 0..<9 { expected += frame == 5 ? Array(repeating: 0, count: 800) : self.pcm(frame) }
        let file = try SoundFile.open(readingFrom: recorder.wavPath)
        defer { try? file.close() }
        #expect(file.info.frames == 7200 && file.info.channels == 1)
        #expect(file.readAll() == expected)
    }

    @Test func dualTracksAreInterleavedWhateverTheArrivalOrder() throws {
        let recorder = try self.recorder()
        try recorder.setChannels(2)
        for frame in 0..<6 {
            if frame % 2 == 1 { self.append(recorder, frame, channel: 1) }
            self.append(recorder, frame, channel: 0)
            if frame % 2 == 0 { self.append(recorder, frame, channel: 1) }
        }
        let sidecar = recorder.finish(closeReason: "test", endedAt: .now())
        #expect(sidecar.channels == 2 && sidecar.frames == 4800 && sidecar.gaps.isEmpty)
        var expected: [Int16] = []
        for frame in 0..<6 {
            let (inbound, outbound) = (self.pcm(frame, channel: 0), self.pcm(frame, channel: 1))
            for i in 0..<800 { expected += [inbound[i], outbound[i]] }
        }
        let file = try SoundFile.open(readingFrom: recorder.wavPath)
        defer { try? file.close() }
        #expect(file.readAll() == expected)
    }

    @Test func audioWaitsInTheWriteBufferUntilItIsFullOrTicked() throws {
        let recorder = try self.recorder { $0.writeBufferSamples = 2000 }
        try recorder.setChannels(1)
        self.append(recorder, 0)
        self.append(recorder, 1)
        #expect(recorder.hasBufferedAudio && recorder.framesWritten == 0)
        // The third frame fills the 2,000-sample buffer: all of it is written.
        self.append(recorder, 2)
        #expect(!recorder.hasBufferedAudio && recorder.framesWritten == 2400)
        self.append(recorder, 3)
        recorder.tick(monotonicMs: 1000)
        #expect(!recorder.hasBufferedAudio && recorder.framesWritten == 3200)
        // After a tick the header is current: a reader of the growing file sees every frame.
        let growing = try SoundFile.open(readingFrom: recorder.wavPath)
        #expect(growing.info.frames == 3200)
        try? growing.close()
        var st = stat()
        #expect(stat(recorder.wavPath, &st) == 0 && st.st_size == 44 + 3200 * 2)
        _ = recorder.finish(closeReason: "test", endedAt: .now())
    }

    @Test func theWavLimitEndsTheStreamAndKeepsWhatFits() throws {
        // Room for two and a half frames: the third is refused whole.
        let recorder = try self.recorder { $0.maxDataBytes = 4000 }
        try recorder.setChannels(1)
        #expect(self.append(recorder, 0) == .placed)
        #expect(self.append(recorder, 1) == .placed)
        #expect(recorder.writeError == nil)
        self.append(recorder, 2)
        #expect(recorder.writeError?.code == "media.short-write")
        // Once the limit is reached no frame is taken.
        #expect(self.append(recorder, 3) == .late)
        let sidecar = recorder.finish(closeReason: "stop:callended", endedAt: .now())
        #expect(sidecar.frames == 1600 && recorder.framesWritten == 1600)
        #expect(sidecar.closeReason == "stop:callended; write failed: media.short-write")
        let file = try SoundFile.open(readingFrom: recorder.wavPath)
        defer { try? file.close() }
        #expect(file.readAll() == self.pcm(0) + self.pcm(1))
    }

    @Test func framesBeforeTheLayoutOrAfterTheEndAreRefused() throws {
        let recorder = try self.recorder(rate: 16000)
        #expect(recorder.channels == nil)
        #expect(self.append(recorder, 0) == .late)
        // No media: still one valid, empty WAV.
        let sidecar = recorder.finish(closeReason: "stop:callended", endedAt: .now())
        #expect(sidecar.frames == 0 && sidecar.channels == 1 && sidecar.mediaMessages == 0)
        #expect(self.append(recorder, 1) == .late)
        let file = try SoundFile.open(readingFrom: recorder.wavPath)
        defer { try? file.close() }
        #expect(file.info.frames == 0 && file.info.sampleRate == 16000)
    }

    @Test func aJumpPastTheLargestGapIsRefused() throws {
        let recorder = try self.recorder { $0.maxGapMs = 1000 }
        try recorder.setChannels(1)
        self.append(recorder, 0)
        #expect(self.append(recorder, 12) == .gapTooLarge)
        #expect(self.append(recorder, 9) == .placed)
        let sidecar = recorder.finish(closeReason: "test", endedAt: .now())
        // Frames 1-8 are silence (a gap); frame 9 is stored after them.
        #expect(sidecar.frames == 8000 && sidecar.gapMsTotal == 800)
    }
}
