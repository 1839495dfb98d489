import ExorecTesting
import ExotelKit
import Foundation
import MediaStore
import PropertyBased
import Testing

@testable import Ingest

/// For random streams (mono and dual, with timestamps or chunk numbers only), random arrival orders
/// within the reorder window, random duplicates and random lost frames, the machine writes exactly
/// what the in-order stream would, with the lost frames as silence, and records exactly those gaps.
@Suite struct StreamMachinePropertyTests {
    /// A reorder window of three frames: any frame may arrive up to two frames late (a dual stream's
    /// silent track is filled one frame earlier than a mono hole, see `Timeline.settle`).
    static let windowFrames = 3

    struct Scenario: CustomStringConvertible {
        var dual: Bool
        var timestamps: Bool
        var frames: Int
        /// Messages as sent: (frame, channel); duplicates appear twice.
        var arrivals: [(frame: Int, channel: Int)] = []
        var dropped: Set<[Int]> = []
        var duplicates = 0

        var description: String {
            "\(self.dual ? "dual" : "mono") \(self.timestamps ? "timestamps" : "chunks") \(self.frames) frames, "
                + "dropped \(self.dropped.sorted { $0.lexicographicallyPrecedes($1) }), \(self.duplicates) duplicates, "
                + "order \(self.arrivals.map { "\($0.frame)\($0.channel == 1 ? "o" : "")" })"
        }

        init(dual: Bool, timestamps: Bool, frames: Int, seed: Int, drops: Bool) {
            self.dual = dual
            self.timestamps = timestamps
            self.frames = frames
            var random = SplitMix(seed: UInt64(seed))
            let channels = dual ? [0, 1] : [0]
            var pending: [(frame: Int, channel: Int)] = []
            for frame in 0..<frames {
                for channel in channels {
                    // Frame 0 sets the origin and the last frame the end: both always arrive.
                    if drops && frame > 0 && frame < frames - 1 && random.next() % 5 == 0 {
                        self.dropped.insert([frame, channel])
                    } else {
                        pending.append((frame, channel))
                    }
                }
            }
            // The first message is frame 0 (the origin); after it, any pending message whose frame is
            // within the window of the earliest one still pending may go next.
            self.arrivals.append(pending.removeFirst())
            while !pending.isEmpty {
                let earliest = pending[0].frame
                let eligible = pending.indices.filter {
                    pending[$0].frame < earliest + StreamMachinePropertyTests.windowFrames
                }
                let pick = eligible[Int(random.next() % UInt64(eligible.count))]
                self.arrivals.append(pending.remove(at: pick))
                // Now and then, a copy of something already sent.
                if random.next() % 7 == 0 {
                    let copy = self.arrivals[Int(random.next() % UInt64(self.arrivals.count))]
                    self.arrivals.append(copy)
                    self.duplicates += 1
                }
            }
        }
    }

    static func message(_ script: StreamScript, frame: Int, channel: Int, dual: Bool, timestamps: Bool) -> String {
        let pcm = script.pcm(frame: frame, channel: channel)
        let payload = pcm.withUnsafeBytes { Data($0).base64EncodedString() }
        var fields: [String] = []
        if dual { fields.append(#""track":"\#(channel == 0 ? "inbound" : "outbound")""#) }
        fields.append(#""chunk":"\#(frame + 1)""#)
        if timestamps { fields.append(#""timestamp":"\#(frame * 100)""#) }
        fields.append(#""payload":"\#(payload)""#)
        return #"{"event":"media","stream_sid":"\#(script.streamSid)","media":{\#(fields.joined(separator: ","))}}"#
    }

    /// The in-order stream's audio with the dropped frames as silence (interleaved when dual).
    static func expected(_ script: StreamScript, _ scenario: Scenario) -> [Int16] {
        let n = script.frameSamples
        let channels = scenario.dual ? 2 : 1
        var out = [Int16](repeating: 0, count: scenario.frames * n * channels)
        for frame in 0..<scenario.frames {
            for channel in 0..<channels where !scenario.dropped.contains([frame, channel]) {
                let pcm = script.pcm(frame: frame, channel: channel)
                for i in 0..<n { out[(frame * n + i) * channels + channel] = pcm[i] }
            }
        }
        return out
    }

    /// The gaps the drops should leave: consecutive lost frames of one channel are one gap.
    static func expectedGaps(_ scenario: Scenario) -> [StreamSidecar.Gap] {
        var gaps: [StreamSidecar.Gap] = []
        for channel in 0..<(scenario.dual ? 2 : 1) {
            var frame = 0
            while frame < scenario.frames {
                guard scenario.dropped.contains([frame, channel]) else {
                    frame += 1
                    continue
                }
                let start = frame
                while scenario.dropped.contains([frame, channel]) { frame += 1 }
                gaps.append(
                    .init(channel: channel, startMs: Int64(start * 100), durationMs: Int64((frame - start) * 100))
                )
            }
        }
        return gaps.sorted { ($0.channel, $0.startMs) < ($1.channel, $1.startMs) }
    }

    static func run(_ scenario: Scenario) throws -> (written: [Int16], sidecar: StreamSidecar) {
        var configuration = StreamMachine.Configuration()
        configuration.recorder.reorderWindowMs = windowFrames * 100
        let h = MachineHarness(configuration)
        let script = StreamScript(streamSid: "prop", seed: 9)
        h.send(script.start(tracks: scenario.dual ? [.inbound, .outbound] : nil))
        for arrival in scenario.arrivals {
            h.send(
                Self.message(
                    script,
                    frame: arrival.frame,
                    channel: arrival.channel,
                    dual: scenario.dual,
                    timestamps: scenario.timestamps
                )
            )
            h.tick(advanceMs: 25)
        }
        h.send(script.stop())
        #expect(h.closeCode == 1000)
        return (h.written, try #require(h.finished))
    }

    @Test func anyOrderWithinTheWindowDuplicatesAndLossGiveTheInOrderStreamWithSilence() async {
        await propertyCheck(
            count: 150,
            input: Gen.bool,
            Gen.bool,
            Gen.int(in: 3...40),
            Gen.int(in: 0...Int(Int32.max))
        ) { dual, timestamps, frames, seed in
            let scenario = Scenario(dual: dual, timestamps: timestamps, frames: frames, seed: seed, drops: true)
            let script = StreamScript(streamSid: "prop", seed: 9)
            let (written, sidecar) = try Self.run(scenario)
            #expect(written == Self.expected(script, scenario), "\(scenario)")
            let gaps = sidecar.gaps.sorted { ($0.channel, $0.startMs) < ($1.channel, $1.startMs) }
            #expect(gaps == Self.expectedGaps(scenario), "\(scenario)")
            #expect(sidecar.duplicates == Int64(scenario.duplicates), "\(scenario)")
            #expect(sidecar.lateFrames == 0, "\(scenario)")
        }
    }

    @Test func withNothingLostTheFileIsExactlyTheInOrderStream() async {
        await propertyCheck(
            count: 100,
            input: Gen.bool,
            Gen.bool,
            Gen.int(in: 1...40),
            Gen.int(in: 0...Int(Int32.max))
        ) { dual, timestamps, frames, seed in
            let scenario = Scenario(dual: dual, timestamps: timestamps, frames: frames, seed: seed, drops: false)
            let script = StreamScript(streamSid: "prop", seed: 9)
            let (written, sidecar) = try Self.run(scenario)
            #expect(written == script.expected(frames: frames, channels: dual ? 2 : 1), "\(scenario)")
            #expect(sidecar.gaps.isEmpty && sidecar.gapMsTotal == 0, "\(scenario)")
            #expect(sidecar.frames == Int64(frames * script.frameSamples))
        }
    }
}

/// A small deterministic generator (SplitMix64), so a scenario is a function of its seed.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
