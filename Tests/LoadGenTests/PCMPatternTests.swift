import Testing

@testable import LoadGen

@Suite struct PCMPatternTests {
    @Test(arguments: LoadPlan.supportedSampleRates)
    func framesAreHundredMillisecondsAndReproducible(rate: Int) {
        let first = PCMPattern(sampleRate: rate)
        let second = PCMPattern(sampleRate: rate)
        #expect(first.samplesPerFrame == rate / 10)
        for (stream, channel, frame) in [(0, 0, 0), (7, 1, 3), (1999, 0, 599), (70_000, 1, 123_456)] {
            let samples = first.frame(stream: stream, channel: channel, frame: frame)
            #expect(samples.count == rate / 10)
            #expect(samples == second.frame(stream: stream, channel: channel, frame: frame))
            let start = frame * first.samplesPerFrame
            #expect(
                samples.indices.allSatisfy {
                    samples[$0] == first.sample(stream: stream, channel: channel, index: start + $0)
                }
            )
        }
    }

    /// Neighbouring frames, other streams and the other channel never produce the same frame.
    @Test func everyFrameDiffersFromItsNeighboursAndOtherStreams() {
        let pattern = PCMPattern(sampleRate: 8000)
        var seen = Set<[Int16]>()
        for stream in 0..<20 {
            for channel in 0..<2 {
                for frame in 0..<50 {
                    #expect(seen.insert(pattern.frame(stream: stream, channel: channel, frame: frame)).inserted)
                }
            }
        }
        // Bodies differ too, not only headers: neighbouring frames use different pool blocks.
        for frame in 0..<100 {
            #expect(
                pattern.blockIndex(stream: 3, channel: 0, frame: frame)
                    != pattern.blockIndex(stream: 3, channel: 0, frame: frame + 1)
            )
        }
    }

    @Test func headerNamesItsFrame() {
        let pattern = PCMPattern(sampleRate: 16000)
        for identity in [
            FrameIdentity(stream: 0, channel: 0, frame: 0), FrameIdentity(stream: 65_537, channel: 1, frame: 70_000),
        ] {
            let samples = pattern.frame(stream: identity.stream, channel: identity.channel, frame: identity.frame)
            #expect(pattern.identify(samples) == identity)
        }
        #expect(pattern.identify([Int16](repeating: 0, count: 1600)) == nil)
        #expect(pattern.identify(Array(pattern.frame(stream: 1, channel: 0, frame: 1).dropFirst())) == nil)
    }

    @Test func bodyIsAudibleToneNotSilence() {
        let samples = PCMPattern(sampleRate: 8000).frame(stream: 0, channel: 0, frame: 0)
        let peak = samples.dropFirst(PCMPattern.headerSamples).map { abs(Int($0)) }.max() ?? 0
        #expect(peak > 4000 && peak < 8000)
    }
}
