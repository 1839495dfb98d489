public import Catalog
public import ExotelClient
public import Ingest
public import Logging
public import MediaStore
public import ServiceLifecycle

/// What `exorec serve` (and the demo) run: the ingest server taking streams and status callbacks,
/// the catalog, the stream cataloguer, and, when the platform's credentials are configured, the
/// recording fetcher and the reconciler.
public struct PipelineConfiguration: Sendable {
    public var ingest: IngestConfiguration
    public var catalogPath: String
    public var fetcher: RecordingFetcherConfiguration
    public var reconciler: ReconcilerConfiguration
    public var exorecVersion: String

    public init(
        ingest: IngestConfiguration, catalogPath: String? = nil, fetcher: RecordingFetcherConfiguration? = nil,
        reconciler: ReconcilerConfiguration = ReconcilerConfiguration(), exorecVersion: String
    ) {
        self.ingest = ingest
        self.catalogPath = catalogPath ?? "\(ingest.storageRoot)/catalog.sqlite"
        self.fetcher = fetcher ?? RecordingFetcherConfiguration(storageRoot: ingest.storageRoot, exorecVersion: exorecVersion)
        self.reconciler = reconciler
        self.exorecVersion = exorecVersion
    }
}

/// The pipeline's parts, wired: callbacks go to the catalog and queue recordings, stream events
/// go to the catalog, the fetcher drains the queue, the reconciler fills in missed callbacks.
public struct ExorecPipeline: Sendable {
    public let catalog: Catalog
    public let layout: StorageLayout
    public let sidecars: CallSidecarWriter
    public let ingest: IngestServer
    public let cataloger: StreamCataloger
    public let recordings: RecordingQueue
    public let fetcher: RecordingFetcher?
    public let reconciler: Reconciler?

    /// Opens (and migrates) the catalog and builds the parts; nothing runs until `services` do.
    /// Without a `client` no recording is fetched and nothing is reconciled (callbacks still queue
    /// downloads, for a process that has the credentials).
    public static func open(
        configuration: PipelineConfiguration, client: ExotelClient?, logger: Logger,
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) async throws -> ExorecPipeline {
        let catalog = try await Catalog.open(path: configuration.catalogPath, logger: logger)
        do {
            _ = try await catalog.migrate()
        } catch {
            try? await catalog.close()
            throw error
        }
        let layout = StorageLayout(root: configuration.ingest.storageRoot)
        let sidecars = CallSidecarWriter(layout: layout, catalog: catalog, exorecVersion: configuration.exorecVersion, logger: logger)
        let fetcher = client.map {
            RecordingFetcher(catalog: catalog, client: $0, configuration: configuration.fetcher, logger: logger)
        }
        let recordings = fetcher?.queue ?? RecordingQueue(catalog: catalog)
        let reconciler = client.map { client in
            Reconciler(
                catalog: catalog, client: client, queue: recordings, configuration: configuration.reconciler,
                callChanged: { sid in _ = try? await sidecars.refresh(callSid: sid) }, logger: logger)
        }
        let sink = CallbackRecorder(catalog: catalog, sidecars: sidecars, layout: layout, recordings: recordings, logger: logger)
        let ingest = IngestServer(
            configuration: configuration.ingest, logger: logger, statusCallbackSink: sink,
            consumerFeed: CatalogConsumerFeed(catalog: catalog, layout: layout), onListening: onListening)
        let cataloger = StreamCataloger(events: ingest.events, catalog: catalog, layout: layout, logger: logger)
        if client == nil {
            logger.notice("no platform credentials (exotel.*): recordings are queued but not fetched, calls not reconciled")
        }
        return ExorecPipeline(
            catalog: catalog, layout: layout, sidecars: sidecars, ingest: ingest, cataloger: cataloger, recordings: recordings,
            fetcher: fetcher, reconciler: reconciler)
    }

    /// The services in start order; a `ServiceGroup` stops them in reverse, so the ingest server
    /// (last) stops first and the cataloguer (first) sees its final events before it ends.
    public var services: [any Service] {
        var services: [any Service] = [self.cataloger]
        if let fetcher { services.append(fetcher) }
        if let reconciler { services.append(reconciler) }
        services.append(self.ingest)
        return services
    }

    /// The services as a `ServiceGroup` runs them: any one that ends (the cataloguer, when the
    /// ingest server's events end) shuts the others down gracefully instead of failing the group.
    public var serviceConfigurations: [ServiceGroupConfiguration.ServiceConfiguration] {
        self.services.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) }
    }

    /// Closes the catalog (after the services have stopped).
    public func close() async throws {
        try await self.catalog.close()
    }
}
