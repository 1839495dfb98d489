public import Catalog
import ExotelKit
public import Ingest
import Logging
public import MediaStore
public import ServiceLifecycle

/// Follows the ingest server's events and keeps the catalog's streams and media files in step:
/// a stream row when it starts, its size about once a second while it grows, its final state, size
/// and checksum when it is finalized (or what is known when finalizing failed), and an audit entry
/// for each finished file. The catalog adds the matching entries to the events feed.
public struct StreamCataloger: Service {
    let events: AsyncStream<IngestEvent>
    let catalog: Catalog
    let layout: StorageLayout
    let logger: Logger
    /// Writes `call.json` of a call a stream made known (a call placed elsewhere), or whose account it named.
    let sidecars: CallSidecarWriter?

    public init(
        events: AsyncStream<IngestEvent>,
        catalog: Catalog,
        layout: StorageLayout,
        logger: Logger,
        sidecars: CallSidecarWriter? = nil
    ) {
        self.events = events
        self.catalog = catalog
        self.layout = layout
        self.logger = logger
        self.sidecars = sidecars
    }

    public func run() async throws {
        // Every event is applied until the stream ends (the ingest server stopped), even after a
        // graceful shutdown began: the last streams' final states come then.
        for await event in self.events {
            await self.apply(event)
        }
        // Then it ends with the group, not before: a service that returns on its own fails a
        // ServiceGroup that has not asked it to stop.
        try? await gracefulShutdown()
    }

    /// Applies one event (tests and the demo call it directly).
    public func apply(_ event: IngestEvent) async {
        switch event {
        case .streamsGrew(let progress): await self.recordProgress(progress)
        case .streamStarted(let sidecar, let wavPath): await self.record(sidecar, wavPath: wavPath, audit: nil)
        case .streamFinished(let sidecar, let wavPath):
            await self.record(sidecar, wavPath: wavPath, audit: "stream.finalized")
        case .streamFinalizeFailed(let sidecar, let wavPath, let error):
            await self.record(sidecar, wavPath: wavPath, audit: "stream.finalize-failed", error: error)
        case .streamRepaired(let sidecar, let wavPath):
            await self.record(sidecar, wavPath: wavPath, audit: "stream.repaired")
        }
    }

    /// The stream's row and media file from its sidecar, and, for a final state, the audit entry `audit`.
    private func record(_ sidecar: StreamSidecar, wavPath: String, audit action: String?, error: String? = nil) async {
        let path = self.layout.relative(wavPath)
        do {
            let sighting = try await self.catalog.upsertStream(from: sidecar, path: path)
            if sighting != .unchanged, let sidecars = self.sidecars, let callSid = sidecar.callSid {
                if sighting == .created {
                    self.logger.info(
                        "call placed elsewhere catalogued from its stream",
                        metadata: ["call": "\(LogText.escaped(callSid, limit: 1024))", "path": "\(path)"]
                    )
                }
                try await sidecars.refresh(callSid: callSid)
            }
            if let action {
                var detail = ["stream_sid": sidecar.streamSid, "state": sidecar.state.rawValue]
                if let sha256 = sidecar.sha256 { detail["sha256"] = sha256 }
                if let bytes = sidecar.bytes { detail["bytes"] = "\(bytes)" }
                if let error { detail["error"] = error }
                _ = try await self.catalog.appendAudit(
                    AuditEvent(
                        at: sidecar.endedAt ?? .now(),
                        actor: "ingest",
                        action: action,
                        callSid: sidecar.callSid,
                        path: path,
                        detail: detail
                    )
                )
            }
        } catch {
            // The sidecar on disk stays the record: `catalog rebuild` recovers what is missed here.
            self.logger.error(
                "could not catalog a stream",
                metadata: [
                    "stream": "\(LogText.escaped("\(sidecar.streamSid)", limit: 1024))", "path": "\(path)",
                    "error": "\(LogText.escaped("\(error)", limit: 1024))",
                ]
            )
        }
    }

    /// Progress is news for live consumers, not a record: a failure is logged and the next report
    /// (a second later) carries the newer size anyway.
    private func recordProgress(_ progress: [StreamProgress]) async {
        let reports = progress.map { report in
            var catalogued = report
            catalogued.path = self.layout.relative(report.path)
            return catalogued
        }
        do {
            try await self.catalog.recordStreamProgress(reports)
        } catch {
            self.logger.warning(
                "could not record stream progress",
                metadata: ["streams": "\(reports.count)", "error": "\(LogText.escaped("\(error)", limit: 1024))"]
            )
        }
    }
}
