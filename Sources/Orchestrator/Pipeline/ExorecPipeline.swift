public import Catalog
public import Doors
public import ExotelClient
public import Ingest
public import Logging
public import MediaStore
import ObjectStore
public import ServiceLifecycle
import Synchronization

/// What `exorec serve` (and the demo) run: the stream door (the ingest server), the platform door
/// (status callbacks), the internal door (events, media, metrics), the catalog, the stream cataloguer, and, when the platform's credentials are configured, the
/// recording fetcher and the reconciler.
public struct PipelineConfiguration: Sendable {
    public var ingest: IngestConfiguration
    /// The platform door: `POST /v1/callbacks/status`.
    public var callbacks: PlatformDoorConfiguration
    /// The internal door: `/v1/events`, `/v1/media/ID`, `/metrics`.
    public var api: InternalDoorConfiguration
    public var catalogPath: String
    public var fetcher: RecordingFetcherConfiguration
    public var reconciler: ReconcilerConfiguration
    /// This process's node id and heartbeat (the catalog's node registry).
    public var node: NodeConfiguration
    /// The WORM archive on object storage (`archive.s3`), or nil when it is off.
    public var objectArchive: ObjectArchiveConfiguration?
    public var exorecVersion: String

    public init(
        ingest: IngestConfiguration,
        callbacks: PlatformDoorConfiguration = PlatformDoorConfiguration(),
        api: InternalDoorConfiguration = InternalDoorConfiguration(),
        catalogPath: String? = nil,
        fetcher: RecordingFetcherConfiguration? = nil,
        reconciler: ReconcilerConfiguration = ReconcilerConfiguration(),
        node: NodeConfiguration = NodeConfiguration(),
        exorecVersion: String
    ) {
        self.ingest = ingest
        self.callbacks = callbacks
        self.api = api
        self.catalogPath = catalogPath ?? "\(ingest.storageRoot)/catalog.sqlite"
        self.fetcher =
            fetcher ?? RecordingFetcherConfiguration(storageRoot: ingest.storageRoot, exorecVersion: exorecVersion)
        self.reconciler = reconciler
        self.node = node
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
    public let platformDoor: PlatformDoor
    public let internalDoor: InternalDoor
    public let cataloger: StreamCataloger
    public let recordings: RecordingQueue
    public let fetcher: RecordingFetcher?
    public let reconciler: Reconciler?
    /// This process in the node registry: its lease, renewed every heartbeat.
    public let heartbeat: NodeHeartbeat
    /// Uploads finished files to the object archive, when one is configured.
    public let archiver: ObjectArchiver?

    /// Opens (and migrates) the catalog and builds the parts; nothing runs until `services` do.
    /// Without a `client` no recording is fetched and nothing is reconciled (callbacks still queue
    /// downloads, for a process that has the credentials).
    public static func open(
        configuration: PipelineConfiguration,
        client: ExotelClient?,
        logger: Logger,
        onListening: @escaping @Sendable (Int) -> Void = { _ in },
        onPlatformListening: @escaping @Sendable (Int) -> Void = { _ in },
        onInternalListening: @escaping @Sendable (Int) -> Void = { _ in },
        internalMount: (@Sendable (Catalog, StorageLayout) throws -> (any InternalDoorMount)?)? = nil
    ) async throws -> ExorecPipeline {
        try configuration.callbacks.validate()
        try configuration.api.validate()
        let layout = StorageLayout(root: configuration.ingest.storageRoot)
        // The storage root's lock as this node first: a second server under the same node id on this root is
        // refused before it migrates the catalog or starts a fetcher, reconciler or door (the ingest server
        // holds it from here). Nodes with other ids may share the root.
        let lock = try StorageLock(layout: layout, node: configuration.node.id)
        let catalog = try await Catalog.open(path: configuration.catalogPath, logger: logger)
        let heartbeat: NodeHeartbeat
        let streams = ActiveStreamsProbe()
        do {
            _ = try await catalog.migrate()
            // Holding the node's lock on its root proves that no other process runs as this node here, so a live
            // lease left under this node id belongs to a process that died: this one takes the node over (and
            // fences that incarnation, should it still be running elsewhere against the same catalog).
            heartbeat = try await NodeHeartbeat.register(
                configuration: configuration.node,
                catalog: catalog,
                version: configuration.exorecVersion,
                takingOver: true,
                activeStreams: { streams.count },
                logger: logger
            )
        } catch {
            try? await catalog.close()
            throw error
        }
        let archiver = configuration.objectArchive.map { archive in
            ObjectArchiver(
                configuration: archive,
                catalog: catalog,
                client: S3Client(configuration: archive.s3, logger: logger),
                logger: logger
            )
        }
        let sidecars = CallSidecarWriter(
            layout: layout,
            catalog: catalog,
            exorecVersion: configuration.exorecVersion,
            logger: logger
        )
        let fetcher = client.map {
            RecordingFetcher(catalog: catalog, client: $0, configuration: configuration.fetcher, logger: logger)
        }
        let recordings = fetcher?.queue ?? RecordingQueue(catalog: catalog)
        var reconcilerConfiguration = configuration.reconciler
        reconcilerConfiguration.node = configuration.node.id
        let reconciler = client.map { client in
            Reconciler(
                catalog: catalog,
                client: client,
                queue: recordings,
                configuration: reconcilerConfiguration,
                callChanged: { sid in _ = try? await sidecars.refresh(callSid: sid) },
                logger: logger
            )
        }
        let sink = CallbackRecorder(
            catalog: catalog,
            sidecars: sidecars,
            layout: layout,
            recordings: recordings,
            logger: logger
        )
        var ingestConfiguration = configuration.ingest
        ingestConfiguration.node = configuration.node.id
        ingestConfiguration.reportsProgress = configuration.api.token != nil
        // The HTTP doors' sockets come out of the same descriptor limit as the streams'.
        ingestConfiguration.server.descriptorsForOtherDoors =
            configuration.callbacks.limits.maxConnections + configuration.api.limits.maxConnections
        let ingest = IngestServer(
            configuration: ingestConfiguration,
            logger: logger,
            lock: lock,
            onListening: onListening
        )
        streams.ingest.withLock { $0 = ingest }
        let platformDoor: PlatformDoor
        let internalDoor: InternalDoor
        do {
            platformDoor = try PlatformDoor(
                configuration: configuration.callbacks,
                sink: sink,
                logger: logger,
                onListening: onPlatformListening
            )
            let counters = platformDoor.counters
            let platformConnections = platformDoor.connections
            let internalConnections = DoorConnectionCounters(door: "internal")
            let mount = try internalMount?(catalog, layout)
            internalDoor = try InternalDoor(
                configuration: configuration.api,
                source: CatalogConsumerFeed(
                    catalog: catalog,
                    layout: layout,
                    archive: archiver.map { ArchivedMediaSource(catalog: catalog, client: $0.client, layout: layout) }
                ),
                pauses: CatalogCallPauseControl(catalog: catalog, pauses: ingest.pauses, logger: logger),
                metrics: {
                    ingest.metricsText() + counters.prometheusText() + platformConnections.prometheusText(header: true)
                        + internalConnections.prometheusText(header: false) + heartbeat.prometheusText()
                },
                connections: internalConnections,
                mount: mount,
                logger: logger,
                onListening: onInternalListening
            )
        } catch {
            ingest.releaseLock()
            try? await catalog.close()
            throw error
        }
        let cataloger = StreamCataloger(
            events: ingest.events,
            catalog: catalog,
            layout: layout,
            logger: logger,
            sidecars: sidecars
        )
        // A lost node's open streams are repaired by a live one, a lease after the lost one's ran out.
        heartbeat.repairLostNodes(
            using: LostNodeRepairer(
                layout: layout,
                catalog: catalog,
                cataloger: cataloger,
                grace: configuration.node.lease,
                logger: logger
            )
        )
        if client == nil {
            logger.notice(
                "no platform credentials (exotel.*): recordings are queued but not fetched, calls not reconciled"
            )
        }
        return ExorecPipeline(
            catalog: catalog,
            layout: layout,
            sidecars: sidecars,
            ingest: ingest,
            platformDoor: platformDoor,
            internalDoor: internalDoor,
            cataloger: cataloger,
            recordings: recordings,
            fetcher: fetcher,
            reconciler: reconciler,
            heartbeat: heartbeat,
            archiver: archiver
        )
    }

    /// The services in start order; a `ServiceGroup` stops them in reverse, so the internal door
    /// (ending long polls and event streams) stops first, then the platform door (storing the
    /// callbacks in flight), then the ingest server, the cataloguer sees its final events before it
    /// ends, and the heartbeat marks the node stopped last.
    public var services: [any Service] {
        var services: [any Service] = [self.heartbeat, self.cataloger]
        if let fetcher { services.append(fetcher) }
        if let reconciler { services.append(reconciler) }
        if let archiver { services.append(archiver) }
        services.append(self.ingest)
        services.append(self.platformDoor)
        services.append(self.internalDoor)
        return services
    }

    /// The services as a `ServiceGroup` runs them: any one that ends (the cataloguer, when the
    /// ingest server's events end) shuts the others down gracefully instead of failing the group.
    public var serviceConfigurations: [ServiceGroupConfiguration.ServiceConfiguration] {
        self.services.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) }
    }

    /// Closes the catalog (after the services have stopped).
    public func close() async throws {
        try? await self.archiver?.client.shutdown()
        self.ingest.releaseLock()
        try await self.catalog.close()
    }
}

/// The ingest's open-stream count for the heartbeat, which is registered before the ingest server exists.
private final class ActiveStreamsProbe: Sendable {
    let ingest = Mutex<IngestServer?>(nil)
    var count: Int { self.ingest.withLock { $0?.metrics.current.activeStreams ?? 0 } }
}
