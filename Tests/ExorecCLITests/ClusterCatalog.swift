import Foundation
import Testing

/// The catalog that the nodes of a process test share: the SQLite file in their storage root (nodes on one
/// machine), or a fresh schema on `make test`'s PostgreSQL server (`CatalogTestBackend.all`).
struct ClusterCatalog: Sendable {
    let backend: CatalogTestBackend
    let storage: String
    let url: String?

    /// The `catalog:` section of every node's configuration ("" for the SQLite file in the storage root).
    var yaml: String { self.url.map { "catalog:\n  url: \"\($0)\"\n" } ?? "" }

    /// What a command run beside the nodes needs to find the same catalog.
    var environment: [String: String] { self.url.map { ["EXOREC_CATALOG_URL": $0] } ?? [:] }

    /// `sql`'s rows as text, `columns` (the result's column names, or aliases) in that order.
    func rows(_ sql: String, columns: [String]) async throws -> [[String]] {
        if let url {
            return try await TestPostgres.run(url: url, [sql]).map { row in columns.map { row[$0] ?? "NULL" } }
        }
        return try await PipelineProcess.query(self.storage + "/catalog.sqlite", sql)
    }

    static func with<R>(
        _ backend: CatalogTestBackend,
        storage: String,
        _ body: (ClusterCatalog) async throws -> R
    ) async throws -> R {
        switch backend {
        case .sqlite:
            return try await body(ClusterCatalog(backend: backend, storage: storage, url: nil))
        case .postgres:
            return try await TestPostgres.withSchema { url in
                try await body(ClusterCatalog(backend: backend, storage: storage, url: url))
            }
        }
    }
}
