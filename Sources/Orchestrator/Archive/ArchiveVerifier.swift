import Catalog
import Dispatch
import ExotelKit
import Foundation
import Logging
import MediaStore

/// Proves the archive: re-hashes the catalog's media files (all, or a selection) and compares each with
/// the catalog's `sha256` and `bytes` and with its sidecar, and looks for files under `media/` that no
/// catalog row names (`docs/ARCHIVE.md`).
///
/// Hashing runs on a queue of its own, one file at a time, so a long verify keeps the cooperative pool free and
/// the disk read sequential. The outcome goes to the audit log: one `archive.verified` entry with the counts,
/// and one `archive.problem` entry per problem (up to ``maxProblemEntries``), so that `auditEntries(path:)`
/// shows when a file was first found damaged.
public struct ArchiveVerifier: Sendable {
    /// Which catalogued files to check. Empty means every file.
    public struct Selection: Sendable, Hashable {
        public var callSids: Set<String>
        /// Files created (a stream's start, a recording's fetch) at or after this time.
        public var since: Timestamp?
        public var kind: MediaKind?

        public init(callSids: Set<String> = [], since: Timestamp? = nil, kind: MediaKind? = nil) {
            self.callSids = callSids
            self.since = since
            self.kind = kind
        }

        public static let everything = Selection()

        public var isEverything: Bool { self.callSids.isEmpty && self.since == nil && self.kind == nil }

        func includes(_ file: MediaFile) -> Bool {
            if !self.callSids.isEmpty && !self.callSids.contains(file.callSid) { return false }
            if let since = self.since, file.createdAt < since { return false }
            if let kind = self.kind, file.kind != kind { return false }
            return true
        }
    }

    /// How far a verify has got; `bytesTotal` is the catalog's sizes of the selected files.
    public struct Progress: Sendable, Hashable {
        public var filesDone: Int
        public var filesTotal: Int
        public var bytesDone: Int64
        public var bytesTotal: Int64
    }

    /// At most this many `archive.problem` audit entries per run (the summary entry always has the counts).
    public static let maxProblemEntries = 1000

    public let catalog: Catalog
    public let layout: StorageLayout
    /// The audit entries' actor.
    public let actor: String
    public let logger: Logger
    /// Checks evicted files in the object archive's bucket instead of reporting them missing.
    public var archive: ArchivedMediaSource?

    public init(catalog: Catalog, layout: StorageLayout, actor: String = "cli", logger: Logger) {
        self.catalog = catalog
        self.layout = layout
        self.actor = actor
        self.logger = logger
    }

    /// Checks the selected files, records the outcome in the audit log and returns it. Throws only when the
    /// catalog cannot be read or written; every problem with a file is in the report.
    public func verify(
        _ selection: Selection = .everything,
        at time: Timestamp = .now(),
        progress: @escaping @Sendable (Progress) -> Void = { _ in }
    ) async throws -> ArchiveVerificationReport {
        let snapshot = try await self.catalog.snapshot()
        let files = snapshot.mediaFiles.values.filter(selection.includes).sorted { $0.path < $1.path }
        let bytesTotal = files.reduce(Int64(0)) { $0 + ($1.bytes ?? 0) }
        var state = Progress(filesDone: 0, filesTotal: files.count, bytesDone: 0, bytesTotal: bytesTotal)
        progress(state)
        // Calls an interrupted retention run was deleting: their files are partly gone by design, which is
        // reported as such rather than as `missing` (docs/ARCHIVE.md, "Legal hold and retention").
        let pending = try await self.catalog.pendingRetentionDeletions()
        let beingDeleted = Dictionary(pending.map { ($0.callSid, $0.runId) }, uniquingKeysWith: { first, _ in first })
        // Streams without a call have no CallSid: their pending entries are matched by path.
        let pathsBeingDeleted = Dictionary(
            pending.filter { RetentionKey.streamSid(in: $0.callSid) != nil }.flatMap { entry in
                entry.files.map { ($0, entry.runId) }
            },
            uniquingKeysWith: { first, _ in first }
        )

        var problems: [ArchiveVerificationReport.Problem] = []
        var ok = 0
        var inProgress = 0
        var bytesHashed: Int64 = 0
        for file in files {
            if let runId = file.callSid.isEmpty ? pathsBeingDeleted[file.path] : beingDeleted[file.callSid] {
                let whereNow = FileSystem.exists(self.layout.absolute(file.path)) ? "still on disk" : "already deleted"
                problems.append(
                    .init(
                        kind: .deletionPending,
                        path: file.path,
                        callSid: file.callSid,
                        detail:
                            "retention run \(runId) was interrupted while deleting this call (this file is \(whereNow)); "
                            + "`exorec retention apply --yes` finishes it"
                    )
                )
                state.filesDone += 1
                state.bytesDone += file.bytes ?? 0
                progress(state)
                continue
            }
            let layout = self.layout
            var outcome = await Self.onHashingQueue { Self.check(file, layout: layout) }
            // A file the object archive evicted is not missing: its archived version is checked in the bucket.
            if case .problems(let found, _) = outcome, found.map(\.kind) == [.missing], let archive = self.archive,
                let remote = await archive.verifyEvicted(path: file.path)
            {
                outcome =
                    remote.ok
                    ? .ok(bytes: file.bytes ?? 0)
                    : .problems(
                        [.init(kind: .changed, path: file.path, callSid: file.callSid, detail: remote.detail)],
                        bytes: file.bytes ?? 0
                    )
            }
            switch outcome {
            case .ok(let bytes):
                ok += 1
                bytesHashed += bytes
            case .inProgress:
                inProgress += 1
            case .problems(let found, let bytes):
                problems += found
                bytesHashed += bytes
                if found.isEmpty { ok += 1 }
            }
            state.filesDone += 1
            state.bytesDone += file.bytes ?? 0
            progress(state)
        }

        let scanned: Bool
        if selection.isEverything || (selection.since == nil && selection.kind == nil) {
            let known = Set(snapshot.mediaFiles.keys)
            let calls = Set(snapshot.calls.keys)
            let directories: [String]?
            if selection.isEverything {
                directories = nil
            } else {
                // Only the selected calls' folders.
                directories = Array(Set(files.map { Self.parent(of: $0.path) })).sorted()
            }
            let layout = self.layout
            problems += await Self.onHashingQueue {
                Self.unexpectedFiles(layout: layout, directories: directories, known: known, calls: calls)
            }
            scanned = true
        } else {
            scanned = false
        }

        let report = ArchiveVerificationReport(
            selected: files.count,
            ok: ok,
            inProgress: inProgress,
            bytesHashed: bytesHashed,
            scannedForUnexpected: scanned,
            problems: problems
        )
        try await self.record(report, selection: selection, at: time)
        return report
    }

    // MARK: - Audit

    private func record(_ report: ArchiveVerificationReport, selection: Selection, at time: Timestamp) async throws {
        for problem in report.problems.prefix(Self.maxProblemEntries) {
            try await self.catalog.appendAudit(
                AuditEvent(
                    at: time,
                    actor: self.actor,
                    action: "archive.problem",
                    callSid: problem.callSid,
                    path: problem.path,
                    detail: ["kind": problem.kind.rawValue, "detail": problem.detail]
                )
            )
        }
        var detail: [String: String] = [
            "selected": "\(report.selected)", "ok": "\(report.ok)", "in_progress": "\(report.inProgress)",
            "bytes_hashed": "\(report.bytesHashed)", "problems": "\(report.problems.count)",
            "scanned_for_unexpected": "\(report.scannedForUnexpected)",
        ]
        for (kind, count) in report.counts { detail[kind.rawValue] = "\(count)" }
        if !selection.callSids.isEmpty { detail["call_sids"] = selection.callSids.sorted().joined(separator: ",") }
        if let since = selection.since { detail["since"] = "\(since)" }
        if let kind = selection.kind { detail["kind"] = kind.rawValue }
        if report.problems.count > Self.maxProblemEntries { detail["problem_entries_truncated"] = "true" }
        try await self.catalog.appendAudit(
            AuditEvent(at: time, actor: self.actor, action: "archive.verified", detail: detail)
        )
        self.logger.info(
            "archive verified",
            metadata: ["selected": "\(report.selected)", "problems": "\(report.problems.count)"]
        )
    }

    // MARK: - Per file (on the hashing queue)

    private enum Outcome: Sendable {
        case ok(bytes: Int64)
        case inProgress
        case problems([ArchiveVerificationReport.Problem], bytes: Int64)
    }

    private static let hashingQueue = DispatchQueue(label: "exorec.archive-verifier")

    private static func onHashingQueue<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await BlockingWork.run(on: Self.hashingQueue, work)
    }

    private static func check(_ file: MediaFile, layout: StorageLayout) -> Outcome {
        func problem(
            _ kind: ArchiveVerificationReport.Problem.Kind,
            _ detail: String
        ) -> ArchiveVerificationReport.Problem {
            .init(kind: kind, path: file.path, callSid: file.callSid, detail: detail)
        }
        let absolute = layout.absolute(file.path)
        let missing = problem(.missing, "the catalog names it (state \(file.state.rawValue)); it is not on disk")
        guard FileSystem.exists(absolute) else { return .problems([missing], bytes: 0) }
        if file.state == .recording { return .inProgress }
        guard let expectedSha = file.sha256 else {
            return .problems(
                [problem(.noChecksum, "state \(file.state.rawValue) and no sha256 in the catalog")],
                bytes: 0
            )
        }
        let checked = MediaFileCheck.check(absolute, bytes: file.bytes, sha256: expectedSha, hashing: .whenSizeAgrees)
        var found: [ArchiveVerificationReport.Problem] = checked.findings.map { finding in
            switch finding {
            case .missing: missing
            case .sizeDiffers(let actual, let expected):
                problem(.changed, "\(actual) bytes, the catalog says \(expected)")
            case .sha256Differs(let actual, let expected):
                problem(.changed, "sha256 \(actual.prefix(12))…, the catalog says \(expected.prefix(12))…")
            case .unreadable(_, let error): problem(.unreadable, "\(error)")
            }
        }
        let hashed = checked.hashedBytes
        if let mismatch = Self.sidecarMismatch(of: file, layout: layout) {
            found.append(problem(.sidecarMismatch, mismatch))
        }
        return found.isEmpty ? .ok(bytes: hashed) : .problems(found, bytes: hashed)
    }

    /// The sidecar's `sha256` and `bytes`, as every sidecar kind writes them.
    private struct SidecarDigest: Decodable {
        var sha256: String?
        var bytes: Int64?
    }

    /// Why the sidecar beside `file` disagrees with the catalog, or nil if it agrees.
    private static func sidecarMismatch(of file: MediaFile, layout: StorageLayout) -> String? {
        let sidecar = layout.absolute(StorageLayout.sidecarPath(ofMedia: file.path))
        guard FileSystem.exists(sidecar) else { return "no sidecar \(StorageLayout.sidecarPath(ofMedia: file.path))" }
        let digest: SidecarDigest
        do {
            digest = try JSONDecoder().decode(SidecarDigest.self, from: Data(try FileSystem.read(sidecar)))
        } catch {
            return "the sidecar cannot be read: \(error)"
        }
        if digest.sha256 != file.sha256 {
            return
                "the sidecar's sha256 \(digest.sha256.map { "\($0.prefix(12))…" } ?? "null") differs from the catalog's "
                + "\(file.sha256.map { "\($0.prefix(12))…" } ?? "null")"
        }
        if let bytes = digest.bytes, let expected = file.bytes, bytes != expected {
            return "the sidecar says \(bytes) bytes, the catalog \(expected)"
        }
        return nil
    }

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return String(path[..<slash])
    }

    private static func name(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    // MARK: - Unexpected files

    /// Files under `media/` (or the given folders, relative to the storage root) that the catalog does not explain: not a
    /// catalogued media file, not the sidecar of one, not the `call.json` of a known call (or of an unknown
    /// call's folder under `_unknown`). Temporary files are reported as incomplete downloads.
    private static func unexpectedFiles(
        layout: StorageLayout,
        directories: [String]?,
        known: Set<String>,
        calls: Set<String>
    ) -> [ArchiveVerificationReport.Problem] {
        let knownSidecars = Set(known.map(StorageLayout.sidecarPath(ofMedia:)))
        let folders = directories ?? ["media"]
        var problems: [ArchiveVerificationReport.Problem] = []
        for folder in folders {
            for absolute in FileSystem.files(under: layout.absolute(folder), withSuffix: "") {
                let path = layout.relative(absolute)
                if known.contains(path) { continue }
                let name = Self.name(of: path)
                let callFolder = Self.name(of: Self.parent(of: path))
                let callSid = calls.contains(callFolder) ? callFolder : nil
                if name.hasSuffix(".part") || name.contains(".tmp-") {
                    problems.append(
                        .init(
                            kind: .incompleteDownload,
                            path: path,
                            callSid: callSid,
                            detail: "a temporary file left by an interrupted download or write"
                        )
                    )
                    continue
                }
                if name == CallSidecar.fileName
                    && (callSid != nil || path.hasPrefix("media/\(CallSidecar.unknownAccount)/"))
                {
                    continue
                }
                if knownSidecars.contains(path) { continue }
                problems.append(
                    .init(kind: .unexpected, path: path, callSid: callSid, detail: "no catalog row names this file")
                )
            }
        }
        return problems
    }
}
