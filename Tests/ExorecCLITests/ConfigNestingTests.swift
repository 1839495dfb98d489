import ExorecTesting
import Foundation
import Testing

/// FuzzConfig's finding: Yams builds its tree recursively, so a configuration nested thousands of
/// levels deep overflowed the stack and `exorec serve` died with SIGSEGV instead of naming the
/// problem. Now it is a usage error (64) before Yams sees the text.
@Suite struct ConfigNestingTests {
    @Test(arguments: [
        ("flow", String(repeating: "[", count: 100_000)),
        ("compact-sequences", String(repeating: "- ", count: 50_000) + "x\n"),
        ("indentation", "ingest:\n" + (1...400).map { String(repeating: " ", count: $0 * 2) + "k\($0):\n" }.joined()),
    ])
    func deeplyNestedConfigurationIsAUsageError(kind: String, yaml: String) async throws {
        let path = makeTemporaryDirectory() + "/exorec.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try await ExorecProcess.run([
            "serve", "--config", path, "--callbacks-port", "0", "--api-port", "0", "--storage",
            makeTemporaryDirectory(),
        ])
        #expect(result.status == 64, "\(kind): status \(result.status), stderr \(result.errors.prefix(300))")
        #expect(result.errors.contains("nested more than 64 levels deep"), "\(kind): \(result.errors.prefix(300))")
    }
}

/// A duration too large for Int64 milliseconds (`1e300s`) trapped in the conversion; now any
/// duration over a year is a usage error naming its key, and a sane one is read.
@Suite struct ConfigDurationBoundTests {
    @Test(arguments: ["1e300s", "9999999999999999h", "400d", "-5s"])
    func hugeOrMalformedDurationsAreUsageErrors(value: String) async throws {
        let path = makeTemporaryDirectory() + "/exorec.yaml"
        try "ingest:\n  auth:\n    disabled: true\nrecording:\n  max_duration: \(value)\n".write(
            toFile: path,
            atomically: true,
            encoding: .utf8
        )
        let result = try await ExorecProcess.run([
            "serve", "--config", path, "--callbacks-port", "0", "--api-port", "0", "--storage",
            makeTemporaryDirectory(),
        ])
        #expect(result.status == 64, "\(value): status \(result.status), stderr \(result.errors.prefix(300))")
        #expect(result.errors.contains("recording.max_duration"), "\(value): \(result.errors.prefix(300))")
    }

    /// FuzzConfig's finding in the one-hour run (Fuzz/Corpus/FuzzConfig/finding-huge-duration): the same
    /// trap through another key, `recording.reorder_window: 10055555555555555555555555555ms`.
    @Test func fuzzFindingHugeReorderWindowIsAUsageError() async throws {
        let path = makeTemporaryDirectory() + "/exorec.yaml"
        try "ingest:\n  auth:\n    disabled: true\nrecording:\n  reorder_window: 10055555555555555555555555555ms\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let result = try await ExorecProcess.run([
            "serve", "--config", path, "--callbacks-port", "0", "--api-port", "0", "--storage",
            makeTemporaryDirectory(),
        ])
        #expect(result.status == 64, "status \(result.status), stderr \(result.errors.prefix(300))")
        #expect(result.errors.contains("recording.reorder_window"), "\(result.errors.prefix(300))")
    }
}
