import ExorecTesting
import ExotelKit
import MediaStore
import Testing

@testable import Ingest

/// The write buffer starts small and grows only for a stream that fills it before its flush age, and
/// audio reaches "the file" within `flushAfterMs` plus one tick whatever the load.
@Suite struct StreamMachineWriteBufferTests {
    /// 2,000 real-time streams must stay well under 40 KiB each: a real-time stream never grows its
    /// buffer past the initial 8 KiB, even at 24 kHz dual, and every write is flush-age driven.
    @Test(arguments: [(8000, false), (24000, false), (16000, true), (24000, true)])
    func aRealTimeStreamKeepsTheSmallBufferAndWritesWithinTheFlushAge(rate: Int, dual: Bool) throws {
        var configuration = StreamMachine.Configuration()
        configuration.requestedRate = rate
        let h = MachineHarness(configuration)
        let script = StreamScript(sampleRate: rate, seed: 3)
        h.send(script.start(tracks: dual ? [.inbound, .outbound] : nil))
        let channels = dual ? 2 : 1
        var lagMs: Int64 = 0
        for frame in 0..<100 {
            h.send(script.media(frame: frame, track: dual ? .inbound : nil))
            if dual { h.send(script.media(frame: frame, track: .outbound)) }
            for _ in 0..<4 {
                h.tick(advanceMs: 25)
                // Audio received so far minus audio written, as time.
                let received = Int64((frame + 1) * script.frameSamples * channels)
                let lag = (received - Int64(h.written.count)) * 1000 / Int64(rate * channels)
                lagMs = max(lagMs, lag)
            }
        }
        // 8 KiB at 8 kHz mono; a 24 kHz dual frame (9,600 bytes) needs more room for two frames: 32 KiB.
        let limit = rate == 8000 && !dual ? 8 * 1024 : 32 * 1024
        #expect(h.machine.writeBufferCapacity * 2 <= limit, "\(h.machine.writeBufferCapacity) samples")
        // Before a tick writes it, a frame's audio is at most flush_after (150 ms) plus a tick old; with
        // 100 ms frames that is at most two frames unwritten.
        #expect(lagMs <= 200, "lag \(lagMs) ms")
        h.send(script.stop())
        #expect(h.written.count == 100 * script.frameSamples * channels)
    }

    /// A flood (frames far faster than real time) fills the buffer before its flush age: the buffer
    /// doubles up to 64 KiB, so saturation gets large writes, and the audio is still exact.
    @Test func aFloodGrowsTheBufferToSixtyFourKiBAndWritesLargeChunks() throws {
        let h = MachineHarness()
        let script = StreamScript(seed: 4)
        h.send(script.start())
        for frame in 0..<1000 { h.send(script.media(frame: frame)) }
        #expect(h.machine.writeBufferCapacity == StreamRecorder.Configuration().writeBufferSamples)
        let writesBefore = h.writes
        for frame in 1000..<1400 { h.send(script.media(frame: frame)) }
        // 400 frames of 800 samples in writes of about 32,768 samples: about ten writes, not 400.
        #expect(h.writes - writesBefore <= 12, "\(h.writes - writesBefore) writes")
        h.send(script.stop())
        let exact = h.written == script.expected(frames: 1400)
        #expect(exact)
    }

    /// A real-time stream whose frames arrive in a burst after the service thread stalled (2,000
    /// streams starting at once) keeps its small buffer: only a stream that keeps filling it grows it.
    @Test func aBurstAfterAStallDoesNotGrowTheBuffer() {
        let h = MachineHarness()
        let script = StreamScript(seed: 9)
        h.send(script.start())
        var frame = 0
        for _ in 0..<3 {
            for _ in 0..<12 {  // 1.2 s of audio at once
                h.send(script.media(frame: frame))
                frame += 1
            }
            for _ in 0..<20 {  // then real time
                h.send(script.media(frame: frame))
                frame += 1
                for _ in 0..<4 { h.tick(advanceMs: 25) }
            }
        }
        #expect(h.machine.writeBufferCapacity == StreamMachine.initialWriteSamples)
        h.send(script.stop())
        #expect(h.written.count == frame * 800)
    }

    /// A gap past the reorder window is written as silence chunks from a shared block: ten minutes of
    /// gap takes no buffer memory.
    @Test func aLongGapIsWrittenAsSilenceChunksWithoutGrowingTheBuffer() throws {
        let h = MachineHarness()
        let script = StreamScript(seed: 5)
        h.send(script.start())
        h.send(script.media(frame: 0))
        h.send(script.media(frame: 5_000))  // 500 s later
        h.send(script.stop())
        #expect(h.machine.writeBufferCapacity <= StreamMachine.initialWriteSamples * 2)
        #expect(h.written.count == 5_001 * 800)
        #expect(Array(h.written.prefix(800)) == script.pcm(frame: 0))
        #expect(Array(h.written.suffix(800)) == script.pcm(frame: 5_000))
        #expect(h.written[800..<(5_000 * 800)].allSatisfy { $0 == 0 })
        #expect(h.finished?.gapMsTotal == 499_900)
    }

    /// The 4 GB limit of a WAV file (scaled down): audio that would pass it ends the stream (1011) and
    /// the sidecar says why; what fit is written.
    @Test func audioPastTheWavSizeLimitEndsTheStream() throws {
        var configuration = StreamMachine.Configuration()
        configuration.recorder.maxDataBytes = 10 * 1600
        let h = MachineHarness(configuration)
        let script = StreamScript(seed: 6)
        h.send(script.start())
        for frame in 0..<12 { h.send(script.media(frame: frame)) }
        #expect(h.closeCode == 1011)
        let sidecar = try #require(h.finished)
        #expect(sidecar.closeReason == "write-failed; write failed: media.short-write")
        let exact = h.written == script.expected(frames: 10)
        #expect(exact, "\(h.written.count) samples written")
        #expect(sidecar.frames == 8000)
    }

    /// A failing write ends the stream (1011) after what was written, and the sidecar says why.
    @Test func aFailingWriteEndsTheStreamWith1011() throws {
        let h = MachineHarness()
        let script = StreamScript(seed: 7)
        h.send(script.start())
        h.send(script.media(frame: 0))
        h.tick(advanceMs: 200)
        #expect(h.written.count == 800)
        h.failWrites = .shortWrite(path: "x.wav", wrote: 0, of: 800, reason: "disk full")
        h.send(script.media(frame: 1))
        h.tick(advanceMs: 200)
        #expect(h.closeCode == 1011)
        let sidecar = try #require(h.finished)
        #expect(sidecar.closeReason == "write-failed; write failed: media.short-write")
        #expect(sidecar.frames == 800)
    }

    /// The header is refreshed at housekeeping only when audio was written since the last refresh.
    @Test func theHeaderIsRefreshedOnlyAfterWrites() {
        let h = MachineHarness()
        let script = StreamScript(seed: 8)
        h.send(script.start())
        h.send(script.media(frame: 0))
        h.housekeeping(advanceMs: 1000)
        #expect(h.headerRefreshes == 1)
        h.housekeeping(advanceMs: 1000)
        #expect(h.headerRefreshes == 1)
        h.send(script.media(frame: 1))
        h.housekeeping(advanceMs: 1000)
        #expect(h.headerRefreshes == 2)
    }
}
