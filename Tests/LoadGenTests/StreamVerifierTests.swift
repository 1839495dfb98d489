import Foundation
import Testing

@testable import LoadGen

@Suite struct StreamVerifierTests {
    func plan(rate: Int = 8000, dual: Bool = false, frames: Int = 12) -> LoadPlan {
        LoadPlan(
            endpoint: StreamEndpoint(host: "127.0.0.1", port: 1, requestTarget: "/"),
            streams: 4,
            frames: frames,
            sampleRate: rate,
            dual: dual,
            runID: RunID(0x1234)
        )
    }

    /// The PCM a server should have stored for `stream`, built frame by frame so tests can tamper with the frame list.
    func frames(_ plan: LoadPlan, stream: Int, channel: Int) -> [[Int16]] {
        let pattern = PCMPattern(sampleRate: plan.sampleRate)
        return (0..<plan.frames).map { pattern.frame(stream: stream, channel: channel, frame: $0) }
    }

    func write(
        _ plan: LoadPlan,
        stream: Int,
        channels: [[[Int16]]],
        rate: Int? = nil,
        in directory: String
    ) throws -> String {
        let path = "\(directory)/\(plan.callSid(stream))_\(plan.streamSid(stream)).wav"
        try writeWav(
            interleave(channels.map { $0.flatMap { $0 } }),
            to: path,
            sampleRate: rate ?? plan.sampleRate,
            channels: channels.count
        )
        return path
    }

    func problem(_ plan: LoadPlan, stream: Int = 1, in directory: String) throws -> StreamProblem {
        let summary = StreamVerifier(plan: plan).verify(streams: [stream], in: directory, waitSeconds: 0)
        #expect(summary.streamsExact == 0)
        return try #require(summary.problems.first)
    }

    @Test(arguments: [(8000, false), (16000, true), (24000, false)])
    func exactFileVerifies(rate: Int, dual: Bool) async throws {
        try await withTemporaryDirectory { directory in
            let plan = self.plan(rate: rate, dual: dual)
            for stream in 0..<plan.streams {
                _ = try self.write(
                    plan,
                    stream: stream,
                    channels: (0..<plan.channels).map { self.frames(plan, stream: stream, channel: $0) },
                    in: directory
                )
            }
            let summary = StreamVerifier(plan: plan).verify(
                streams: Array(0..<plan.streams),
                in: directory,
                waitSeconds: 0
            )
            #expect(summary.isExact)
            #expect(summary.samplesVerified == plan.streams * plan.frames * plan.samplesPerFrame * plan.channels)
        }
    }

    @Test func missingFrameIsCaught() async throws {
        try await withTemporaryDirectory { directory in
            let plan = self.plan()
            var frames = self.frames(plan, stream: 1, channel: 0)
            frames.remove(at: 5)
            _ = try self.write(plan, stream: 1, channels: [frames], in: directory)
            let problem = try self.problem(plan, in: directory)
            #expect(problem.kind == .length)
            #expect(problem.detail.contains("frame 5 (chunk 6) channel 0, sample 2 holds stream 1 channel 0 frame 6"))
        }
    }

    @Test func swappedFramesAreCaught() async throws {
        try await withTemporaryDirectory { directory in
            let plan = self.plan()
            var frames = self.frames(plan, stream: 1, channel: 0)
            frames.swapAt(3, 4)
            _ = try self.write(plan, stream: 1, channels: [frames], in: directory)
            let problem = try self.problem(plan, in: directory)
            #expect(problem.kind == .samples)
            #expect(problem.detail.contains("frame 3 (chunk 4) channel 0, sample 2 holds stream 1 channel 0 frame 4"))
        }
    }

    @Test func frameFromAnotherStreamIsCaught() async throws {
        try await withTemporaryDirectory { directory in
            let plan = self.plan()
            var frames = self.frames(plan, stream: 1, channel: 0)
            frames[7] = self.frames(plan, stream: 2, channel: 0)[7]
            _ = try self.write(plan, stream: 1, channels: [frames], in: directory)
            #expect(try self.problem(plan, in: directory).detail.contains("holds stream 2 channel 0 frame 7"))
        }
    }

    @Test func swappedChannelsAreCaught() async throws {
        try await withTemporaryDirectory { directory in
            let plan = self.plan(dual: true)
            let inbound = self.frames(plan, stream: 1, channel: 0)
            let outbound = self.frames(plan, stream: 1, channel: 1)
            _ = try self.write(plan, stream: 1, channels: [outbound, inbound], in: directory)
            let problem = try self.problem(plan, in: directory)
            #expect(problem.kind == .samples)
            #expect(problem.detail.contains("frame 0 (chunk 1) channel 0, sample 1 holds stream 1 channel 1 frame 0"))
        }
    }

    @Test func monoFileForDualStreamIsCaught() async throws {
        try await withTemporaryDirectory { directory in
            let plan = self.plan(dual: true)
            _ = try self.write(plan, stream: 1, channels: [self.frames(plan, stream: 1, channel: 0)], in: directory)
            #expect(try self.problem(plan, in: directory).kind == .channels)
        }
    }

    @Test func wrongRateIsCaught() async throws {
        try await withTemporaryDirectory { directory in
            let plan = self.plan(rate: 16000)
            _ = try self.write(
                plan,
                stream: 1,
                channels: [self.frames(plan, stream: 1, channel: 0)],
                rate: 8000,
                in: directory
            )
            let problem = try self.problem(plan, in: directory)
            #expect(problem.kind == .sampleRate)
            #expect(problem.detail == "8000 Hz, expected 16000 Hz")
        }
    }

    @Test func silenceInsteadOfAudioIsCaught() async throws {
        try await withTemporaryDirectory { directory in
            let plan = self.plan()
            var frames = self.frames(plan, stream: 1, channel: 0)
            frames[9] = [Int16](repeating: 0, count: plan.samplesPerFrame)
            _ = try self.write(plan, stream: 1, channels: [frames], in: directory)
            #expect(
                try self.problem(plan, in: directory).detail.contains(
                    "frame 9 (chunk 10) channel 0, sample 0 holds silence"
                )
            )
        }
    }

    @Test func missingAndDuplicateFilesAreCaught() async throws {
        try await withTemporaryDirectory { directory in
            let plan = self.plan()
            #expect(try self.problem(plan, in: directory).kind == .missing)
            let frames = self.frames(plan, stream: 1, channel: 0)
            _ = try self.write(plan, stream: 1, channels: [frames], in: directory)
            try writeWav(
                frames.flatMap { $0 },
                to: "\(directory)/stream-\(plan.streamSid(1)).wav",
                sampleRate: 8000,
                channels: 1
            )
            #expect(try self.problem(plan, in: directory).kind == .duplicateFiles)
        }
    }

    /// exorec's layout nests files by account, date and call; the locator finds them anywhere below the root.
    @Test func filesAreFoundInNestedDirectories() async throws {
        try await withTemporaryDirectory { directory in
            let plan = self.plan()
            let nested = "\(directory)/media/loadgen/2026/01/02/\(plan.callSid(2))"
            try FileManager.default.createDirectory(atPath: nested, withIntermediateDirectories: true)
            try writeWav(
                self.frames(plan, stream: 2, channel: 0).flatMap { $0 },
                to: "\(nested)/stream-\(plan.streamSid(2)).wav",
                sampleRate: 8000,
                channels: 1
            )
            #expect(StreamVerifier(plan: plan).verify(streams: [2], in: directory, waitSeconds: 0).isExact)
        }
    }
}
