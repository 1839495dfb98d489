import ArgumentParser
import Catalog
import Logging

/// The options every command that reads `exorec.yaml` shares.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("YAML configuration file.", valueName: "file"))
    var config: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Storage root (default from the configuration, else ./storage).", valueName: "dir")
    )
    var storage: String?

    @Option(name: .long, help: ArgumentHelp("Log level: \(LogSetup.levelNames).", valueName: "level"))
    var logLevel: String?

    func validate() throws {
        if let logLevel, LogSetup.levels[logLevel] == nil {
            throw ValidationError("--log-level must be one of \(LogSetup.levelNames).")
        }
    }

    /// The configuration with the flags applied.
    func setup() throws -> PipelineSetup {
        PipelineSetup(file: try PipelineSetup.load(config: self.config, storage: self.storage))
    }

    /// Runs `body` on the existing catalog of this configuration (``PipelineSetup/withExistingCatalog(logger:migrate:_:)``).
    func withExistingCatalog<R: Sendable>(
        label: String,
        migrate: Bool = true,
        _ body: (Catalog) async throws -> R
    ) async throws -> R {
        let setup = try self.setup()
        return try await setup.withExistingCatalog(
            logger: self.logger(label: label, file: setup.file),
            migrate: migrate,
            body
        )
    }

    /// Warnings and errors only unless asked: these commands print results, not a server's log.
    func logger(label: String, file: ConfigFile) -> Logger {
        LogSetup.makeLogger(label: label, level: self.logLevel ?? file.logLevel ?? "warning")
    }
}
