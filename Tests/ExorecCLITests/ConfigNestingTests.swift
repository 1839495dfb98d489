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
        let result = try await ExorecProcess.run(["serve", "--config", path, "--callbacks-port", "0", "--api-port", "0", "--storage", makeTemporaryDirectory()])
        #expect(result.status == 64, "\(kind): status \(result.status), stderr \(result.errors.prefix(300))")
        #expect(result.errors.contains("nested more than 64 levels deep"), "\(kind): \(result.errors.prefix(300))")
    }
}
