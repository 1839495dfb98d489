import ExorecTesting
import Foundation
import Testing

/// The `archive` section of `exorec.yaml`: every mistake is a usage error (64) that names its key; no store is
/// needed to tell.
@Suite(.timeLimit(.minutes(1)))
struct ArchiveConfigCommandTests {
    static func run(
        _ yaml: String,
        _ arguments: [String] = ["archive", "upload"],
        environment: [String: String] = [:]
    )
        async throws -> (status: Int32, output: String, errors: String)
    {
        let directory = makeTemporaryDirectory()
        let config = "\(directory)/exorec.yaml"
        try "storage: \(directory)\n\(yaml)".write(toFile: config, atomically: true, encoding: .utf8)
        return try await ExorecProcess.run(arguments + ["--config", config], environment: environment)
    }

    @Test(arguments: [
        (
            "archive:\n  s3:\n    endpoint: http://127.0.0.1:9\n    bucket: b1x\n    retention: {mode: strict}\n",
            "archive.s3.retention.mode"
        ),
        (
            "archive:\n  s3:\n    endpoint: http://127.0.0.1:9\n    bucket: b1x\n    retention: {period: 7 years}\n",
            "archive.s3.retention.period"
        ),
        ("archive:\n  s3:\n    endpoint: http://127.0.0.1:9\n", "archive.s3.bucket"),
        ("archive:\n  s3:\n    endpoint: ftp://127.0.0.1:9\n    bucket: b1x\n", "archive.s3.endpoint"),
        ("archive:\n  s3:\n    endpoint: http://127.0.0.1:9\n    bucket: b1x\n    prefix: /abs\n", "archive.s3.prefix"),
        ("archive:\n  keep_local: soon\n", "archive.keep_local"),
        ("archive:\n  s3:\n    endpoint: http://127.0.0.1:9\n    bucket: b1x\n    colour: blue\n", "archive.s3.colour"),
        (
            "archive:\n  s3:\n    endpoint: http://127.0.0.1:9\n    bucket: Bad_Name\n    access_key_id: a\n"
                + "    secret_access_key: b\n", "bucket \"Bad_Name\""
        ),
    ])
    func mistakesNameTheirKey(_ yaml: String, _ key: String) async throws {
        let result = try await Self.run(yaml)
        #expect(result.status == 64, "\(result.errors)")
        #expect(result.errors.contains(key), "\(result.errors)")
    }

    /// Credentials are required, from the file or the environment, and never printed.
    @Test func credentialsAreRequiredAndNeverPrinted() async throws {
        let yaml = "archive:\n  s3:\n    endpoint: http://127.0.0.1:9\n    bucket: b1x\n"
        let missing = try await Self.run(yaml)
        #expect(missing.status == 64 && missing.errors.contains("EXOREC_S3_ACCESS_KEY_ID"), "\(missing.errors)")
        let unreachable = try await Self.run(
            yaml,
            environment: ["EXOREC_S3_ACCESS_KEY_ID": "AKIDEXAMPLE", "EXOREC_S3_SECRET_ACCESS_KEY": "very-secret-value"]
        )
        // No catalog under this storage root: it could not run, and says why, without the secret.
        #expect(unreachable.status == 1, "\(unreachable.errors)")
        #expect(!(unreachable.output + unreachable.errors).contains("very-secret-value"))
    }

    /// Without `archive.s3` the archive commands say how to turn it on.
    @Test func archiveOffIsAClearUsageError() async throws {
        let result = try await Self.run("")
        #expect(result.status == 64 && result.errors.contains("no object archive is configured"), "\(result.errors)")
    }
}
