import Foundation
import MediaStore
import SQLKit

/// How far `catalog migrate` has got in one table.
public struct CatalogCopyProgress: Sendable, Hashable {
    public var table: String
    public var copied: Int
    public var total: Int
}

/// What `catalog migrate` copied.
public struct CatalogCopyReport: Sendable, Hashable, Codable {
    public struct TableCount: Sendable, Hashable, Codable {
        public var table: String
        public var rows: Int
    }

    /// The source and the target, as shown (no password).
    public var from: String
    public var to: String
    /// The schema version both are at.
    public var schemaVersion: Int
    /// Every table, in the order copied.
    public var tables: [TableCount]
    public var rows: Int
    /// Whether the target's rows were deleted first (`--replace`).
    public var replaced: Bool

    enum CodingKeys: String, CodingKey {
        case from, to, schemaVersion = "schema_version", tables, rows, replaced
    }
}

extension Catalog {
    /// Every table of the schema in the order they are copied (a table after those it refers to), with the
    /// columns that order its rows. `schema_migrations` is not copied: the target migrates itself.
    static let copyOrder: [(table: String, key: [String])] = [
        (Table.calls, ["call_sid"]),
        (Table.statusHistory, ["id"]),
        (Table.callbacks, ["id"]),
        (Table.streams, ["id"]),
        (Table.recordings, ["id"]),
        (Table.mediaFiles, ["id"]),
        (Table.downloads, ["id"]),
        (Table.audit, ["seq"]),
        (Table.campaignRows, ["campaign_id", "row_key"]),
        (Table.legalHolds, ["id"]),
        (Table.retentionJournal, ["id"]),
        (Table.events, ["id"]),
        (Table.archiveQueue, ["id"]),
        (Table.archivedObjects, ["path"]),
    ]

    /// The nodes' runtime state (the node registry and the reconcilers' claims): neither copied nor replaced.
    /// A copy is an archive's move or a rebuild's result; the registry belongs to the processes running
    /// against the target, which write their rows again at their next heartbeat.
    /// The console's sessions (signed-in browsers) are runtime state too: a copy signs everyone out.
    static let runtimeTables = [Table.nodes, Table.reconcileClaims, Table.consoleSessions]

    /// Tables whose rows the database refuses to change (see ``CatalogBackend/makeAppendOnly(_:on:)``).
    static let appendOnlyTables = [Table.audit]

    /// How a column's value is read and bound, from its declared type (the same in both dialects).
    enum CopiedColumn: Sendable {
        case integer, double, text, blob, boolean

        init(declaredType: String) {
            let type = declaredType.lowercased()
            if type.contains("bool") {
                self = .boolean
            } else if type.contains("int") {
                self = .integer
            } else if type.contains("double") || type.contains("real") || type.contains("float") {
                self = .double
            } else if type.contains("blob") || type.contains("bytea") {
                self = .blob
            } else {
                self = .text
            }
        }

        func value(_ row: any SQLRow, _ column: String) throws -> any Encodable & Sendable {
            switch self {
            case .integer: try row.decode(column: column, as: Int64?.self)
            case .double: try row.decode(column: column, as: Double?.self)
            case .text: try row.decode(column: column, as: String?.self)
            case .blob: try row.decode(column: column, as: Data?.self)
            case .boolean: try row.decode(column: column, as: Bool?.self)
            }
        }
    }

    /// Copies every row of this catalog into `target` (another database, SQLite or PostgreSQL), table by table
    /// in ``copyOrder``, `batchSize` rows per statement, in one transaction on the target: a copy that fails
    /// leaves the target as it was. The source is read in one snapshot. Rows are copied as they are: ids,
    /// times and the audit log's hashes, so the audit chain verifies on the target with the same head. The
    /// target's key generators are then set past the copied ids.
    ///
    /// - Throws: ``CatalogError/copyTargetNotEmpty(path:table:rows:)`` when the target has rows and `replace`
    ///   is false; ``CatalogError/copyRefused(reason:)`` when both are the same catalog or the source has a
    ///   table this version does not know.
    public func copy(
        into target: Catalog,
        batchSize: Int = 500,
        replace: Bool = false,
        progress: @escaping @Sendable (CatalogCopyProgress) -> Void = { _ in }
    ) async throws -> CatalogCopyReport {
        guard target.location != self.location else {
            throw CatalogError.copyRefused(reason: "the source and the target are the same catalog (\(self.path))")
        }
        let batch = max(1, min(batchSize, 1000))
        let source = self.backend
        let sourceDialect = self.backend.dialect
        let targetBackend = target.backend
        let targetPath = target.path
        let version = Self.supportedSchemaVersion
        return try await self.exclusive("copy catalog") { from in
            let tables = try await from.raw(sourceDialect.allTables).all().map {
                try $0.decode(column: "name", as: String.self)
            }
            let known = Set(Self.copyOrder.map(\.table) + Self.runtimeTables + [CatalogMigration.table])
            if let unknown = tables.filter({ !known.contains($0) }).sorted().first {
                throw CatalogError.copyRefused(
                    reason: "the source has a table this exorec does not know (\(unknown)); use the exorec that made it"
                )
            }
            for statement in sourceDialect.beginSnapshot {
                try await from.execute(sql: SQLRaw(statement)) { _ in }
            }
            do {
                var plan: [(table: String, key: [String], columns: [(String, CopiedColumn)], total: Int)] = []
                for (table, key) in Self.copyOrder {
                    let columns = try await from.raw(sourceDialect.columnListing(table)).all().map {
                        (
                            try $0.decode(column: "column_name", as: String.self),
                            CopiedColumn(declaredType: try $0.decode(column: "data_type", as: String.self))
                        )
                    }
                    let total = try await Self.count(from, table)
                    plan.append((table, key, columns, total))
                }
                let report = try await target.transaction("copy catalog into") { to in
                    for (table, _) in Self.copyOrder {
                        let rows = try await Self.count(to, table)
                        guard rows == 0 || replace else {
                            throw CatalogError.copyTargetNotEmpty(path: targetPath, table: table, rows: rows)
                        }
                    }
                    if replace {
                        for table in Self.appendOnlyTables {
                            for statement in targetBackend.dialect.suspendAppendOnly(table) {
                                try await to.execute(sql: SQLRaw(statement)) { _ in }
                            }
                        }
                        for (table, _) in Self.copyOrder.reversed() {
                            try await to.delete(from: table).run()
                        }
                        for table in Self.appendOnlyTables {
                            for statement in targetBackend.dialect.resumeAppendOnly(table) {
                                try await to.execute(sql: SQLRaw(statement)) { _ in }
                            }
                        }
                    }
                    var counts: [CatalogCopyReport.TableCount] = []
                    for step in plan {
                        var copied = 0
                        progress(CatalogCopyProgress(table: step.table, copied: 0, total: step.total))
                        while true {
                            var select = from.select().columns(step.columns.map { SQLColumn($0.0) }).from(step.table)
                            for column in step.key { select = select.orderBy(column) }
                            let rows = try await select.limit(batch).offset(copied).all()
                            if rows.isEmpty { break }
                            let insert = to.insert(into: step.table).columns(step.columns.map(\.0))
                            for row in rows {
                                insert.values(try step.columns.map { try $0.1.value(row, $0.0) })
                            }
                            try await insert.run()
                            copied += rows.count
                            progress(CatalogCopyProgress(table: step.table, copied: copied, total: step.total))
                            if rows.count < batch { break }
                        }
                        if step.key == ["id"], let reset = targetBackend.dialect.resetSequence(step.table, "id") {
                            try await to.execute(sql: SQLRaw(reset)) { _ in }
                        }
                        counts.append(.init(table: step.table, rows: copied))
                    }
                    return CatalogCopyReport(
                        from: source.location.displayName,
                        to: targetPath,
                        schemaVersion: version,
                        tables: counts,
                        rows: counts.reduce(0) { $0 + $1.rows },
                        replaced: replace
                    )
                }
                try await from.execute(sql: SQLRaw("COMMIT")) { _ in }
                return report
            } catch {
                try? await from.execute(sql: SQLRaw("ROLLBACK")) { _ in }
                throw error
            }
        }
    }

    private static func count(_ db: any SQLDatabase, _ table: String) async throws -> Int {
        let row = try await db.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from(table).first()
        return try row.map { try $0.decode(column: "n", as: Int.self) } ?? 0
    }
}
