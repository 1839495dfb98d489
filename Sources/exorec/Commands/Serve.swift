import ArgumentParser
import Doors
import ExotelClient
import Ingest
import Logging
import MediaStore
import Orchestrator
import ServiceLifecycle
import Synchronization
import UnixSignals

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the server: audio streams to WAV, status callbacks, recording downloads, the catalog.",
        discussion: """
            Listens for the platform's audio streams on ws://HOST:PORT/v1/streams (the stream door; \
            wss:// with ingest.tls.certificate and ingest.tls.key; HTTP Basic auth from the configuration) \
            and writes one WAV and one JSON sidecar per stream under STORAGE/media/; takes status callbacks \
            on the platform door, POST http(s)://callbacks.host:callbacks.port/v1/callbacks/status?token=TOKEN \
            (with callbacks.token set); keeps STORAGE/catalog.sqlite (calls, callbacks, streams, \
            recordings, media files, audit log); and, with the exotel.* credentials set, downloads \
            each call's recording from the durable queue (retrying while the platform publishes it) \
            and asks Call Details about calls whose terminal callback never came. GET /healthz is on the \
            stream door; GET /v1/events, GET /v1/media/ID (api.token) and GET /metrics (Prometheus) \
            are on the internal door, api.host:api.port (loopback by default), and so is the compliance \
            web console, /console/, when console.users lists anyone (docs/CONSOLE.md). At start it repairs streams \
            a crash left open and resumes pending downloads, and raises its descriptor limit to the hard \
            limit (the stream capacity that gives is logged). SIGINT or SIGTERM finishes every open stream before \
            it exits.

            Prints "exorec: platform door on HOST:PORT", "exorec: internal door on HOST:PORT" and \
            "exorec: listening on HOST:PORT" (the stream door) on standard output, in that order, once \
            every door is up; logs go to standard error.

            EXAMPLES:
              exorec serve --config config/exorec.example.yaml
              EXOREC_INGEST_USERNAME=exotel EXOREC_INGEST_PASSWORD=s3cret exorec serve --port 9000
              exorec serve --config exorec.yaml --host 0.0.0.0 --storage /srv/exorec
            """
    )

    @Option(name: .long, help: ArgumentHelp("YAML configuration file.", valueName: "file"))
    var config: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Address of the stream door (default ingest.host, 127.0.0.1; 0.0.0.0 for every interface).",
            valueName: "ip"
        )
    )
    var host: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Port of the stream door (default ingest.port, 8080; 0 picks a free one).",
            valueName: "port"
        )
    )
    var port: Int?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Port of the platform door, status callbacks (default callbacks.port, 8081; 0 picks a free one).",
            valueName: "port"
        )
    )
    var callbacksPort: Int?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Port of the internal door, events, media and metrics (default api.port, 8082; 0 picks a free one).",
            valueName: "port"
        )
    )
    var apiPort: Int?

    @Option(
        name: .long,
        help: ArgumentHelp("Storage root for media and sidecars (default ./storage).", valueName: "dir")
    )
    var storage: String?

    @Option(name: .long, help: ArgumentHelp("Log level: \(LogSetup.levelNames).", valueName: "level"))
    var logLevel: String?

    @Flag(name: [.short, .long], help: "Log warnings and errors only (the door lines are still printed).")
    var quiet = false

    func validate() throws {
        if let port, !(0...65535).contains(port) {
            throw ValidationError("--port \(port) is not a port number (0-65535).")
        }
        if let callbacksPort, !(0...65535).contains(callbacksPort) {
            throw ValidationError("--callbacks-port \(callbacksPort) is not a port number (0-65535).")
        }
        if let apiPort, !(0...65535).contains(apiPort) {
            throw ValidationError("--api-port \(apiPort) is not a port number (0-65535).")
        }
        if let logLevel, LogSetup.levels[logLevel] == nil {
            throw ValidationError("--log-level must be one of \(LogSetup.levelNames).")
        }
    }

    func run() async throws {
        var file: ConfigFile
        do {
            file = try ConfigFile.load(path: self.config)
            if let host { file.ingest.server.host = host }
            if let port { file.ingest.server.port = port }
            if let callbacksPort { file.callbacks.port = callbacksPort }
            if let apiPort { file.api.port = apiPort }
            if let storage { file.ingest.storageRoot = storage }
            try file.validate()
        } catch let error as IngestError {
            throw ValidationError(error.description)
        }
        let logger = LogSetup.makeLogger(
            label: "exorec.serve",
            level: self.logLevel ?? file.logLevel,
            quiet: self.quiet
        )
        file.applyFilePermissions()
        for warning in StartupWarnings.check(file) {
            logger.warning("\(warning.message)", metadata: ["warning": "\(warning.code)"])
        }
        let host = file.ingest.server.host
        let callbacksHost = file.callbacks.host
        let apiHost = file.api.host
        let setup = PipelineSetup(file: file)
        let client = file.pipeline.accountSid == nil ? nil : try setup.client(logger: logger)
        let pipeline: ExorecPipeline
        let readiness = ReadinessLines()
        do {
            var configuration = setup.pipelineConfiguration()
            // The object archive (archive.s3, docs/ARCHIVE.md): its archiver runs among the pipeline's services.
            configuration.objectArchive = try setup.objectArchiveConfiguration(
                actor: "archiver:\(configuration.node.id)"
            )
            pipeline = try await ExorecPipeline.open(
                configuration: configuration,
                client: client,
                logger: logger,
                onListening: { port in readiness.up(.stream, "exorec: listening on \(host):\(port)") },
                onPlatformListening: { port in
                    readiness.up(.platform, "exorec: platform door on \(callbacksHost):\(port)")
                },
                onInternalListening: { port in readiness.up(.internal, "exorec: internal door on \(apiHost):\(port)") },
                internalMount: try ConsoleSetup.mount(file: file, logger: logger)
            )
        } catch let error as IngestError {
            throw ValidationError(error.description)
        }
        let group = ServiceGroup(
            configuration: .init(
                services: pipeline.serviceConfigurations,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch {
            try? await pipeline.close()
            throw error
        }
        try await pipeline.close()
    }
}

/// The doors' "… on HOST:PORT" lines, printed together once every door is up, in one order whichever
/// binds first: platform door, internal door, then the stream door's "listening on", the documented sign
/// that `serve` is ready (scripts and tests wait for it).
final class ReadinessLines: Sendable {
    enum Door: Int, CaseIterable { case platform, `internal`, stream }

    private let lines = Mutex<[Door: String]>([:])

    func up(_ door: Door, _ line: String) {
        self.lines.withLock { lines in
            lines[door] = line
            guard lines.count == Door.allCases.count else { return }
            for door in Door.allCases { StandardOutput.line(lines[door] ?? "") }
        }
    }
}
