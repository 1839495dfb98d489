import ExotelKit
import Glibc
import Logging
import MediaStore
import SQLKit

/// Recreates the catalog from what is on disk: `call.json`, `stream-*.json` and `recording.json` under
/// `storage/media`, and the media files beside them.
///
/// The new catalog is built in a separate file and renamed over the old one only when it is complete, so an
/// interrupted rebuild leaves the old catalog as it was. What the files cannot give is handled so:
/// - the audit log is carried over verbatim from the old catalog (then one `catalog.rebuilt` entry is
///   appended); if the old catalog cannot be read, the rebuild goes on with a new log and says so in the
///   report — the old file is kept as the backup either way;
/// - campaign rows (which rows of a campaign were claimed, placed or failed) are carried over the same way,
///   and a `placed` row is restored for every call whose `call.json` names a campaign row the old catalog
///   did not have (line 0: the line is not in the files), so a rerun of the campaign never places it again;
/// - the download queue starts afresh: a download is queued for every call whose `call.json` names a
///   recording URL but that has no recording file.
///
/// Sidecar checksums are trusted (hashing every file is slow); file sizes are compared with the sidecars,
/// and ``Options/verifyHashes`` re-hashes when asked. Every discrepancy is a ``Problem`` in the report; none
/// stops the rebuild.
///
/// Run it while no server writes to the storage root (``Options/takeStorageLock``).
public struct CatalogRebuilder: Sendable {
    public struct Options: Sendable {
        /// Recompute each finished file's SHA-256 and compare it with its sidecar.
        public var verifyHashes: Bool
        /// Hold the storage root's lock (``StorageLock``) during the rebuild, so it fails fast if a server runs.
        public var takeStorageLock: Bool
        /// Keep the previous catalog as `<catalog>.before-rebuild-<time>` (a hard link: no copy is made).
        public var keepBackup: Bool
        /// The `actor` of the audit entry the rebuild appends.
        public var actor: String

        public init(
            verifyHashes: Bool = false,
            takeStorageLock: Bool = true,
            keepBackup: Bool = true,
            actor: String = "catalog-rebuild"
        ) {
            self.verifyHashes = verifyHashes
            self.takeStorageLock = takeStorageLock
            self.keepBackup = keepBackup
            self.actor = actor
        }
    }

    /// Something on disk that does not add up. The rebuild indexes what it can and reports the rest.
    public struct Problem: Sendable, Hashable, Codable, CustomStringConvertible {
        public enum Kind: String, Sendable, Hashable, Codable {
            case unreadableSidecar = "unreadable-sidecar"
            case unrecognisedSidecar = "unrecognised-sidecar"
            case duplicateCall = "duplicate-call"
            case unreadableCallback = "unreadable-callback"
            case ignoredHistory = "ignored-history"
            case missingFile = "missing-file"
            case sizeMismatch = "size-mismatch"
            case hashMismatch = "hash-mismatch"
            case orphanFile = "orphan-file"
            /// The old catalog could not be read: its audit log and campaign rows are not in the new one.
            case auditNotCarried = "audit-not-carried"
        }

        public var kind: Kind
        /// The file concerned, relative to the storage root.
        public var path: String
        public var detail: String

        public var description: String { "\(self.kind.rawValue): \(self.path): \(self.detail)" }
    }

    public struct Report: Sendable, Hashable, Codable {
        public var catalogPath: String
        /// The previous catalog, kept (nil when there was none or ``Options/keepBackup`` is off).
        public var backupPath: String?
        public var calls = 0
        /// Of ``calls``, those placed elsewhere (older `_unknown` call.json files become such calls too).
        public var elsewhereCalls = 0
        /// call.json files that make no call (a CallSid that cannot name a folder, or an older `_unknown` copy of
        /// a call's early callbacks whose call.json is elsewhere): their callbacks are kept, flagged.
        public var unknownCalls = 0
        public var statusChanges = 0
        public var callbacks = 0
        public var duplicateDeliveries = 0
        public var streams = 0
        public var recordings = 0
        public var mediaFiles = 0
        public var missingFiles = 0
        public var requeuedDownloads = 0
        public var auditEntriesCarried = 0
        public var auditCarriedOver = false
        public var campaignRowsCarried = 0
        /// `placed` campaign rows recreated from `call.json` (the old catalog did not have them).
        public var campaignRowsRestored = 0
        /// Legal holds (active and released) copied from the old catalog.
        public var legalHoldsCarried = 0
        /// Retention journal entries copied from the old catalog.
        public var retentionJournalCarried = 0
        public var problems: [Problem] = []

        enum CodingKeys: String, CodingKey {
            case calls, callbacks, streams, recordings, problems
            case catalogPath = "catalog_path", backupPath = "backup_path", unknownCalls = "unknown_calls",
                elsewhereCalls = "elsewhere_calls"
            case statusChanges = "status_changes", duplicateDeliveries = "duplicate_deliveries"
            case mediaFiles = "media_files", missingFiles = "missing_files", requeuedDownloads = "requeued_downloads"
            case auditEntriesCarried = "audit_entries_carried", auditCarriedOver = "audit_carried_over"
            case campaignRowsCarried = "campaign_rows_carried", campaignRowsRestored = "campaign_rows_restored"
            case legalHoldsCarried = "legal_holds_carried", retentionJournalCarried = "retention_journal_carried"
        }
    }

    /// Where a rebuild can be stopped by a test (``interruption``).
    enum Stage: Sendable { case built, beforeSwap }

    public let layout: StorageLayout
    public let catalogPath: String
    public let logger: Logger
    /// Called at each ``Stage``; a throw aborts the rebuild there, as a crash would (tests only).
    var interruption: (@Sendable (Stage) throws -> Void)?

    /// - Parameter catalogPath: the catalog to replace; `<root>/catalog.sqlite` by default.
    public init(layout: StorageLayout, catalogPath: String? = nil, logger: Logger) {
        self.layout = layout
        self.catalogPath = catalogPath ?? "\(layout.root)/catalog.sqlite"
        self.logger = logger
    }

    /// Whether the catalog is a PostgreSQL database (a `postgres://` URL) rather than a file.
    var isPostgres: Bool { CatalogLocation.isPostgresURL(self.catalogPath) }

    /// The catalog as messages show it (a URL without its password).
    var shownPath: String { CatalogLocation(self.catalogPath).displayName }

    /// The file the new catalog is built in before it replaces the old one (beside the media for a
    /// PostgreSQL catalog, whose rows it then replaces in one transaction).
    public var temporaryPath: String {
        self.isPostgres ? "\(self.layout.root)/catalog.rebuild.sqlite" : "\(self.catalogPath).rebuild"
    }

    /// Rebuilds the catalog. Returns what it found; throws ``CatalogError/rebuildFailed(reason:)`` (the old
    /// catalog untouched) when it cannot complete.
    public func rebuild(options: Options = Options(), at time: Timestamp = .now()) async throws -> Report {
        let lock: StorageLock?
        do {
            lock = options.takeStorageLock ? try StorageLock(layout: self.layout) : nil
        } catch {
            throw CatalogError.rebuildFailed(reason: error.description)
        }
        defer { withExtendedLifetime(lock) {} }

        Self.removeDatabase(at: self.temporaryPath)
        var report = Report(catalogPath: self.shownPath)
        let catalog: Catalog
        do {
            catalog = try await Catalog.open(path: self.temporaryPath, logger: self.logger)
        } catch {
            throw CatalogError.rebuildFailed(reason: "\(error)")
        }
        do {
            try await catalog.migrate(at: time)
            try await self.carryOver(into: catalog, report: &report)
            try await self.indexSidecars(into: catalog, options: options, report: &report)
            try await self.restoreCampaignRows(in: catalog, at: time, report: &report)
            try await self.requeueDownloads(in: catalog, at: time, report: &report)
            try self.interruption?(.built)
            let exists = self.isPostgres || FileSystem.exists(self.catalogPath)
            let backup = options.keepBackup && exists ? self.backupPath(at: time) : nil
            report.backupPath = backup
            try await catalog.appendAudit(
                AuditEvent(at: time, actor: options.actor, action: "catalog.rebuilt", detail: Self.auditDetail(report))
            )
            if self.isPostgres {
                try self.interruption?(.beforeSwap)
                try await self.replaceRows(from: catalog, backup: backup)
                try await catalog.close()
                Self.removeDatabase(at: self.temporaryPath)
            } else {
                try await catalog.close()
                try self.interruption?(.beforeSwap)
                try self.swap(backup: backup)
            }
        } catch {
            try? await catalog.close()
            Self.removeDatabase(at: self.temporaryPath)
            if case CatalogError.rebuildFailed = error { throw error }
            throw CatalogError.rebuildFailed(reason: "\(error)")
        }
        self.logger.info(
            "catalog rebuilt",
            metadata: [
                "catalog.path": "\(self.shownPath)", "catalog.calls": "\(report.calls)",
                "catalog.media_files": "\(report.mediaFiles)", "catalog.problems": "\(report.problems.count)",
            ]
        )
        return report
    }

    // MARK: - Steps

    /// Copies what the files cannot give — the audit log and the campaign rows — from the old catalog.
    private func carryOver(into catalog: Catalog, report: inout Report) async throws {
        guard self.isPostgres || FileSystem.exists(self.catalogPath) else { return }
        let entries: [AuditEntry]
        let campaignRows: [CampaignRowRecord]
        let holds: [LegalHold]
        let journal: [RetentionJournalEntry]
        let feed: [FeedEvent]
        let archived: [ArchivedObject]
        do {
            let old = try await Catalog.open(path: self.catalogPath, logger: self.logger)
            do {
                entries = try await old.auditLogForCarryOver()
                campaignRows = try await old.campaignRowsForCarryOver()
                holds = try await old.legalHoldsForCarryOver()
                journal = try await old.retentionJournalForCarryOver()
                // With their ids: a consumer's "after this id" stays valid across a rebuild.
                feed = try await old.eventsForCarryOver()
                // What the bucket holds is not in the files: the object archive's record is carried over.
                archived = try await old.archivedObjectsForCarryOver()
                try await old.close()
            } catch {
                try? await old.close()
                throw error
            }
        } catch let error as CatalogError {
            if case .schemaTooNew = error {
                // Its audit log cannot be read by this code, and must not be lost.
                throw CatalogError.rebuildFailed(
                    reason: "\(error.description); its audit log could not be carried over"
                )
            }
            report.problems.append(
                Problem(
                    kind: .auditNotCarried,
                    path: self.isPostgres ? self.shownPath : self.layout.relative(self.catalogPath),
                    detail: error.description
                )
            )
            return
        } catch {
            report.problems.append(
                Problem(
                    kind: .auditNotCarried,
                    path: self.isPostgres ? self.shownPath : self.layout.relative(self.catalogPath),
                    detail: "\(error)"
                )
            )
            return
        }
        try await catalog.transaction("carry over audit log") { db in
            for entry in entries { try await Catalog.insertAudit(db, entry) }
            for row in campaignRows { try await Catalog.insertCampaignRow(db, row) }
            // Holds and the retention journal are not in the files either: a hold must survive a rebuild, and
            // a deletion a killed retention run left pending is finished by the next run.
            for hold in holds { try await Catalog.insertLegalHold(db, hold) }
            for entry in journal { try await Catalog.insertRetentionJournalEntry(db, entry) }
            for event in feed { try await Catalog.insertEvent(db, event) }
            for object in archived { try await Catalog.insertArchivedObject(db, object) }
        }
        report.auditEntriesCarried = entries.count
        report.legalHoldsCarried = holds.count
        report.retentionJournalCarried = journal.count
        report.auditCarriedOver = true
        report.campaignRowsCarried = campaignRows.count
    }

    /// A `placed` row for every campaign call in the catalog that has none.
    private func restoreCampaignRows(in catalog: Catalog, at time: Timestamp, report: inout Report) async throws {
        report.campaignRowsRestored = try await catalog.transaction("restore campaign rows") { db in
            let calls = try await db.select().columns("call_sid", "campaign_id", "campaign_row_key").from(Table.calls)
                .where("campaign_id", .isNot, SQLLiteral.null).where("campaign_row_key", .isNot, SQLLiteral.null)
                .orderBy("campaign_id").orderBy("campaign_row_key").all()
            var restored = 0
            for call in calls {
                let row = CampaignRowRecord(
                    campaignId: try call.value("campaign_id"),
                    rowKey: try call.value("campaign_row_key"),
                    line: 0,
                    state: .placed,
                    callSid: try call.value("call_sid"),
                    error: nil,
                    createdAt: time,
                    updatedAt: time
                )
                if try await Catalog.insertCampaignRow(db, row) { restored += 1 }
            }
            return restored
        }
    }

    private func indexSidecars(into catalog: Catalog, options: Options, report: inout Report) async throws {
        let files = FileSystem.files(under: self.layout.mediaRoot, withSuffix: "")
        var referenced = Set<String>()
        var callSidecars: [String] = []
        var streamSidecars: [String] = []
        var recordingSidecars: [String] = []
        for path in files where path.hasSuffix(".json") {
            let name = Self.fileName(path)
            if name == CallSidecar.fileName {
                callSidecars.append(path)
            } else if Self.isRecordingSidecar(name) {
                recordingSidecars.append(path)
            } else if name.hasPrefix("stream-") {
                streamSidecars.append(path)
            } else {
                report.problems.append(
                    Problem(
                        kind: .unrecognisedSidecar,
                        path: self.layout.relative(path),
                        detail: "not a call, stream or recording sidecar"
                    )
                )
            }
            referenced.insert(path)
        }

        // Calls first, so that streams, recordings and requeued downloads find them.
        // exorec's placements before calls placed elsewhere: a copy of a call's callbacks left under
        // `_unknown` never takes the place of its placement.
        var placed: [(String, CallSidecar)] = []
        var others: [(String, CallSidecar)] = []
        for path in callSidecars {
            let sidecar: CallSidecar
            do {
                sidecar = try CallSidecar.load(from: path)
            } catch {
                report.problems.append(
                    Problem(kind: .unreadableSidecar, path: self.layout.relative(path), detail: error.description)
                )
                continue
            }
            if sidecar.placedAt != nil {
                placed.append((path, sidecar))
            } else {
                others.append((path, sidecar))
            }
        }
        for (path, sidecar) in placed + others {
            try await self.index(sidecar, at: path, into: catalog, report: &report)
        }
        for path in streamSidecars {
            let sidecar: StreamSidecar
            do {
                sidecar = try StreamSidecar.load(from: path)
            } catch {
                report.problems.append(
                    Problem(kind: .unreadableSidecar, path: self.layout.relative(path), detail: error.description)
                )
                continue
            }
            let media = Self.mediaPath(besides: path, file: sidecar.file, defaultExtension: ".wav")
            referenced.insert(media)
            try await catalog.upsertStream(from: sidecar, path: self.layout.relative(media), announce: false)
            report.streams += 1
            try await self.checkFile(
                media,
                kind: .stream,
                bytes: sidecar.bytes,
                sha256: sidecar.sha256,
                options: options,
                catalog: catalog,
                report: &report
            )
        }
        for path in recordingSidecars {
            let sidecar: RecordingSidecar
            do {
                sidecar = try RecordingSidecar.load(from: path)
            } catch {
                report.problems.append(
                    Problem(kind: .unreadableSidecar, path: self.layout.relative(path), detail: error.description)
                )
                continue
            }
            let media = Self.mediaPath(besides: path, file: sidecar.file, defaultExtension: ".mp3")
            referenced.insert(media)
            try await catalog.upsertRecording(from: sidecar, path: self.layout.relative(media), announce: false)
            report.recordings += 1
            try await self.checkFile(
                media,
                kind: .recording,
                bytes: sidecar.bytes,
                sha256: sidecar.sha256,
                options: options,
                catalog: catalog,
                report: &report
            )
        }
        for path in files where !referenced.contains(path) {
            let detail =
                Self.fileName(path).hasPrefix(".recording-") && path.hasSuffix(".part")
                ? "a download that was interrupted (the fetcher removes it when it takes the job again); it is not indexed"
                : "no sidecar names this file (an interrupted download or write); it is not indexed"
            report.problems.append(Problem(kind: .orphanFile, path: self.layout.relative(path), detail: detail))
        }
    }

    private struct CallIndexResult: Sendable {
        var calls = 0, elsewhere = 0, unknown = 0, statuses = 0, callbacks = 0, duplicates = 0
        var problems: [Problem] = []
    }

    private func index(
        _ sidecar: CallSidecar,
        at path: String,
        into catalog: Catalog,
        report: inout Report
    ) async throws {
        let relativePath = self.layout.relative(path)
        let result = try await catalog.transaction("rebuild call") { db -> CallIndexResult in
            var result = CallIndexResult()
            var replayCallbacks = false
            if let placedAt = sidecar.placedAt {
                let platformCall = sidecar.decodedPlatformCall
                let platformJSON =
                    platformCall.map { String(decoding: $0.jsonBody(), as: UTF8.self) }
                    ?? sidecar.platformCall.map(CatalogJSON.encode) ?? "null"
                let inserted = try await Catalog.insertCall(
                    db,
                    callSid: sidecar.callSid,
                    accountSid: sidecar.accountSid,
                    placedAt: placedAt,
                    parameters: sidecar.request ?? [:],
                    campaignId: sidecar.campaignId,
                    campaignRowKey: sidecar.campaignRowKey,
                    metadata: sidecar.metadata ?? [:],
                    status: platformCall?.status ?? sidecar.statusHistory.first?.status ?? "unknown",
                    platformCallJSON: platformJSON
                )
                if inserted {
                    result.calls = 1
                    // A call first seen as placed elsewhere keeps the folder it had then (its call.json's).
                    if let folder = Self.parentFolder(of: relativePath),
                        folder
                            != Catalog.placedFolder(
                                accountSid: sidecar.accountSid,
                                callSid: sidecar.callSid,
                                placedAt: placedAt
                            )
                    {
                        try await db.update(Table.calls).set("folder", to: folder).where(
                            "call_sid",
                            .equal,
                            sidecar.callSid
                        ).run()
                    }
                    for change in sidecar.statusHistory {
                        try await Catalog.applyStatus(db, callSid: sidecar.callSid, change, announce: false)
                    }
                    result.statuses = sidecar.statusHistory.count
                } else {
                    result.problems.append(
                        Problem(
                            kind: .duplicateCall,
                            path: relativePath,
                            detail:
                                "call \(sidecar.callSid) has another call.json; this one's placement and statuses are ignored"
                        )
                    )
                }
            } else if let callSid = try? PathSafeIdentifier(sidecar.callSid, field: "CallSid"),
                let firstSeenAt = sidecar.firstSeenAt ?? sidecar.callbacks.map(\.receivedAt).min(),
                try await !Catalog.callExists(db, callSid: callSid.value)
            {
                // A call placed elsewhere, in the folder its call.json is in. A call.json of an older version
                // (under `_unknown`, no `origin`) becomes one too: its statuses are its callbacks'.
                let platformJSON =
                    sidecar.decodedPlatformCall.map { String(decoding: $0.jsonBody(), as: UTF8.self) }
                    ?? sidecar.platformCall.map(CatalogJSON.encode) ?? "{}"
                let inserted = try await Catalog.insertElsewhereCall(
                    db,
                    callSid: callSid.value,
                    accountSid: sidecar.accountSid == CallSidecar.unknownAccount ? "" : sidecar.accountSid,
                    firstSeenAt: firstSeenAt,
                    folder: Self.parentFolder(of: relativePath),
                    platformCallJSON: platformJSON,
                    numbers: Catalog.ReportedNumbers(
                        from: sidecar.from,
                        to: sidecar.to,
                        customField: sidecar.customField
                    )
                )
                if inserted {
                    result.calls = 1
                    result.elsewhere = 1
                    if sidecar.origin == CallSidecar.originElsewhere {
                        for change in sidecar.statusHistory {
                            try await Catalog.applyStatus(db, callSid: callSid.value, change, announce: false)
                        }
                        result.statuses = sidecar.statusHistory.count
                    } else {
                        replayCallbacks = true
                    }
                } else {
                    result.problems.append(
                        Problem(
                            kind: .duplicateCall,
                            path: relativePath,
                            detail: "call \(sidecar.callSid) has another call.json; this one's statuses are ignored"
                        )
                    )
                }
            } else {
                result.unknown = 1
                if !sidecar.statusHistory.isEmpty {
                    result.problems.append(
                        Problem(
                            kind: .ignoredHistory,
                            path: relativePath,
                            detail:
                                "\(sidecar.statusHistory.count) statuses for a call exorec did not place are ignored"
                        )
                    )
                }
            }
            for (index, entry) in sidecar.callbacks.enumerated() {
                let callback: StatusCallback
                do throws(StatusCallbackError) {
                    callback = try StatusCallback.parse(body: entry.body, contentType: entry.contentType)
                } catch {
                    result.problems.append(
                        Problem(
                            kind: .unreadableCallback,
                            path: relativePath,
                            detail: "callbacks[\(index)]: \(error.message)"
                        )
                    )
                    continue
                }
                let deliveries = max(1, entry.deliveries)
                let recorded = try await Catalog.insertCallback(
                    db,
                    callback: callback,
                    received: ReceivedCallback(
                        receivedAt: entry.receivedAt,
                        contentType: entry.contentType,
                        body: entry.body,
                        sourceAddress: entry.sourceAddress
                    ),
                    deliveries: deliveries,
                    lastReceivedAt: entry.lastReceivedAt ?? entry.receivedAt,
                    unknownCall: entry.unknownCall
                )
                if recorded.isNew { result.callbacks += 1 }
                result.duplicates += recorded.isNew ? deliveries - 1 : deliveries
                if replayCallbacks, recorded.isNew {
                    // As the migration of an older catalog reads them: numbers and account too.
                    try await Catalog.noteCallSeen(
                        db,
                        callSid: sidecar.callSid,
                        accountSid: callback.accountSid,
                        at: entry.receivedAt,
                        streamFolder: nil,
                        numbers: Catalog.ReportedNumbers(callback)
                    )
                    try await Catalog.applyStatus(
                        db,
                        callSid: sidecar.callSid,
                        StatusChange(callback: callback, at: entry.receivedAt),
                        announce: false
                    )
                    result.statuses += 1
                }
            }
            return result
        }
        report.calls += result.calls
        report.unknownCalls += result.unknown
        report.elsewhereCalls += result.elsewhere
        report.statusChanges += result.statuses
        report.callbacks += result.callbacks
        report.duplicateDeliveries += result.duplicates
        report.problems += result.problems
    }

    private static func parentFolder(of path: String) -> String? {
        guard let slash = path.lastIndex(of: "/") else { return nil }
        return String(path[..<slash])
    }

    /// Compares a media file on disk with what its sidecar says; a missing file is indexed as `missing`.
    private func checkFile(
        _ path: String,
        kind: MediaKind,
        bytes: Int64?,
        sha256: String?,
        options: Options,
        catalog: Catalog,
        report: inout Report
    ) async throws {
        report.mediaFiles += 1
        let relativePath = self.layout.relative(path)
        let hashing: MediaFileCheck.Hashing = options.verifyHashes ? .always : .never
        let checked = MediaFileCheck.check(path, bytes: bytes, sha256: sha256, hashing: hashing)
        if checked.isMissing {
            report.missingFiles += 1
            report.problems.append(
                Problem(kind: .missingFile, path: relativePath, detail: "the sidecar names it but it is not on disk")
            )
            if var file = try await catalog.mediaFile(path: relativePath) {
                file.state = .missing
                try await catalog.upsertMediaFile(file)
            }
            return
        }
        for finding in checked.findings {
            switch finding {
            case .missing:
                break
            case .sizeDiffers(let actual, let expected):
                report.problems.append(
                    Problem(
                        kind: .sizeMismatch,
                        path: relativePath,
                        detail: "the sidecar says \(expected) bytes, the file has \(actual)"
                    )
                )
            case .sha256Differs(let actual, let expected):
                report.problems.append(
                    Problem(
                        kind: .hashMismatch,
                        path: relativePath,
                        detail: "the sidecar says sha256 \(expected), the file hashes to \(actual)"
                    )
                )
            case .unreadable(.size, let error):
                report.problems.append(
                    Problem(
                        kind: .sizeMismatch,
                        path: relativePath,
                        detail: "cannot read its size: \(error.description)"
                    )
                )
            case .unreadable(.sha256, let error):
                report.problems.append(
                    Problem(kind: .hashMismatch, path: relativePath, detail: "cannot hash: \(error.description)")
                )
            }
        }
    }

    /// Queues a download for every call with a recording URL and no recording file.
    private func requeueDownloads(in catalog: Catalog, at time: Timestamp, report: inout Report) async throws {
        report.requeuedDownloads = try await catalog.transaction("requeue downloads") { db in
            var queued = 0
            for call in try await Catalog.callsWithUnqueuedRecordings(db, limit: Int.max) {
                guard let url = call.recordingURL else { continue }
                let result = try await Catalog.enqueueDownload(
                    db,
                    callSid: call.callSid,
                    url: url,
                    notBefore: time,
                    at: time
                )
                if result.isNew { queued += 1 }
            }
            return queued
        }
    }

    /// PostgreSQL: copies the database's current rows to the backup file (when asked), then replaces them with
    /// the rebuilt catalog's in one transaction, so a reader sees either the old rows or the new ones.
    private func replaceRows(from rebuilt: Catalog, backup: String?) async throws {
        try await Catalog.withCatalog(path: self.catalogPath, logger: self.logger) { current in
            if let backup {
                try await Catalog.withCatalog(path: backup, logger: self.logger) { copy in
                    _ = try await current.copy(into: copy)
                }
            }
            _ = try await rebuilt.copy(into: current, replace: true)
        }
    }

    /// Links the old catalog to the backup name, moves a leftover WAL beside it, and renames the new file over
    /// the old one: a single rename, so a reader opens either the old catalog or the new one.
    private func swap(backup: String?) throws {
        if let backup {
            guard link(self.catalogPath, backup) == 0 else {
                throw CatalogError.rebuildFailed(
                    reason: "cannot keep the old catalog as \(backup): \(String(cString: strerror(errno)))"
                )
            }
        }
        // A WAL left by a process that died must not be replayed into the new file: it belongs to the old one.
        // (Opening the old catalog to carry its audit log over normally checkpointed and removed it.)
        for suffix in ["-wal", "-journal"] where FileSystem.exists(self.catalogPath + suffix) {
            if let backup {
                rename(self.catalogPath + suffix, backup + suffix)
            } else {
                unlink(self.catalogPath + suffix)
            }
        }
        unlink(self.catalogPath + "-shm")
        guard rename(self.temporaryPath, self.catalogPath) == 0 else {
            throw CatalogError.rebuildFailed(
                reason:
                    "cannot rename \(self.temporaryPath) to \(self.catalogPath): \(String(cString: strerror(errno)))"
            )
        }
        try? FileSystem.syncDirectory(of: self.catalogPath)
    }

    // MARK: - Helpers

    private func backupPath(at time: Timestamp) -> String {
        let stamp = time.description.filter { $0.isNumber }
        // A PostgreSQL catalog's rows are kept in an SQLite file beside the media.
        let base = self.isPostgres ? "\(self.layout.root)/catalog.sqlite" : self.catalogPath
        let suffix = self.isPostgres ? ".sqlite" : ""
        var candidate = "\(base).before-rebuild-\(stamp)\(suffix)"
        var attempt = 2
        while FileSystem.exists(candidate) {
            candidate = "\(base).before-rebuild-\(stamp)-\(attempt)\(suffix)"
            attempt += 1
        }
        return candidate
    }

    /// `recording.json`, or `recording-<n>.json` for a second, different recording of one call.
    static func isRecordingSidecar(_ name: String) -> Bool {
        guard name.hasPrefix("recording"), name.hasSuffix(".json") else { return false }
        let middle = name.dropFirst("recording".count).dropLast(".json".count)
        return middle.isEmpty
            || (middle.hasPrefix("-") && middle.dropFirst().allSatisfy(\.isNumber) && middle.count > 1)
    }

    private static func fileName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    /// The media file a sidecar names, in the sidecar's folder.
    private static func mediaPath(besides sidecarPath: String, file: String, defaultExtension: String) -> String {
        let directory = sidecarPath.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(
            separator: "/"
        )
        let name = Self.fileName(file)
        if !name.isEmpty && name != "." && name != ".." { return "\(directory)/\(name)" }
        return String(sidecarPath.dropLast(".json".count)) + defaultExtension
    }

    static func removeDatabase(at path: String) {
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) }
    }

    private static func auditDetail(_ report: Report) -> [String: String] {
        var detail = [
            "calls": "\(report.calls)", "unknown_calls": "\(report.unknownCalls)", "callbacks": "\(report.callbacks)",
            "streams": "\(report.streams)", "recordings": "\(report.recordings)", "media_files": "\(report.mediaFiles)",
            "missing_files": "\(report.missingFiles)", "requeued_downloads": "\(report.requeuedDownloads)",
            "problems": "\(report.problems.count)", "audit_carried_over": "\(report.auditCarriedOver)",
            "campaign_rows_carried": "\(report.campaignRowsCarried)",
            "campaign_rows_restored": "\(report.campaignRowsRestored)",
            "legal_holds_carried": "\(report.legalHoldsCarried)",
            "retention_journal_carried": "\(report.retentionJournalCarried)",
        ]
        if let backup = report.backupPath { detail["backup"] = Self.fileName(backup) }
        return detail
    }
}

extension Catalog {
    /// Every campaign row as stored, whatever the schema version (none before the table existed).
    func campaignRowsForCarryOver() async throws -> [CampaignRowRecord] {
        try await self.exclusive("read campaign rows", requiresSchema: false) { db in
            guard try await self.backend.tableExists(Table.campaignRows, on: db) else { return [] }
            return try await db.select().column("*").from(Table.campaignRows).orderBy("campaign_id").orderBy("row_key")
                .all().map(CampaignRowRecord.init(row:))
        }
    }

    /// Inserts a campaign row as it is unless the campaign already has that row. Returns whether it did.
    @discardableResult
    static func insertCampaignRow(_ db: any SQLDatabase, _ row: CampaignRowRecord) async throws -> Bool {
        try await db.insert(into: Table.campaignRows)
            .columns("campaign_id", "row_key", "line", "state", "call_sid", "error", "created_at", "updated_at")
            .values(
                row.campaignId,
                row.rowKey,
                row.line,
                row.state.rawValue,
                row.callSid,
                row.error,
                row.createdAt.millisecondsSinceEpoch,
                row.updatedAt.millisecondsSinceEpoch
            )
            .ignoringConflicts(with: ["campaign_id", "row_key"])
            .returning("row_key")
            .first() != nil
    }
}
