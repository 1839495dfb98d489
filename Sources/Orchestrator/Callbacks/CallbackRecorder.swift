public import Catalog
public import Doors
import ExotelKit
import Foundation
import Ingest
import Logging
public import MediaStore

/// The status-callback endpoint's sink: every callback durably in the catalog (raw body kept,
/// duplicates recognised), its status applied to the call and a terminal one's recording queued for
/// download (one transaction), and `call.json` rewritten, all before the platform gets its 200. It never waits on
/// a download: that is the fetcher's, from the durable queue.
///
/// Bodies that cannot be parsed are kept as files under `quarantine/callbacks/` (they are
/// answered 400, and the platform does not retry a 4xx, so this copy is the only one).
public struct CallbackRecorder: StatusCallbackSink {
    let catalog: Catalog
    let sidecars: CallSidecarWriter
    let layout: StorageLayout
    /// Where a terminal callback's recording is queued (durably; the fetcher is woken).
    let recordings: RecordingQueue
    let logger: Logger

    public init(
        catalog: Catalog,
        sidecars: CallSidecarWriter,
        layout: StorageLayout,
        recordings: RecordingQueue,
        logger: Logger
    ) {
        self.catalog = catalog
        self.sidecars = sidecars
        self.layout = layout
        self.recordings = recordings
        self.logger = logger
    }

    public var quarantineDirectory: String { "\(self.layout.root)/quarantine/callbacks" }

    public func store(_ received: ReceivedStatusCallback) async throws -> StatusCallbackStoreResult {
        let stored = try await self.catalog.storeCallback(
            ReceivedCallback(
                receivedAt: received.receivedAt,
                contentType: received.contentType,
                body: received.body,
                sourceAddress: received.remoteAddress
            ),
            queuedAt: self.recordings.time.now()
        )
        if stored.download?.isNew == true { self.recordings.wakeFetcher() }
        let result = stored.record
        let callSid = result.callback.callSid
        guard result.isNew else {
            // One more delivery of a callback already kept: call.json counts deliveries too.
            try await self.sidecars.refresh(callSid: callSid)
            return .duplicate
        }
        guard !result.unknownCall else {
            // Not a call exorec placed: a call placed elsewhere (this callback may have made it one) or, for a
            // CallSid that cannot name a folder, only a flagged callback. If exorec's own placement is recorded
            // later (its answer was lost), the catalog applies the callbacks again after it.
            try await self.sidecars.refresh(callSid: callSid)
            if stored.createdElsewhereCall {
                self.logger.info(
                    "call placed elsewhere catalogued from its status callback",
                    metadata: ["call": "\(LogText.escaped("\(callSid)", limit: 1024))"]
                )
            } else if try await self.catalog.call(sid: callSid) == nil {
                self.logger.warning(
                    "status callback for an unknown call kept",
                    metadata: ["call": "\(LogText.escaped("\(callSid)", limit: 1024))"]
                )
            }
            return .storedUnknownCall
        }
        try await self.sidecars.refresh(callSid: callSid)
        return .stored
    }

    public func quarantine(_ rejected: QuarantinedStatusCallback) async {
        let time = rejected.receivedAt.utcComponents
        let day = String(format: "%04d-%02d-%02d", time.year, time.month, time.day)
        let directory = "\(self.quarantineDirectory)/\(day)"
        let name = "\(rejected.receivedAt.millisecondsSinceEpoch)-\(UInt32.random(in: .min ... .max)).json"
        let record: [String: String] = [
            "received_at": rejected.receivedAt.description, "remote_address": rejected.remoteAddress,
            "content_type": rejected.contentType ?? "", "reason": rejected.reason,
            "body_base64": Data(rejected.body).base64EncodedString(),
        ]
        do {
            try FileSystem.makeDirectories(directory)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            try FileSystem.writeAtomically(Array(try encoder.encode(record)), to: "\(directory)/\(name)", durable: true)
        } catch {
            self.logger.error(
                "could not quarantine a malformed callback",
                metadata: ["error": "\(LogText.escaped("\(error)", limit: 1024))"]
            )
        }
    }
}
