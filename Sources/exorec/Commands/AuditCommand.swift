import ArgumentParser
import Catalog
import Foundation
import Orchestrator

/// `exorec audit`: the hash-chained audit log (`docs/ARCHIVE.md`, `docs/CATALOG.md`).
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check and read the audit log.",
        subcommands: [AuditVerify.self, AuditLog.self]
    )
}

struct AuditVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the audit log's hash chain; print its head to keep as an anchor.",
        discussion: """
            Every entry's hash, every link to the entry before and the sequence numbers are checked: an \
            edited or removed entry is found. Removing the newest entries, or rewriting an entry and \
            every hash after it, leaves a consistent chain; only an anchor noted earlier (the head this \
            command prints, SEQ:HASH) reveals that. Keep the head somewhere else and pass it next time.

            EXIT CODES: 0 intact; 3 problems found (listed); 1 failed; 64 usage error.

            EXAMPLES:
              exorec audit verify --config exorec.yaml
              exorec audit verify --anchor 1234:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
            """
    )

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: ArgumentHelp("A head printed by an earlier run, SEQ:HASH.", valueName: "seq:hash"))
    var anchor: String?

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        if let anchor, AuditAnchor(text: anchor) == nil {
            throw ValidationError("--anchor must be SEQ:HASH (a positive number, a colon, 64 hex digits).")
        }
    }

    func run() async throws {
        let setup = try self.options.setup()
        let logger = self.options.logger(label: "exorec.audit", file: setup.file)
        let anchor = self.anchor.flatMap(AuditAnchor.init(text:))
        let report = try await setup.withExistingCatalog(logger: logger) {
            try await $0.verifyAuditChain(anchor: anchor)
        }
        if self.json {
            try StandardOutput.json(report)
        } else {
            for line in AuditChainText.lines(report) { StandardOutput.line(line) }
        }
        if !report.isIntact { throw ExitCode(3) }
    }
}

struct AuditLog: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List audit entries, oldest first.",
        discussion: """
            EXAMPLES:
              exorec audit ls --limit 20
              exorec audit ls --call-sid 1a2b3c --json
            """
    )

    @OptionGroup var options: ConfigOptions

    @Option(name: .customLong("call-sid"), help: ArgumentHelp("Only entries about this call.", valueName: "sid"))
    var callSid: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Only entries about this file (relative to the storage root).", valueName: "path")
    )
    var path: String?

    @Option(name: .long, help: ArgumentHelp("Entries after this sequence number.", valueName: "seq"))
    var after: Int64 = 0

    @Option(name: .long, help: ArgumentHelp("At most this many entries.", valueName: "n"))
    var limit: Int = 100

    @Flag(name: .long, help: "Print the entries as JSON (one array).")
    var json = false

    func validate() throws {
        if self.limit < 1 { throw ValidationError("--limit must be at least 1.") }
    }

    func run() async throws {
        let setup = try self.options.setup()
        let logger = self.options.logger(label: "exorec.audit", file: setup.file)
        let entries = try await setup.withExistingCatalog(logger: logger) {
            try await $0.auditEntries(after: self.after, callSid: self.callSid, path: self.path, limit: self.limit)
        }
        if self.json {
            try StandardOutput.json(entries)
        } else {
            for entry in entries { StandardOutput.line(AuditChainText.line(entry)) }
        }
    }
}
