import ExorecTesting
import Foundation
import Testing

/// The per-frame path allocates nothing in steady state: `AllocationProbe` runs it single-threaded
/// (a message's text into the stream session: parse, decode, the machine, the write to a real WAV;
/// the flush queue's ticks and the header refresh) for four streams (8 and 24 kHz mono with
/// reordered and duplicate frames, 16 kHz dual), and counts every `malloc` between `hook()` and
/// `unhook()` through ordo-one/malloc-interposer, preloaded with `LD_PRELOAD`.
///
/// The probe is the release build (`swift build -c release --product AllocationProbe`; `make test`
/// builds it): unoptimised code calls the standard library's generics unspecialised, and those box
/// their values (about six allocations per message in a debug build), which says nothing about the
/// binary that runs.
@Suite(.timeLimit(.minutes(2))) struct StreamMachineAllocationTests {
    struct Counts: Decodable {
        var messages: Int
        var mallocCount: Int
        var mallocBytes: Int
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func probe(_ arguments: [String]) throws -> Counts {
        let release = root.appendingPathComponent(".build/release")
        let probe = release.appendingPathComponent("AllocationProbe").path
        let interposer = release.appendingPathComponent("libMallocInterposerSwift.so").path
        guard FileManager.default.isExecutableFile(atPath: probe), FileManager.default.fileExists(atPath: interposer)
        else {
            throw ProbeMissing(
                description:
                    "no release AllocationProbe at \(probe): run `swift build -c release --product AllocationProbe`"
            )
        }
        var environment = ProcessInfo.processInfo.environment
        environment["LD_PRELOAD"] = interposer
        let process = try ChildProcess(
            executable: probe,
            arguments: arguments,
            environment: environment,
            standardError: .nullDevice
        )
        #expect(process.waitUntilExit() == 0)
        let text = process.standardOutput
        print("AllocationProbe \(arguments.joined(separator: " ")): \(text)")
        let line = text.split(separator: "\n").last.map(String.init) ?? ""
        return try JSONDecoder().decode(Counts.self, from: Data(line.utf8))
    }

    struct ProbeMissing: Error, CustomStringConvertible { var description: String }

    @Test func theSteadyStatePerFramePathAllocatesNothing() throws {
        let counts = try Self.probe(["4000"])
        #expect(counts.messages > 20_000)
        #expect(counts.mallocCount == 0, "\(counts.mallocCount) allocations, \(counts.mallocBytes) bytes")
    }

    /// The count is real: one String per round in the measured loop is seen.
    @Test func anAllocationPerFrameIsCounted() throws {
        let counts = try Self.probe(["1000", "--allocate-per-frame"])
        #expect(counts.mallocCount >= 1000, "\(counts.mallocCount) allocations")
    }
}
