import Foundation
import MediaStore
import SQLKit

extension Catalog {
    /// The `call.json` the catalog's rows give for a call: what the writer of call sidecars stores after each
    /// change, and what a rebuild turns back into the same rows.
    ///
    /// A call placed elsewhere has no placement: `origin` `elsewhere` and `first_seen_at` instead. A CallSid the
    /// catalog has only callbacks for (one that cannot name a folder, or a catalog from before calls placed
    /// elsewhere were catalogued) has no placement and its account is ``CallSidecar/unknownAccount``. Nil when
    /// the catalog knows nothing of it.
    public func callSidecar(callSid: String, exorecVersion: String) async throws -> CallSidecar? {
        try await self.exclusive("export call sidecar") { db in
            let call = try await db.select().column("*").from(Table.calls).where("call_sid", .equal, callSid).first()
                .map(CallRecord.init(row:))
            let callbacks = try await db.select().column("*").from(Table.callbacks).where("call_sid", .equal, callSid)
                .orderBy("received_at").orderBy("id").all().map(CallbackRecord.init(row:))
                .map { record in
                    CallSidecar.Callback(
                        receivedAt: record.receivedAt,
                        lastReceivedAt: record.lastReceivedAt,
                        deliveries: record.deliveries,
                        contentType: record.contentType,
                        sourceAddress: record.sourceAddress,
                        body: Array(record.rawBody),
                        unknownCall: record.unknownCall
                    )
                }
            guard let call else {
                guard !callbacks.isEmpty else { return nil }
                return CallSidecar(
                    accountSid: CallSidecar.unknownAccount,
                    callSid: callSid,
                    placedAt: nil,
                    request: nil,
                    platformCall: nil,
                    callbacks: callbacks,
                    exorecVersion: exorecVersion
                )
            }
            if call.origin == .elsewhere {
                let platformCall =
                    call.platformCallJSON == "{}"
                    ? nil : try? JSONDecoder().decode(SidecarJSON.self, from: Data(call.platformCallJSON.utf8))
                var sidecar = CallSidecar(
                    accountSid: call.accountSid,
                    callSid: callSid,
                    placedAt: nil,
                    request: nil,
                    platformCall: platformCall,
                    statusHistory: try await Self.statusHistory(db, callSid: callSid),
                    callbacks: callbacks,
                    exorecVersion: exorecVersion,
                    origin: CallSidecar.originElsewhere,
                    firstSeenAt: call.placedAt
                )
                sidecar.from = call.from
                sidecar.to = call.to
                sidecar.customField = call.customField
                return sidecar
            }
            return CallSidecar(
                accountSid: call.accountSid,
                callSid: callSid,
                placedAt: call.placedAt,
                request: call.parameters,
                campaignId: call.campaignId,
                campaignRowKey: call.campaignRowKey,
                platformCall: try? JSONDecoder().decode(SidecarJSON.self, from: Data(call.platformCallJSON.utf8)),
                statusHistory: try await Self.statusHistory(db, callSid: callSid),
                callbacks: callbacks,
                exorecVersion: exorecVersion,
                metadata: call.metadata.isEmpty ? nil : call.metadata
            )
        }
    }
}
