public import Catalog
import ExotelClient
import ExotelKit
import Logging

/// What happened to one campaign row in this run.
public enum CampaignRowOutcome: Sendable, Hashable {
    case placed(callSid: String)
    /// A previous run placed it.
    case alreadyPlaced(callSid: String?)
    /// A previous run claimed it and stopped before knowing whether the platform placed it: it is
    /// not placed again (that could ring both parties twice). `exorec campaign --retry` releases it.
    case uncertain
    /// Not placed: refused by the platform or invalid, now or in a previous run.
    case failed(reason: String)
    /// The platform may have placed it (the connection failed after the request was sent).
    case maybePlaced(reason: String)
}

/// The counts a campaign run reports.
public struct CampaignSummary: Sendable, Hashable, Codable {
    public var campaignId: String
    public var rows = 0
    public var placed = 0
    public var alreadyPlaced = 0
    public var uncertain = 0
    public var failed = 0

    public init(campaignId: String) {
        self.campaignId = campaignId
    }

    enum CodingKeys: String, CodingKey {
        case rows, placed, uncertain, failed
        case campaignId = "campaign_id", alreadyPlaced = "already_placed"
    }
}

/// Places a campaign's calls: every row checked first (nothing is placed if one is invalid), then
/// at most `concurrency` placements at a time, each row claimed in the catalog before its request
/// is sent. The client's rate limiter keeps the whole process within the platform's 200 requests
/// a minute. A rerun of the same campaign places only the rows no run has claimed.
public struct CampaignRunner: Sendable {
    let placer: CallPlacer
    let catalog: Catalog
    let concurrency: Int
    let logger: Logger

    public init(placer: CallPlacer, catalog: Catalog, concurrency: Int, logger: Logger) {
        self.placer = placer
        self.catalog = catalog
        self.concurrency = max(1, concurrency)
        self.logger = logger
    }

    /// Checks every row (numbers, parameters, prompt audio) without placing anything.
    public func check(_ rows: [CampaignRow]) async -> [CampaignFileError] {
        var problems: [CampaignFileError] = []
        for row in rows {
            do {
                _ = try await self.placer.request(for: row.order)
            } catch {
                problems.append(CampaignFileError(line: row.line, reason: error.description))
            }
        }
        return problems
    }

    /// Releases rows left `placing` or `failed` by earlier runs, so this run places them.
    public func release(_ rows: [CampaignRow], campaignId: String) async throws {
        for row in rows { try await self.catalog.releaseCampaignRow(campaignId: campaignId, rowKey: row.key) }
    }

    public func run(
        campaignId: String,
        rows: [CampaignRow],
        progress: @escaping @Sendable (CampaignRow, CampaignRowOutcome) -> Void = { _, _ in }
    ) async throws -> CampaignSummary {
        var summary = CampaignSummary(campaignId: campaignId)
        summary.rows = rows.count
        try await withThrowingTaskGroup(of: (CampaignRow, CampaignRowOutcome).self) { group in
            var next = rows.makeIterator()
            func addNext() {
                guard let row = next.next() else { return }
                group.addTask { (row, try await self.place(row, campaignId: campaignId)) }
            }
            for _ in 0..<self.concurrency { addNext() }
            while let (row, outcome) = try await group.next() {
                switch outcome {
                case .placed: summary.placed += 1
                case .alreadyPlaced: summary.alreadyPlaced += 1
                case .uncertain, .maybePlaced: summary.uncertain += 1
                case .failed: summary.failed += 1
                }
                progress(row, outcome)
                addNext()
            }
        }
        return summary
    }

    private func place(_ row: CampaignRow, campaignId: String) async throws -> CampaignRowOutcome {
        if let earlier = try await self.catalog.claimCampaignRow(
            campaignId: campaignId,
            rowKey: row.key,
            line: row.line
        ) {
            switch earlier.state {
            case .placed: return .alreadyPlaced(callSid: earlier.callSid)
            case .placing: return .uncertain
            case .failed: return .failed(reason: earlier.error ?? "failed in an earlier run")
            }
        }
        let placed: PlacedCall
        do {
            placed = try await self.placer.place(
                row.order,
                campaignId: campaignId,
                rowKey: row.key,
                metadata: row.metadata
            )
        } catch {
            switch error {
            case .notCatalogued(let callSid, let reason):
                // Placed: the row must never be placed again, whatever else failed.
                try await self.catalog.finishCampaignRow(
                    campaignId: campaignId,
                    rowKey: row.key,
                    state: .placed,
                    callSid: callSid,
                    error: reason
                )
                return .placed(callSid: callSid)
            case .platform(let platformError) where Self.mayHaveBeenPlaced(platformError):
                // Left `placing`: a rerun reports it as uncertain instead of ringing anyone twice.
                self.logger.warning(
                    "campaign row may have been placed",
                    metadata: ["line": "\(row.line)", "error": "\(LogText.escaped("\(platformError)", limit: 1024))"]
                )
                return .maybePlaced(reason: "\(LogText.escaped("\(platformError)", limit: 1024))")
            default:
                try await self.catalog.finishCampaignRow(
                    campaignId: campaignId,
                    rowKey: row.key,
                    state: .failed,
                    error: error.description
                )
                return .failed(reason: error.description)
            }
        }
        try await self.catalog.finishCampaignRow(
            campaignId: campaignId,
            rowKey: row.key,
            state: .placed,
            callSid: placed.callSid
        )
        return .placed(callSid: placed.callSid)
    }

    /// A request that reached the platform without a clear answer may have placed the call.
    static func mayHaveBeenPlaced(_ error: ExotelClientError) -> Bool {
        switch error {
        case .server, .transport, .malformedResponse, .cancelled: true
        default: false
        }
    }
}
