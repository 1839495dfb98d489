import ArgumentParser
import ExotelKit

/// Times the per-frame hot path of ingest (parse one media message, decode its payload) in isolation, so changes
/// to the parser or decoder can be compared with the C floor's ≈ 1 µs without sockets or disks in the way.
struct BenchParser: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-parser",
        abstract: "Measure the stream-message parser and base64 decoder (for developers).",
        discussion: """
            Builds one realistic 100 ms media message with StreamMessageEncoder and times parse(), \
            decodePayload() and both together in a release build.

            EXAMPLES:
              exorec bench-parser
              exorec bench-parser --iterations 5000000 --rate 16000
            """,
        shouldDisplay: false
    )

    @Option(help: "How many messages to time in each phase.")
    var iterations = 1_000_000

    @Option(help: ArgumentHelp("Sample rate of the PCM in the message (8000, 16000 or 24000).", valueName: "hz"))
    var rate = 8000

    func validate() throws {
        guard self.iterations > 0 else { throw ValidationError("--iterations must be at least 1.") }
        guard [8000, 16000, 24000].contains(self.rate) else {
            throw ValidationError("--rate must be 8000, 16000 or 24000 (the platform's rates).")
        }
    }

    func run() async throws {
        let message = Self.mediaMessage(rate: self.rate)
        let parser = StreamMessageParser()
        try message.withUnsafeBytes { bytes in
            guard case .media(let frame) = try parser.parse(bytes) else {
                preconditionFailure("StreamMessageEncoder.media built a message that does not parse as media")
            }
            let output = UnsafeMutableRawBufferPointer.allocate(
                byteCount: StreamMessageParser.maxDecodedSize(of: frame),
                alignment: 16
            )
            defer { output.deallocate() }
            let pcmBytes = try parser.decodePayload(of: frame, in: bytes, into: output)

            _ = try self.measure(parser, bytes, frame, output, parse: true, decode: true)  // warm-up
            let parse = try self.measure(parser, bytes, frame, output, parse: true, decode: false)
            let decode = try self.measure(parser, bytes, frame, output, parse: false, decode: true)
            let both = try self.measure(parser, bytes, frame, output, parse: true, decode: true)

            print("message: \(bytes.count) bytes, payload \(frame.payload.count) base64 chars -> \(pcmBytes) PCM bytes")
            print("iterations: \(self.iterations) per phase; fastest round of 10 000 shown")
            print("MB/s counts message bytes, except for decode: base64 characters")
            Self.report("parse", parse, bytes: bytes.count)
            Self.report("decode", decode, bytes: frame.payload.count)
            Self.report("parse+decode", both, bytes: bytes.count)
        }
    }

    /// Runs the phase in rounds of at most 10 000 messages and returns the fastest round's nanoseconds per message:
    /// on a shared machine the fastest round is the one least disturbed by other processes. The checksum is never
    /// printed but keeps the optimiser from dropping work whose result would otherwise be unused.
    private func measure(
        _ parser: StreamMessageParser,
        _ bytes: UnsafeRawBufferPointer,
        _ frame: MediaFrame,
        _ output: UnsafeMutableRawBufferPointer,
        parse: Bool,
        decode: Bool
    ) throws -> Double {
        var checksum = 0
        var current = frame
        var best = Double.infinity
        var remaining = self.iterations
        let clock = ContinuousClock()
        while remaining > 0 {
            let round = min(remaining, 10_000)
            remaining -= round
            let start = clock.now
            for _ in 0..<round {
                if parse, case .media(let parsed) = try parser.parse(bytes) {
                    current = parsed
                    checksum &+= Int(truncatingIfNeeded: parsed.sequenceNumber ?? 0)
                }
                if decode {
                    checksum &+= try parser.decodePayload(of: current, in: bytes, into: output)
                    checksum &+= Int(output[checksum & 0xFF])
                }
            }
            let (seconds, attoseconds) = (clock.now - start).components
            best = min(best, (Double(seconds) * 1e9 + Double(attoseconds) / 1e9) / Double(round))
        }
        precondition(checksum != Int.min)
        return best
    }

    private static func report(_ phase: String, _ nanoseconds: Double, bytes: Int) {
        let megabytesPerSecond = Double(bytes) / nanoseconds * 1e9 / 1e6
        let name = phase.padding(toLength: 13)
        print("\(name) \(Self.format(nanoseconds)) ns/message  \(Self.format(megabytesPerSecond)) MB/s")
    }

    /// One 100 ms frame of a 440 Hz tone, in the platform's all-strings shape.
    private static func mediaMessage(rate: Int) -> [UInt8] {
        let samples = (0..<(rate / 10)).map { index -> Int16 in
            let phase = Double(index) * 440 / Double(rate)
            return Int16(8000 * Self.sine(phase - phase.rounded(.down)))
        }
        return samples.withUnsafeBytes { pcm in
            StreamMessageEncoder().media(
                streamSid: "6f048d2e897a0d2d4029560f3f541947",
                sequenceNumber: 3,
                chunk: 2,
                timestampMs: 200,
                track: nil,
                pcm: pcm
            )
        }
    }

    /// sin(2πx) for x in [0, 1) by a short polynomial, so the command needs no Foundation.
    private static func sine(_ x: Double) -> Double {
        let t = x < 0.5 ? x : x - 1  // (-0.5, 0.5)
        let y = 8 * t * (1 - 2 * abs(t))  // parabola approximation
        return 0.225 * (y * abs(y) - y) + y
    }

    private static func format(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}

extension String {
    fileprivate func padding(toLength length: Int) -> String {
        self.count >= length ? self : self + String(repeating: " ", count: length - self.count)
    }
}
