import ArgumentParser
import Catalog
import Foundation
import MediaStore
import Orchestrator

/// Exit codes of `exorec hold`, also listed in its help.
enum HoldExit {
    /// No such call (`add`), or the call has no active hold (`rm`).
    static let notFound = ExitCode(4)

    static let help = """
        EXIT CODES: 0 done; 1 failure (no catalog, the call is already held or being deleted, …); \
        4 no such CallSid (add) or no active hold on it (rm); 64 usage error (e.g. an empty --reason).
        """
}

/// `exorec hold`: legal holds, which retention never deletes (`docs/ARCHIVE.md`).
struct Hold: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold",
        abstract: "Place, release and list legal holds (held calls are never deleted by retention).",
        discussion: """
            A hold is on one call, with a reason and who placed it. Placing and releasing are written \
            to the audit log (hold.added, hold.released); a released hold stays listed with --all. A \
            stream without a call (media/_streams/, catalog search --unattached) is held by its \
            stream_sid with --stream; holds and `hold ls` name it stream:<stream_sid>.

            \(HoldExit.help)

            EXAMPLES:
              exorec hold add CA1234567890abcdef --reason "subpoena 2026-118" --by alice
              exorec hold rm CA1234567890abcdef --reason "case closed"
              exorec hold add --stream MZ0123456789abcdef --reason "fraud review 77"
              exorec hold ls --all --json
            """,
        subcommands: [HoldAdd.self, HoldRemove.self, HoldList.self]
    )
}

/// What `add` and `rm` both take: the call, `--reason`, `--by` and `--json`, checked the same way.
struct HoldChange: ParsableArguments {
    @Argument(
        help: ArgumentHelp(
            "The call's CallSid (with --stream: the stream_sid of a stream without a call).",
            valueName: "call-sid"
        )
    )
    var callSid: String

    @Flag(name: .long, help: "The argument is the stream_sid of a stream without a call (kept under media/_streams/).")
    var stream = false

    @Option(name: .long, help: ArgumentHelp("Why (kept in the catalog and the audit log).", valueName: "text"))
    var reason: String

    @Option(name: .long, help: ArgumentHelp("Who asks for it (default: $USER).", valueName: "name"))
    var by: String?

    @Flag(name: .long, help: "Print the hold as JSON.")
    var json = false

    func validate() throws {
        if self.callSid.isEmpty || self.callSid.contains(where: \.isWhitespace) {
            throw ValidationError(
                "'\(self.callSid)' is not a \(self.stream ? "stream_sid" : "CallSid") (empty or with spaces)."
            )
        }
        for (option, text) in [("--reason", self.reason), ("--by", self.by)] {
            guard let text else { continue }
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { throw ValidationError("\(option) is empty; say why (it is kept in the audit log).") }
            if trimmed.count > Catalog.maxHoldTextLength {
                throw ValidationError(
                    "\(option) has \(trimmed.count) characters; at most \(Catalog.maxHoldTextLength)."
                )
            }
        }
    }

    /// What the hold names: the CallSid, or `stream:<stream_sid>` with `--stream`.
    var key: String { self.stream ? RetentionKey.stream(self.callSid) : self.callSid }

    /// The call or stream, as messages name it.
    var subject: String { self.stream ? "stream without a call \(self.callSid)" : "call \(self.callSid)" }

    /// `--by`, or the user running the command.
    var author: String {
        if let by { return by }
        let environment = ProcessInfo.processInfo.environment
        for name in ["USER", "LOGNAME"] {
            if let user = environment[name], !user.isEmpty { return user }
        }
        return "uid-\(getuid())"
    }

    /// Runs `change` on the catalog and prints the hold it returns (`--json`, or `line`). `refusal` names the
    /// one catalog refusal that means there is nothing to change, and what to tell the user: exit 4.
    func apply(
        _ options: ConfigOptions,
        refusal: (CatalogError) -> String?,
        line: (LegalHold) -> String,
        _ change: (Catalog) async throws -> LegalHold
    ) async throws {
        let hold: LegalHold
        do {
            hold = try await options.withExistingCatalog(label: "exorec.hold", change)
        } catch let error as CatalogError {
            guard let message = refusal(error) else { throw error }
            StandardError.line(message)
            throw HoldExit.notFound
        }
        if self.json {
            try StandardOutput.json(hold)
        } else {
            StandardOutput.line(line(hold))
        }
        await self.syncArchive(options)
    }

    /// Sets or clears the legal hold on the call's objects in the archive's bucket at once, when an archive is
    /// configured. The catalog change is made either way; what the store did not take, serve's archiver
    /// retries (`exorec archive status` counts it), so a store that is down only delays it.
    func syncArchive(_ options: ConfigOptions) async {
        do {
            let report = try await withObjectArchive(options, label: "exorec.hold", actor: "cli") {
                configuration,
                client,
                catalog,
                logger in
                guard try await !catalog.archivedObjectsNeedingHoldSync(limit: 1).isEmpty else {
                    return ObjectArchiver.Report()
                }
                return await ObjectArchiver(
                    configuration: configuration,
                    catalog: catalog,
                    client: client,
                    logger: logger
                )
                .syncHolds()
            }
            if report.holdSyncFailures > 0 {
                StandardError.line(
                    "warning: the archive's legal hold is not set on \(report.holdSyncFailures) objects yet "
                        + "(serve's archiver retries): \(report.errors.first ?? "")"
                )
            }
        } catch is ValidationError {
            // No archive configured: nothing to sync.
        } catch {
            StandardError.line(
                "warning: the archive's legal hold could not be synced now (serve's archiver retries): \(error)"
            )
        }
    }
}

struct HoldAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Place a legal hold on a call.",
        discussion: """
            The call must be in the catalog: placed by exorec, or placed elsewhere (another tool \
            that pointed its stream and status callbacks at exorec; see catalog search --origin \
            elsewhere). A CallSid the catalog has never seen, a call already on hold, or one an \
            interrupted retention run is deleting, is refused. With --stream the argument is the \
            stream_sid of a stream without a call (catalog search --unattached lists them); the \
            hold keeps every file of that stream_sid under media/_streams/.

            \(HoldExit.help)

            EXAMPLES:
              exorec hold add CA1234567890abcdef --reason "subpoena 2026-118"
              exorec hold add CA1234567890abcdef --reason "customer complaint #4411" --by legal --json
              exorec hold add --stream MZ0123456789abcdef --reason "fraud review 77"
            """
    )

    @OptionGroup var options: ConfigOptions
    @OptionGroup var change: HoldChange

    func run() async throws {
        try await self.change.apply(
            self.options,
            refusal: {
                guard case .unknownCall = $0 else { return nil }
                if self.change.stream {
                    return "no stream without a call has stream_sid \(self.change.callSid); nothing was held "
                        + "(`exorec catalog search --unattached` lists them)"
                }
                return
                    "no call \(self.change.callSid) in the catalog; nothing was held (`exorec catalog search --call-sid` finds calls; "
                    + "a stream without a call is held with --stream STREAM_SID)"
            },
            line: { "held \($0.callSid) (hold \($0.id), by \($0.placedBy), \($0.placedAt)): \($0.reason)" }
        ) { try await $0.placeHold(callSid: self.change.key, reason: self.change.reason, by: self.change.author) }
    }
}

struct HoldRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Release a call's legal hold (retention may then delete the call).",
        discussion: """
            The hold stays in the catalog, released, with who released it, when and why \
            (exorec hold ls --all).

            \(HoldExit.help)

            EXAMPLES:
              exorec hold rm CA1234567890abcdef --reason "case closed"
              exorec hold rm CA1234567890abcdef --reason "released by counsel" --by legal --json
              exorec hold rm --stream MZ0123456789abcdef --reason "review closed"
            """
    )

    @OptionGroup var options: ConfigOptions
    @OptionGroup var change: HoldChange

    func run() async throws {
        try await self.change.apply(
            self.options,
            refusal: {
                guard case .notHeld = $0 else { return nil }
                return
                    "\(self.change.subject) is not on legal hold; nothing was released (`exorec hold ls` lists the active holds)"
            },
            line: {
                "released \($0.callSid) (hold \($0.id), placed for: \($0.reason)) by \($0.releasedBy ?? ""): \($0.releaseReason ?? "")"
            }
        ) { try await $0.releaseHold(callSid: self.change.key, reason: self.change.reason, by: self.change.author) }
    }
}

struct HoldList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List legal holds, oldest first (active ones; --all for released ones too).",
        discussion: """
            Columns: hold id, CallSid (stream:<stream_sid> for a stream without a call), placed (UTC), by, reason; with --all also released (UTC), by \
            and why. No holds is not an error: the table is empty (or []).

            EXIT CODES: 0 listed (even none); 1 failure; 64 usage error.

            EXAMPLES:
              exorec hold ls
              exorec hold ls --all --call-sid CA1234567890abcdef
              exorec hold ls --json | jq -r '.[].call_sid'
            """
    )

    @OptionGroup var options: ConfigOptions

    @Flag(name: .long, help: "Released holds too.")
    var all = false

    @Option(name: .customLong("call-sid"), help: ArgumentHelp("Only this call's holds.", valueName: "sid"))
    var callSid: String?

    @Flag(name: .long, help: "Print one JSON array.")
    var json = false

    func run() async throws {
        let holds = try await self.options.withExistingCatalog(label: "exorec.hold") {
            try await $0.legalHolds(includeReleased: self.all, callSid: self.callSid)
        }
        if self.json {
            try StandardOutput.json(holds)
            return
        }
        var rows = [
            ["ID", "CALL SID", "PLACED (UTC)", "BY", "REASON"]
                + (self.all ? ["RELEASED (UTC)", "RELEASED BY", "WHY"] : [])
        ]
        for hold in holds {
            var row = ["\(hold.id)", hold.callSid, "\(hold.placedAt)", hold.placedBy, hold.reason]
            if self.all {
                row += [hold.releasedAt.map { "\($0)" } ?? "-", hold.releasedBy ?? "-", hold.releaseReason ?? "-"]
            }
            rows.append(row)
        }
        for line in HoldRetentionTable.lines(rows) { StandardOutput.line(line) }
        if holds.isEmpty { StandardError.line(self.all ? "no legal holds" : "no active legal holds") }
    }
}

/// The tables of `hold ls` and `retention apply`.
enum HoldRetentionTable {
    /// Rows as columns padded to the widest cell (the last column unpadded).
    static func lines(_ rows: [[String]]) -> [String] {
        guard let columns = rows.map(\.count).max() else { return [] }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }
    }

    static func megabytes(_ bytes: Int64) -> String { String(format: "%.1f MB", Double(bytes) / 1_000_000) }
}
