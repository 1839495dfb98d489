import MediaStore
import SQLKit

/// Where a campaign row stands.
public enum CampaignRowState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Claimed; the call is being placed, or the process died while it was (then it may or may not
    /// have been placed: it is never placed again automatically).
    case placing
    case placed
    /// The platform refused it, or it was invalid; nothing was placed.
    case failed
}

public struct CampaignRowRecord: Sendable, Hashable, Codable {
    public var campaignId: String
    public var rowKey: String
    public var line: Int
    public var state: CampaignRowState
    public var callSid: String?
    public var error: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    enum CodingKeys: String, CodingKey {
        case line, state, error
        case campaignId = "campaign_id", rowKey = "row_key", callSid = "call_sid", createdAt = "created_at", updatedAt =
            "updated_at"
    }
}

extension Catalog {
    /// Claims a campaign row before its call is placed.
    /// - Returns: nil when the row is now claimed by the caller, else the row as an earlier run left it.
    public func claimCampaignRow(
        campaignId: String,
        rowKey: String,
        line: Int,
        at time: Timestamp = .now()
    ) async throws
        -> CampaignRowRecord?
    {
        try await self.transaction("claim campaign row") { db in
            let inserted = try await db.insert(into: Table.campaignRows)
                .columns("campaign_id", "row_key", "line", "state", "created_at", "updated_at")
                .values(
                    campaignId,
                    rowKey,
                    line,
                    CampaignRowState.placing.rawValue,
                    time.millisecondsSinceEpoch,
                    time.millisecondsSinceEpoch
                )
                .ignoringConflicts(with: ["campaign_id", "row_key"])
                .returning("row_key")
                .first()
            if inserted != nil { return nil }
            guard
                let row = try await db.select().column("*").from(Table.campaignRows)
                    .where("campaign_id", .equal, campaignId).where("row_key", .equal, rowKey).first()
            else { throw CatalogError.database(operation: "claim campaign row", reason: "conflict without a row") }
            return try CampaignRowRecord(row: row)
        }
    }

    /// Records how a claimed row ended: `placed` with its CallSid, or `failed` with the reason.
    public func finishCampaignRow(
        campaignId: String,
        rowKey: String,
        state: CampaignRowState,
        callSid: String? = nil,
        error: String? = nil,
        at time: Timestamp = .now()
    ) async throws {
        try await self.transaction("finish campaign row") { db in
            try await db.update(Table.campaignRows)
                .set("state", to: state.rawValue).set("call_sid", to: callSid).set("error", to: error)
                .set("updated_at", to: time.millisecondsSinceEpoch)
                .where("campaign_id", .equal, campaignId).where("row_key", .equal, rowKey)
                .run()
        }
    }

    /// Forgets a failed or stuck row so the next run places it again (`exorec campaign --retry`).
    public func releaseCampaignRow(campaignId: String, rowKey: String) async throws {
        try await self.transaction("release campaign row") { db in
            try await db.delete(from: Table.campaignRows)
                .where("campaign_id", .equal, campaignId).where("row_key", .equal, rowKey).where(
                    "state",
                    .notEqual,
                    CampaignRowState.placed.rawValue
                )
                .run()
        }
    }

    /// Rows with one of these keys claimed by any campaign other than `excluding` (a copy of a file
    /// under another campaign id would place them again).
    public func campaignRowClaims(rowKeys: [String], excluding campaignId: String) async throws -> [CampaignRowRecord] {
        var found: [CampaignRowRecord] = []
        for chunk in stride(from: 0, to: rowKeys.count, by: 500).map({
            Array(rowKeys[$0..<min($0 + 500, rowKeys.count)])
        }) {
            found += try await self.exclusive("read campaign rows") { db in
                try await db.select().column("*").from(Table.campaignRows).where("row_key", .in, chunk)
                    .where("campaign_id", .notEqual, campaignId).all().map(CampaignRowRecord.init(row:))
            }
        }
        return found
    }

    public func campaignRows(campaignId: String) async throws -> [CampaignRowRecord] {
        try await self.exclusive("read campaign rows") { db in
            try await db.select().column("*").from(Table.campaignRows).where("campaign_id", .equal, campaignId)
                .orderBy("line").all().map(CampaignRowRecord.init(row:))
        }
    }
}

extension CampaignRowRecord {
    init(row: any SQLRow) throws {
        let decoded = try row.choice("state", as: CampaignRowState.self, reading: "campaign row")
        self.campaignId = try row.value("campaign_id")
        self.rowKey = try row.value("row_key")
        self.line = Int(try row.value("line", as: Int64.self))
        self.state = decoded
        self.callSid = try row.optional("call_sid")
        self.error = try row.optional("error")
        self.createdAt = try row.timestamp("created_at")
        self.updatedAt = try row.timestamp("updated_at")
    }
}
