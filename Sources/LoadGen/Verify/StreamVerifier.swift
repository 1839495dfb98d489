import Foundation
import MediaStore

/// Checks that the WAV files a server wrote hold, sample for sample, what the generator sent.
///
/// The expected PCM is regenerated from the ``PCMPattern`` rather than stored, so a run of any
/// size can be verified. The check covers the rate, the channel count (two for dual streams:
/// channel 0 `inbound`, channel 1 `outbound`), the length and every sample; on a mismatch the
/// frame header found in its place says which frame the server wrote there instead.
public struct StreamVerifier: Sendable {
    public let plan: LoadPlan
    let pattern: PCMPattern

    public init(plan: LoadPlan) {
        self.plan = plan
        self.pattern = PCMPattern(sampleRate: plan.sampleRate)
    }

    /// Verifies `streams` (indices into the plan) against the files under `directory`.
    ///
    /// A file can be missing or short because the server is still finishing it (a header is
    /// rewritten on close); such streams are looked at again until `waitSeconds` have passed.
    /// Any other problem is final at once.
    public func verify(streams: [Int], in directory: String, waitSeconds: Double = 10) -> VerificationSummary {
        let deadline = Date().addingTimeInterval(waitSeconds)
        var pending = Set(streams)
        var summary = VerificationSummary(streamsChecked: streams.count)
        let locator = WavLocator(runID: self.plan.runID)
        while !pending.isEmpty {
            let files = locator.locate(in: directory, streams: pending)
            for index in pending.sorted() {
                let paths = files[index] ?? []
                let outcome: Result<Int, StreamProblem> =
                    switch paths.count {
                    case 0:
                        .failure(
                            self.problem(
                                index,
                                .missing,
                                nil,
                                "no .wav file under \(directory) has \(self.plan.streamSid(index)) in its name"
                            )
                        )
                    case 1: self.verify(stream: index, path: paths[0])
                    default:
                        .failure(
                            self.problem(
                                index,
                                .duplicateFiles,
                                paths[0],
                                "\(paths.count) files: \(paths.joined(separator: ", "))"
                            )
                        )
                    }
                switch outcome {
                case .success(let samples):
                    summary.streamsExact += 1
                    summary.samplesVerified += samples
                    pending.remove(index)
                case .failure(let problem) where problem.mayResolve && Date() < deadline:
                    continue
                case .failure(let problem):
                    summary.problems.append(problem)
                    pending.remove(index)
                }
            }
            if !pending.isEmpty { usleep(200_000) }
        }
        summary.problems.sort { $0.stream < $1.stream }
        return summary
    }

    /// Verifies one stream's file; returns the samples verified, or the first problem found.
    public func verify(stream: Int, path: String) -> Result<Int, StreamProblem> {
        let file: SoundFile
        do {
            file = try SoundFile.open(readingFrom: path)
        } catch {
            return .failure(self.problem(stream, .unreadable, path, error.description))
        }
        defer { try? file.close() }
        let info = file.info
        guard info.sampleRate == self.plan.sampleRate else {
            return .failure(
                self.problem(stream, .sampleRate, path, "\(info.sampleRate) Hz, expected \(self.plan.sampleRate) Hz")
            )
        }
        guard info.channels == self.plan.channels else {
            return .failure(
                self.problem(stream, .channels, path, "\(info.channels) channel(s), expected \(self.plan.channels)")
            )
        }
        let samples = file.readAll()
        return self.compare(samples, stream: stream, path: path)
    }

    /// Compares interleaved samples with what stream `stream` sent, frame by frame and channel by channel.
    func compare(_ samples: [Int16], stream: Int, path: String) -> Result<Int, StreamProblem> {
        let channels = self.plan.channels
        let frameSamples = self.pattern.samplesPerFrame
        let expectedFrames = self.plan.frames
        let fileFrames = samples.count / channels
        let wholeFrames = min(fileFrames / frameSamples, expectedFrames)
        var channelBuffer = [Int16](repeating: 0, count: frameSamples)
        var firstDifference: String?
        samples.withUnsafeBufferPointer { all in
            frameLoop: for frame in 0..<wholeFrames {
                for channel in 0..<channels {
                    let matched = channelBuffer.withUnsafeMutableBufferPointer { buffer -> Bool in
                        let base = frame * frameSamples * channels
                        if channels == 1 {
                            return self.pattern.matches(
                                UnsafeBufferPointer(rebasing: all[base..<base + frameSamples]),
                                stream: stream,
                                channel: 0,
                                frame: frame
                            )
                        }
                        for i in 0..<frameSamples { buffer[i] = all[base + i * channels + channel] }
                        return self.pattern.matches(
                            UnsafeBufferPointer(buffer),
                            stream: stream,
                            channel: channel,
                            frame: frame
                        )
                    }
                    if !matched {
                        firstDifference = self.describeDifference(
                            in: all,
                            stream: stream,
                            channel: channel,
                            frame: frame
                        )
                        break frameLoop
                    }
                }
            }
        }
        let expectedSamples = expectedFrames * frameSamples
        if fileFrames != expectedSamples {
            let difference = firstDifference.map { "; first difference: \($0)" } ?? ""
            return .failure(
                self.problem(
                    stream,
                    .length,
                    path,
                    "\(fileFrames) sample frames (\(Self.frames(fileFrames, frameSamples)) of 100 ms), expected \(expectedSamples) (\(expectedFrames))\(difference)",
                    shorter: fileFrames < expectedSamples && firstDifference == nil
                )
            )
        }
        if let firstDifference {
            return .failure(self.problem(stream, .samples, path, firstDifference))
        }
        return .success(samples.count)
    }

    private func describeDifference(in all: UnsafeBufferPointer<Int16>, stream: Int, channel: Int, frame: Int) -> String
    {
        let channels = self.plan.channels
        let frameSamples = self.pattern.samplesPerFrame
        let actual = (0..<frameSamples).map { all[(frame * frameSamples + $0) * channels + channel] }
        let expected = self.pattern.frame(stream: stream, channel: channel, frame: frame)
        let position = zip(actual, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? 0
        let place = "frame \(frame) (chunk \(frame + 1)) channel \(channel), sample \(position)"
        if let identity = self.pattern.identify(actual) {
            return
                "\(place) holds \(identity == FrameIdentity(stream: stream, channel: channel, frame: frame) ? "a damaged copy of itself" : identity.description)"
        }
        if actual.allSatisfy({ $0 == 0 }) { return "\(place) holds silence" }
        return "\(place) holds samples that are not from this run"
    }

    private static func frames(_ sampleFrames: Int, _ perFrame: Int) -> String {
        sampleFrames % perFrame == 0
            ? "\(sampleFrames / perFrame)" : String(format: "%.2f", Double(sampleFrames) / Double(perFrame))
    }

    private func problem(
        _ stream: Int,
        _ kind: StreamProblem.Kind,
        _ path: String?,
        _ detail: String,
        shorter: Bool = false
    ) -> StreamProblem {
        StreamProblem(
            stream: stream,
            streamSid: self.plan.streamSid(stream),
            kind: kind,
            path: path,
            detail: detail,
            isShortPrefix: shorter
        )
    }
}

/// One stream whose file does not hold what was sent.
public struct StreamProblem: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, Codable {
        case missing, duplicateFiles, unreadable, sampleRate, channels, length, samples
    }

    public var stream: Int
    public var streamSid: String
    public var kind: Kind
    public var path: String?
    public var detail: String
    /// The file is a correct but short prefix: what a server that has not finished looks like.
    var isShortPrefix = false

    enum CodingKeys: String, CodingKey { case stream, streamSid, kind, path, detail }

    /// Whether a later look could find the problem gone: the server may still be creating or finishing the file.
    var mayResolve: Bool {
        switch self.kind {
        case .missing, .unreadable: true
        case .length: self.isShortPrefix
        default: false
        }
    }

    public var description: String {
        "stream \(self.stream) (\(self.streamSid)): \(self.kind.rawValue): \(self.detail)"
    }
}

/// The outcome of verifying a run.
public struct VerificationSummary: Sendable, Hashable, Codable {
    public var streamsChecked: Int
    public var streamsExact = 0
    /// Samples compared and found equal (both channels counted for dual streams).
    public var samplesVerified = 0
    public var problems: [StreamProblem] = []

    public init(streamsChecked: Int) { self.streamsChecked = streamsChecked }

    public var isExact: Bool { self.problems.isEmpty && self.streamsExact == self.streamsChecked }
}
