import ArgumentParser
import Catalog
import Foundation
import Logging
import MediaStore
import Synchronization

/// `exorec catalog migrate`: copies a catalog into another database (SQLite → PostgreSQL, or back).
struct CatalogMigrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Copy a catalog into another database (an SQLite file into PostgreSQL, or back).",
        discussion: """
            Copies every table of the catalog at --from into the one at --to, in dependency order, \
            --batch-size rows per statement, all in one transaction on the target: a copy that fails \
            leaves the target as it was. Each side is an SQLite file or a postgres://USER:PASSWORD@HOST:PORT/DB \
            URL. Both are migrated to this version's schema first (the target is created if it is an \
            absent file). Rows keep their ids, times and audit hashes: `exorec audit verify` on the target \
            passes with the same head, which this command checks before it reports. The target's id \
            sequences are set past the copied ids. Stop `exorec serve` first: rows written to the source \
            during the copy are not copied (the source is read in one snapshot).

            --from defaults to the configured catalog (--config/--storage; catalog.url or \
            EXOREC_CATALOG_URL when set). A target that already has rows is refused unless --replace, \
            which deletes them (in the same transaction). Progress goes to stderr (-q: none); --json \
            prints the summary as JSON. Passwords are never printed.

            EXIT CODES: 0 copied and the audit chains match; 1 error (a catalog cannot be opened, the \
            target is not empty, a copy or the audit check failed; nothing was copied); 64 usage.

            EXAMPLES:
              exorec catalog migrate --from storage/catalog.sqlite --to postgres://exorec:secret@db1:5432/exorec
              EXOREC_PG=postgres://exorec:secret@127.0.0.1:5432/exorec
              exorec catalog migrate --storage /srv/exorec --to "$EXOREC_PG" --json -q
              exorec catalog migrate --from "$EXOREC_PG" --to /backup/catalog.sqlite --replace
            """
    )

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: ArgumentHelp("The catalog to copy: a file or a postgres:// URL.", valueName: "catalog"))
    var from: String?

    @Option(name: .long, help: ArgumentHelp("Where to copy it: a file or a postgres:// URL.", valueName: "catalog"))
    var to: String

    @Option(name: .long, help: ArgumentHelp("Rows per INSERT (1-1000).", valueName: "n"))
    var batchSize = 500

    @Flag(name: .long, help: "Delete the target's rows first instead of refusing a non-empty target.")
    var replace = false

    @Flag(name: .long, help: "Print the summary as JSON.")
    var json = false

    @Flag(name: [.short, .customLong("quiet")], help: "No progress on stderr.")
    var quiet = false

    func validate() throws {
        guard (1...1000).contains(self.batchSize) else { throw ValidationError("--batch-size must be 1-1000.") }
        guard !self.to.isEmpty else { throw ValidationError("--to must name a file or a postgres:// URL.") }
    }

    struct Summary: Encodable {
        var copy: CatalogCopyReport
        var auditEntries: Int
        var auditHead: String?
        var seconds: Double

        enum CodingKeys: String, CodingKey {
            case copy, auditEntries = "audit_entries", auditHead = "audit_head", seconds
        }
    }

    func run() async throws {
        let setup = try self.options.setup()
        let logger = self.options.logger(label: "exorec.catalog", file: setup.file)
        let from = self.from ?? setup.catalogPath
        guard CatalogLocation.isPostgresURL(from) || FileSystem.exists(from) else {
            throw NoCatalog(path: from)
        }
        let started = ContinuousClock.now
        let quiet = self.quiet
        let lastShown = Mutex(ContinuousClock.now - .seconds(10))
        let source = try await Catalog.open(path: from, logger: logger)
        do {
            try await source.migrate()
            let summary = try await Catalog.withCatalog(path: self.to, logger: logger) { target in
                let report = try await source.copy(into: target, batchSize: self.batchSize, replace: self.replace) {
                    step in
                    guard !quiet else { return }
                    let now = ContinuousClock.now
                    let due = lastShown.withLock { last in
                        guard step.copied == step.total || now - last >= .seconds(1) else { return false }
                        last = now
                        return true
                    }
                    if due { StandardError.line("\(step.table): \(step.copied)/\(step.total)") }
                }
                let before = try await source.verifyAuditChain()
                let after = try await target.verifyAuditChain()
                guard after.entries == before.entries, after.head == before.head, after.isIntact == before.isIntact
                else {
                    throw CatalogError.copyRefused(
                        reason: "the copied audit log does not verify like the source's "
                            + "(source \(before.entries) entries, head \(before.head?.hash ?? "none"); "
                            + "target \(after.entries) entries, head \(after.head?.hash ?? "none"))"
                    )
                }
                return Summary(
                    copy: report,
                    auditEntries: after.entries,
                    auditHead: after.head?.hash,
                    seconds: (ContinuousClock.now - started) / .seconds(1)
                )
            }
            try await source.close()
            if self.json {
                try StandardOutput.json(summary)
            } else {
                StandardOutput.line(
                    "copied \(summary.copy.from) to \(summary.copy.to): \(summary.copy.rows) rows in "
                        + "\(summary.copy.tables.count) tables, audit log \(summary.auditEntries) entries, head "
                        + "\(summary.auditHead ?? "none") (same as the source), "
                        + String(format: "%.1f s", summary.seconds)
                )
            }
        } catch {
            try? await source.close()
            throw error
        }
    }
}
