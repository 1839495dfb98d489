import Foundation
import SQLKit

/// The claim mechanism of the catalog's job queues (`download_queue`, `archive_queue`), written once.
///
/// A job is `queued` until it is due (`next_attempt_at`), then `running` under a lease (`lease_until`) held by
/// one claim (`claim_token`); a job whose lease ran out (its worker or node died) is claimable again. A claim is
/// one conditional UPDATE that re-checks the job's state, so two workers (threads, processes or nodes sharing
/// the catalog) never get the same job: the loser's UPDATE matches no row and it tries the next candidate.
enum LeasedJobs {
    static let queued = "queued"
    static let running = "running"

    /// Due queued jobs, and running ones whose lease ran out.
    static func claimable<Builder: SQLPredicateBuilder>(_ builder: Builder, nowMs: Int64) -> Builder {
        builder
            .where(group: { $0.where("state", .equal, Self.queued).where("next_attempt_at", .lessThanOrEqual, nowMs) })
            .orWhere(group: { $0.where("state", .equal, Self.running).where("lease_until", .lessThanOrEqual, nowMs) })
    }

    /// Claims the next due job of `table` until `leaseUntil`: `running`, one more attempt, a new claim token.
    /// - Returns: the claimed row, or nil when no job is due.
    static func claimNext(
        _ db: any SQLDatabase,
        table: String,
        nowMs: Int64,
        leaseUntil: Int64
    ) async throws -> (any SQLRow)? {
        for _ in 0..<8 {
            let candidates = try await db.select().column("id").from(table)
                .where { Self.claimable($0, nowMs: nowMs) }
                .orderBy("next_attempt_at").orderBy("id")
                .limit(16)
                .all(decodingColumn: "id", as: Int64.self)
            if candidates.isEmpty { return nil }
            for id in candidates {
                let claimed = try await db.update(table)
                    .set("state", to: Self.running)
                    .set("attempts", to: SQLBinaryExpression(SQLColumn("attempts"), .add, SQLLiteral.numeric("1")))
                    .set("lease_until", to: leaseUntil)
                    .set("claim_token", to: UUID().uuidString.lowercased())
                    .set("updated_at", to: nowMs)
                    .where("id", .equal, id)
                    .where { Self.claimable($0, nowMs: nowMs) }
                    .returning(SQLLiteral.all)
                    .first()
                if let claimed { return claimed }
            }
            // Every candidate went to another worker meanwhile: look again.
        }
        return nil
    }

    /// Applies `assignments` to job `id` if, and only if, the claim `claimToken` still holds it (running).
    /// - Returns: whether it did.
    static func updateIfHeld(
        _ db: any SQLDatabase,
        table: String,
        id: Int64,
        claimToken: String?,
        _ assignments: (SQLUpdateBuilder) -> SQLUpdateBuilder
    ) async throws -> Bool {
        try await assignments(db.update(table))
            .where("id", .equal, id)
            .where("state", .equal, Self.running)
            .where("claim_token", .equal, claimToken)
            .returning("id")
            .first() != nil
    }
}
