public import Catalog
import ExotelKit
import Ingest
public import Logging
public import MediaStore

/// A surviving node's part in "a node that dies loses nothing": the open streams of a node that was lost
/// (its lease ran out without a clean stop) are repaired and marked `interrupted` by a node that is alive,
/// without waiting for the lost node to come back.
///
/// Fencing, in this order, so that no node ever repairs a file a live node is still writing:
/// 1. the lost node's lease must have ended at least `grace` ago (clock skew between machines);
/// 2. the survivor takes the lost node's lock on the shared storage root (`StorageLock` as that node): the
///    kernel (or the shared filesystem's lock manager) holds it for as long as the lost process lives, so a
///    process that is alive but cannot reach the catalog is never repaired under;
/// 3. it repairs exactly that node's open streams (`StorageRecovery`) and catalogs them as repaired;
/// 4. it claims the node in the catalog (`Catalog.takeOverLostNode`): the registry says who took it over, and
///    the lost incarnation is fenced off should it come back.
///
/// The repair comes before the claim so that a survivor that dies half-way leaves the node lost, and the next
/// survivor (or the node itself, restarted) repairs what is left; repairing is idempotent (a repaired stream is
/// no longer `recording`), and the lock makes two survivors take turns.
public struct LostNodeRepairer: Sendable {
    let layout: StorageLayout
    let catalog: Catalog
    let cataloger: StreamCataloger
    let grace: Duration
    let logger: Logger

    public init(layout: StorageLayout, catalog: Catalog, cataloger: StreamCataloger, grace: Duration, logger: Logger) {
        self.layout = layout
        self.catalog = catalog
        self.cataloger = cataloger
        self.grace = grace
        self.logger = logger
    }

    /// Repairs every node of `registry` that is due (see the type's steps) and returns, by node id, how many
    /// streams were repaired. A node whose lock is still held is tried again at the next call.
    @discardableResult
    public func repairLostNodes(in registry: [NodeRecord], survivor: String, at now: Timestamp) async -> [String: Int] {
        var repairedByNode: [String: Int] = [:]
        for node in registry where node.nodeId != survivor && node.state(at: now) == .lost {
            guard now >= node.leaseUntil.advanced(by: self.grace) else { continue }
            // Held while the lost node's process lives (or while a rebuild holds the whole root): not now.
            guard let lock = try? StorageLock(layout: self.layout, node: node.nodeId) else { continue }
            let repaired = StorageRecovery(layout: self.layout, logger: self.logger)
                .repairInterruptedStreams(node: node.nodeId, unmarked: false, at: now)
            for stream in repaired {
                let sidecarPath = StorageLayout.sidecarPath(ofMedia: stream.wavPath)
                if let sidecar = try? StreamSidecar.load(from: sidecarPath) {
                    await self.cataloger.apply(.streamRepaired(sidecar, wavPath: stream.wavPath))
                }
            }
            // Streams the lost node finalized (or a survivor repaired) but did not live to catalog.
            await self.catchUpCatalog(node: node.nodeId, states: [.complete, .interrupted])
            var claimed = false
            do {
                // False when another survivor got there while this one waited for the lock.
                claimed = try await self.catalog.takeOverLostNode(node, by: survivor, at: now)
            } catch {
                self.logger.warning(
                    "repaired a lost node's streams but could not record the take-over; trying again",
                    metadata: ["node": "\(node.nodeId)", "error": "\(LogText.escaped("\(error)", limit: 1024))"]
                )
            }
            withExtendedLifetime(lock) {}
            guard claimed || !repaired.isEmpty else { continue }
            repairedByNode[node.nodeId] = repaired.count
            self.logger.warning(
                "repaired the open streams of a lost node",
                metadata: [
                    "lost_node": "\(node.nodeId)", "incarnation": "\(node.incarnation)",
                    "streams": "\(repaired.count)", "lease_until": "\(node.leaseUntil)",
                ]
            )
        }
        return repairedByNode
    }

    /// Catalogs the end of `node`'s streams whose sidecar is final (one of `states`) while the catalog still
    /// has them as `recording`: a process killed between finalizing a stream and cataloguing it leaves that
    /// gap, which start-up repair (it looks for sidecars still `recording`) does not see. Only sidecars that
    /// ended before `endedBefore` count, so a stream this process is finishing right now is left to its own
    /// event. Returns how many were caught up.
    @discardableResult
    public func catchUpCatalog(
        node: String,
        states: Set<StreamSidecar.State>,
        endedBefore: Timestamp? = nil
    ) async -> Int {
        guard let paths = try? await self.catalog.streamPathsStillRecording() else { return 0 }
        var caughtUp = 0
        for path in paths {
            let wavPath = self.layout.absolute(path)
            guard let sidecar = try? StreamSidecar.load(from: StorageLayout.sidecarPath(ofMedia: wavPath)),
                sidecar.node == node, states.contains(sidecar.state)
            else { continue }
            if let endedBefore, (sidecar.endedAt ?? endedBefore) >= endedBefore { continue }
            let event: IngestEvent =
                sidecar.state == .interrupted
                ? .streamRepaired(sidecar, wavPath: wavPath) : .streamFinished(sidecar, wavPath: wavPath)
            await self.cataloger.apply(event)
            caughtUp += 1
        }
        if caughtUp > 0 {
            self.logger.warning(
                "catalogued streams whose end a process did not live to record",
                metadata: ["node": "\(node)", "streams": "\(caughtUp)"]
            )
        }
        return caughtUp
    }
}
