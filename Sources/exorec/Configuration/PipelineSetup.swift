import ArgumentParser
import AsyncHTTPClient
import Catalog
import Doors
import ExotelClient
import ExotelKit
import Ingest
import Logging
import MediaStore
import Orchestrator

/// The configuration turned into what places calls and catalogs them; every missing piece is a
/// usage error that names its key.
struct PipelineSetup {
    let file: ConfigFile

    var layout: StorageLayout { StorageLayout(root: self.file.ingest.storageRoot) }
    /// The catalog: the PostgreSQL URL when one is configured (`catalog.url`, `EXOREC_CATALOG_URL`), the SQLite
    /// file otherwise. Everything that opens a catalog takes either (`CatalogLocation`).
    var catalogPath: String {
        self.file.pipeline.catalogURL ?? self.file.pipeline.catalogPath
            ?? "\(self.file.ingest.storageRoot)/catalog.sqlite"
    }

    func client(clock: ScaledClock = ScaledClock(), logger: Logger) throws -> ExotelClient {
        do {
            let pipeline = self.file.pipeline
            let endpoint = try pipeline.endpoint()
            var configuration = ExotelClientConfiguration(maximumRecordingBytes: pipeline.maxRecordingBytes)
            configuration.allowedRecordingHosts =
                [endpoint.origin.authority] + ExotelClientConfiguration.documentedRecordingHosts
                + pipeline.recordingHosts
            return ExotelClient(
                endpoint: endpoint,
                credentials: try pipeline.credentials(),
                configuration: configuration,
                clock: clock,
                logger: logger
            )
        } catch let error as IngestError {
            throw ValidationError(error.description)
        }
    }

    /// How calls are placed: pointed at this server's public URL, with its stream credentials and callback token.
    func placementSettings() throws -> PlacementSettings {
        let pipeline = self.file.pipeline
        var missing: [String] = []
        if pipeline.callerId == nil { missing.append("exotel.caller_id") }
        if pipeline.publicURL == nil { missing.append("calls.public_url") }
        if self.file.callbacks.token == nil { missing.append("callbacks.token (or EXOREC_CALLBACK_TOKEN)") }
        let credential = self.file.ingest.credentials.first
        if credential == nil && !self.file.ingest.authDisabled {
            missing.append("ingest.auth.credentials (or EXOREC_INGEST_USERNAME and EXOREC_INGEST_PASSWORD)")
        }
        guard let callerId = pipeline.callerId, let publicURL = pipeline.publicURL,
            let token = self.file.callbacks.token,
            missing.isEmpty
        else {
            throw ValidationError("placing calls needs \(missing.joined(separator: ", ")) in the configuration")
        }
        let base = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        let webSocketBase: String
        if base.hasPrefix("https://") {
            webSocketBase = "wss://" + base.dropFirst("https://".count)
        } else if base.hasPrefix("http://") {
            webSocketBase = "ws://" + base.dropFirst("http://".count)
        } else {
            throw ValidationError("calls.public_url '\(publicURL)' must start with http:// or https://")
        }
        let callbackBase =
            (pipeline.callbackURL ?? base).hasSuffix("/")
            ? String((pipeline.callbackURL ?? base).dropLast()) : (pipeline.callbackURL ?? base)
        guard callbackBase.hasPrefix("https://") || callbackBase.hasPrefix("http://") else {
            throw ValidationError("calls.callback_url '\(callbackBase)' must start with http:// or https://")
        }
        return PlacementSettings(
            callerId: callerId,
            recordingChannels: pipeline.recordingChannels,
            recordingFormat: pipeline.recordingFormat,
            streamURL: webSocketBase + self.file.ingest.streamPath,
            streamUsername: credential?.username,
            streamPassword: credential?.password,
            streamBegin: pipeline.streamBegin,
            streamQuery: (pipeline.sampleRate == 8000 ? [] : [("sample-rate", "\(pipeline.sampleRate)")])
                + (pipeline.streamTracks == "mixed" ? [] : [("track", pipeline.streamTracks)]),
            statusCallbackURL: "\(callbackBase)/v1/callbacks/status?token=\(token)",
            statusCallbackContentType: pipeline.callbackFormat,
            waitURL: pipeline.waitURL,
            startPlaybackURL: pipeline.startPlaybackURL,
            startPlaybackTo: pipeline.startPlaybackURL == nil ? nil : pipeline.startPlaybackTo,
            timeLimit: pipeline.timeLimit,
            timeOut: pipeline.timeOut
        )
    }

    /// The catalog, migrated to this version's schema.
    func openCatalog(logger: Logger) async throws -> Catalog {
        let catalog = try await Catalog.open(path: self.catalogPath, logger: logger)
        do {
            _ = try await catalog.migrate()
        } catch {
            try? await catalog.close()
            throw error
        }
        return catalog
    }

    /// Runs `body` on the catalog, which must exist already, and closes it on every path. The commands that
    /// read or prove the archive use it: they never create a catalog, so a mistyped `--storage` fails (exit 1)
    /// instead of looking like an empty, clean archive.
    ///
    /// - Parameter migrate: false for the read-only listings: migrating could change the schema under a
    ///   running, older `exorec serve`; a catalog that needs it is reported (`catalog.schema-too-old`).
    func withExistingCatalog<R: Sendable>(
        logger: Logger,
        migrate: Bool = true,
        _ body: (Catalog) async throws -> R
    ) async throws -> R {
        // A PostgreSQL database exists or not on its server; an unmigrated one is reported as too old.
        guard CatalogLocation.isPostgresURL(self.catalogPath) || FileSystem.exists(self.catalogPath) else {
            throw NoCatalog(path: self.catalogPath)
        }
        return try await Catalog.withCatalog(path: self.catalogPath, logger: logger, migrate: migrate, body)
    }

    /// What `serve` and `demo` run: ingest, catalog, fetcher and reconciler settings.
    func pipelineConfiguration() -> PipelineConfiguration {
        let pipeline = self.file.pipeline
        var fetcher = RecordingFetcherConfiguration(
            storageRoot: self.file.ingest.storageRoot,
            workers: pipeline.downloadWorkers,
            giveUpAfter: .milliseconds(pipeline.giveUpAfterMs),
            maximumBytes: pipeline.maxRecordingBytes,
            exorecVersion: ExorecVersion.string
        )
        fetcher.actor = "fetcher"
        return PipelineConfiguration(
            ingest: self.file.ingest,
            callbacks: self.file.callbacks,
            api: self.file.api,
            catalogPath: self.catalogPath,
            fetcher: fetcher,
            reconciler: ReconcilerConfiguration(
                terminalGrace: .milliseconds(pipeline.reconcileAfterMs),
                interval: .milliseconds(pipeline.reconcileIntervalMs)
            ),
            node: NodeConfiguration(
                id: self.file.node.id ?? NodeIdentifier.fromHostName(),
                heartbeatInterval: .milliseconds(self.file.node.heartbeatIntervalMs)
            ),
            exorecVersion: ExorecVersion.string
        )
    }

    /// `calls.prompt_hosts` as an allowlist (entries without a scheme allow https and http); nil when empty:
    /// each prompt's own origin only.
    func promptOrigins() throws -> OriginAllowlist? {
        let hosts = self.file.pipeline.promptHosts
        guard !hosts.isEmpty else { return nil }
        do {
            return try OriginAllowlist(parsing: hosts, schemes: ["https", "http"])
        } catch {
            throw ValidationError("calls.prompt_hosts: \(error)")
        }
    }

    /// A placer on an open catalog.
    func placer(catalog: Catalog, client: ExotelClient, logger: Logger) throws -> CallPlacer {
        CallPlacer(
            settings: try self.placementSettings(),
            client: client,
            catalog: catalog,
            prompts: PromptPreparer(fetcher: HTTPPromptAudioFetcher(allowedOrigins: try self.promptOrigins())),
            sidecars: CallSidecarWriter(
                layout: self.layout,
                catalog: catalog,
                exorecVersion: ExorecVersion.string,
                logger: logger
            ),
            logger: logger
        )
    }

    static func load(config: String?, storage: String?) throws -> ConfigFile {
        do {
            var file = try ConfigFile.load(path: config)
            if let storage { file.ingest.storageRoot = storage }
            return file
        } catch let error as IngestError {
            throw ValidationError(error.description)
        }
    }
}

/// No catalog where the configuration says: the commands that read the archive never create one.
struct NoCatalog: Error, CustomStringConvertible {
    let path: String
    var description: String {
        "no catalog at \(self.path): check --storage or --config (exorec serve creates it); nothing was done"
    }
}
