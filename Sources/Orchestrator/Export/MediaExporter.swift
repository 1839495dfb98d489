import Catalog
import Dispatch
import ExotelKit
import Foundation
import Glibc
import Logging
import MediaStore

/// Copies or converts the media of selected calls to a folder or a BagIt bag (`docs/EXPORT.md`).
///
/// Each source file is checked against the catalog (size and SHA-256) before it is exported: a missing or
/// altered source is reported, never exported. Every payload file is written under a temporary name, entered
/// in the journal with its digest, then linked to its name (`link`, which fails rather than replace), so a rerun
/// after a kill continues where the run stopped and nothing is ever overwritten. Reading, encoding and hashing
/// run on a Dispatch queue of their own, one file at a time, never on the cooperative pool. The run is recorded
/// in the audit log: one `export.problem` entry per problem and one `export.completed` entry.
public struct MediaExporter: Sendable {
    /// How far an export has got; bytes are the catalog's sizes of the source files.
    public struct Progress: Sendable, Hashable {
        public var filesDone: Int
        public var filesTotal: Int
        public var bytesDone: Int64
        public var bytesTotal: Int64
    }

    public let catalog: Catalog
    public let layout: StorageLayout
    /// The audit entries' actor.
    public let actor: String
    public let exorecVersion: String
    public let logger: Logger
    /// For tests: called after each source file this run exported (placed and journaled), with how many
    /// this run has exported so far. A hook that throws stops the run there, leaving the journal and
    /// any temporary files behind; the CLI's hidden `--fault-after-files` ends the process, as a kill would.
    public var faultInjection: (@Sendable (_ exportedInRun: Int) throws -> Void)?
    /// Brings back the plan's source files the object archive evicted, for the time of the export
    /// (``ArchivedMediaSource``); those it restored are evicted again when the export ends.
    public var archive: ArchivedMediaSource?

    public init(catalog: Catalog, layout: StorageLayout, actor: String = "cli", exorecVersion: String, logger: Logger) {
        self.catalog = catalog
        self.layout = layout
        self.actor = actor
        self.exorecVersion = exorecVersion
        self.logger = logger
    }

    static let partialSuffix = ".exorec-partial"

    /// Runs (or resumes) `request`. Throws ``ExportError`` when it cannot run or stops; problems with single
    /// source files are in the report.
    public func export(
        _ request: ExportRequest,
        at time: Timestamp = .now(),
        progress: @escaping @Sendable (Progress) -> Void = { _ in }
    ) async throws -> ExportReport {
        if let reason = request.invalidReason { throw ExportError.invalidRequest(reason) }
        let destination =
            request.destination.count > 1 && request.destination.hasSuffix("/")
            ? String(request.destination.dropLast()) : request.destination

        // Where the export stands, before anything is written: the folder is created (or found) and locked
        // first, so that two exports to one destination cannot both take it for empty.
        var info = stat()
        let existed = stat(destination, &info) == 0
        if existed && (info.st_mode & S_IFMT) != S_IFDIR { throw ExportError.destinationIsAFile(path: destination) }
        try Self.io { try FileSystem.makeDirectories(destination) }
        func removeIfCreated() { if !existed { rmdir(destination) } }
        let lock: ExportDestinationLock
        do {
            // The archive's media tree holds only what exorec records (`exorec verify` reports anything else).
            if let media = Self.realPath("\(self.layout.root)/media"), let target = Self.realPath(destination),
                target == media || target.hasPrefix(media + "/")
            {
                throw ExportError.invalidRequest(
                    "the destination \(destination) is inside the archive's media folder \(media)"
                )
            }
            lock = try ExportDestinationLock(destination)
        } catch {
            removeIfCreated()
            throw error
        }
        defer { lock.release() }

        var journal: ExportJournal
        let details: [CallDetail]
        let reachedLimit: Bool
        if request.search.unattached {
            // Streams without a call: the journal's "calls" are their stream_sids.
            var streams: [String: [StreamListingFormat.Detail]] = [:]
            if let unfinished = try Self.inspect(destination) {
                guard unfinished.fingerprint == request.fingerprint else {
                    throw ExportError.otherExportInProgress(path: destination, fingerprint: unfinished.fingerprint)
                }
                journal = unfinished
                for streamSid in journal.callSids {
                    streams[streamSid] = try await self.unattachedDetails(streamSid: streamSid)
                }
                reachedLimit = journal.callSids.count >= request.search.limit
            } else {
                let search = request.search
                let selected = try await self.catalog.unattachedStreams(
                    startedFrom: search.placedFrom,
                    startedBefore: search.placedBefore,
                    limit: search.limit
                )
                guard !selected.isEmpty else {
                    lock.release()
                    removeIfCreated()
                    throw ExportError.nothingMatched
                }
                for stream in selected where streams[stream.streamSid] == nil {
                    streams[stream.streamSid] = try await self.unattachedDetails(streamSid: stream.streamSid)
                }
                reachedLimit = selected.count >= search.limit
                journal = ExportJournal(
                    version: ExportJournal.version,
                    fingerprint: request.fingerprint,
                    startedAt: time,
                    callSids: streams.keys.sorted(),
                    files: [:]
                )
                try journal.save(in: destination)
            }
            let plan = ExportPlan.make(streams: streams, request: request)
            return try await self.write(
                plan,
                request: request,
                destination: destination,
                journal: journal,
                reachedLimit: reachedLimit,
                at: time,
                progress: progress
            )
        }
        if let unfinished = try Self.inspect(destination) {
            guard unfinished.fingerprint == request.fingerprint else {
                throw ExportError.otherExportInProgress(path: destination, fingerprint: unfinished.fingerprint)
            }
            journal = unfinished
            var loaded: [CallDetail] = []
            for callSid in journal.callSids {
                if let detail = try await CallDetail.load(callSid: callSid, from: self.catalog) {
                    loaded.append(detail)
                } else {
                    self.logger.warning(
                        "a call of the unfinished export is no longer in the catalog",
                        metadata: ["call_sid": "\(LogText.escaped("\(callSid)", limit: 1024))"]
                    )
                }
            }
            details = loaded
            reachedLimit = journal.callSids.count >= request.search.limit
            self.logger.info(
                "resuming export",
                metadata: ["destination": "\(destination)", "files_done": "\(journal.files.count)"]
            )
        } else {
            let summaries = try await request.search.run(on: self.catalog)
            guard !summaries.isEmpty else {
                lock.release()
                removeIfCreated()
                throw ExportError.nothingMatched
            }
            var loaded: [CallDetail] = []
            for summary in summaries {
                if let detail = try await CallDetail.load(callSid: summary.call.callSid, from: self.catalog) {
                    loaded.append(detail)
                }
            }
            details = loaded
            reachedLimit = summaries.count >= request.search.limit
            journal = ExportJournal(
                version: ExportJournal.version,
                fingerprint: request.fingerprint,
                startedAt: time,
                callSids: loaded.map(\.call.callSid).sorted(),
                files: [:]
            )
            try journal.save(in: destination)
        }

        let plan = ExportPlan.make(details: details, request: request)
        return try await self.write(
            plan,
            request: request,
            destination: destination,
            journal: journal,
            reachedLimit: reachedLimit,
            at: time,
            progress: progress
        )
    }

    /// The catalog rows and files of a stream_sid's streams that named no call.
    private func unattachedDetails(streamSid: String) async throws -> [StreamListingFormat.Detail] {
        try await self.catalog.streams(streamSid: streamSid).filter { $0.stream.isUnattached }
            .map { StreamListingFormat.Detail(stream: $0.stream, mediaFile: $0.file) }
    }

    /// Writes the plan's metadata and files (skipping what the journal has), then the summary and the bag.
    private func write(
        _ plan: ExportPlan,
        request: ExportRequest,
        destination: String,
        journal: ExportJournal,
        reachedLimit: Bool,
        at time: Timestamp,
        progress: @escaping @Sendable (Progress) -> Void
    ) async throws -> ExportReport {
        var journal = journal
        let payloadRoot = request.bag ? "\(destination)/\(BagItWriter.payloadDirectory)" : destination
        let items = plan.items
        // Evicted sources come back from the bucket (checked against the archived SHA-256) for this run only.
        let restored = await self.archive?.restore(items.map(\.source.path)).restored ?? []
        defer { self.archive?.evictAgain(restored) }
        var state = Progress(
            filesDone: 0,
            filesTotal: items.count,
            bytesDone: 0,
            bytesTotal: items.reduce(Int64(0)) { $0 + ($1.source.bytes ?? 0) }
        )
        progress(state)

        var problems: [ExportReport.Problem] = []
        var exported = 0
        var resumed = 0
        var writtenThisRun = 0
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        // A call's folder and its call-detail.json, or a stream_sid's folder under _streams/ and its stream-detail.json.
        var groups: [(folder: String, metadataTarget: String, metadata: [UInt8], items: [ExportPlan.Item])] = []
        for call in plan.calls {
            groups.append(
                (call.detail.call.callSid, call.metadataTarget, Array(try encoder.encode(call.detail)), call.items)
            )
        }
        for stream in plan.streams {
            groups.append(
                (stream.folder, stream.metadataTarget, Array(try encoder.encode(stream.details)), stream.items)
            )
        }
        for call in groups {
            try Self.io { try FileSystem.makeDirectories("\(payloadRoot)/\(call.folder)") }
            if try !self.isDone([call.metadataTarget], journal: &journal, payloadRoot: payloadRoot) {
                let bytes = call.metadata
                try await self.place(
                    [call.metadataTarget],
                    journal: &journal,
                    payloadRoot: payloadRoot,
                    destination: destination
                ) {
                    let temporary = "\(payloadRoot)/\(call.metadataTarget)\(Self.partialSuffix)"
                    try FileSystem.writeAtomically(bytes, to: temporary, durable: true)
                    return .written([try PayloadDigest.of(temporary)])
                }
            }
            for item in call.items {
                defer {
                    state.filesDone += 1
                    state.bytesDone += item.source.bytes ?? 0
                    progress(state)
                }
                if try self.isDone(item.targets, journal: &journal, payloadRoot: payloadRoot) {
                    exported += 1
                    resumed += 1
                    continue
                }
                if let problem = Self.preflight(item.source) {
                    problems.append(problem)
                    continue
                }
                let root = self.layout.root
                let format = request.format
                let outcome = try await self.place(
                    item.targets,
                    journal: &journal,
                    payloadRoot: payloadRoot,
                    destination: destination
                ) {
                    Self.produce(item, format: format, storageRoot: root, payloadRoot: payloadRoot)
                }
                if let problem = outcome {
                    problems.append(problem)
                    continue
                }
                exported += 1
                writtenThisRun += 1
                try self.faultInjection?(writtenThisRun)
            }
        }

        return try await self.finish(
            request,
            destination: destination,
            payloadRoot: payloadRoot,
            plan: plan,
            journal: journal,
            problems: problems,
            exported: exported,
            resumed: resumed,
            reachedLimit: reachedLimit,
            at: time
        )
    }

    // MARK: - Destination

    /// The canonical absolute path of an existing file or folder.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// nil for a destination that does not exist or is an empty folder; the journal of an unfinished export;
    /// an error for anything else.
    static func inspect(_ destination: String) throws -> ExportJournal? {
        var info = stat()
        guard stat(destination, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw ExportError.io(MediaError.io(path: destination, operation: "stat", errno: errno).description)
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { throw ExportError.destinationIsAFile(path: destination) }
        guard let directory = opendir(destination) else {
            throw ExportError.io(MediaError.io(path: destination, operation: "opendir", errno: errno).description)
        }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = FileSystem.entryName(entry)
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(directory)
        if names.isEmpty { return nil }
        guard names.contains(ExportJournal.fileName) else { throw ExportError.destinationNotEmpty(path: destination) }
        return try ExportJournal.load(from: destination)
    }

    // MARK: - Payload files

    private enum Outcome: Sendable {
        case written([PayloadDigest])
        case problem(ExportReport.Problem)
    }

    /// Whether every target is in place and in the journal. Finishes a rename a kill interrupted; forgets the
    /// journal entries of targets that are neither in place nor complete under their temporary name.
    private func isDone(_ targets: [String], journal: inout ExportJournal, payloadRoot: String) throws -> Bool {
        var done = true
        for target in targets {
            let path = "\(payloadRoot)/\(target)"
            guard let digest = journal.files[target] else {
                if FileSystem.exists(path) { throw ExportError.unexpectedFile(path: path) }
                done = false
                continue
            }
            if FileSystem.exists(path) {
                let size = try Self.io { try FileSystem.size(of: path) }
                guard size == digest.bytes else { throw ExportError.unexpectedFile(path: path) }
                continue
            }
            let temporary = path + Self.partialSuffix
            if FileSystem.exists(temporary), (try? FileSystem.size(of: temporary)) == digest.bytes {
                try Self.link(temporary, to: path)
            } else {
                journal.files[target] = nil
                done = false
            }
        }
        return done
    }

    /// Produces the targets' temporary files on the export queue, enters them in the journal, then links them
    /// into place. Returns the problem if the source could not be exported.
    @discardableResult
    private func place(
        _ targets: [String],
        journal: inout ExportJournal,
        payloadRoot: String,
        destination: String,
        _ produce: @escaping @Sendable () throws -> Outcome
    ) async throws -> ExportReport.Problem? {
        for target in targets { unlink("\(payloadRoot)/\(target)\(Self.partialSuffix)") }
        let result = await Self.onExportQueue { Result { try produce() } }
        let outcome: Outcome
        do {
            outcome = try result.get()
        } catch {
            throw ExportError.io("\(error)")
        }
        switch outcome {
        case .problem(let problem):
            return problem
        case .written(let digests):
            for (target, digest) in zip(targets, digests) { journal.files[target] = digest }
            try journal.save(in: destination)
            for target in targets {
                let path = "\(payloadRoot)/\(target)"
                try Self.link(path + Self.partialSuffix, to: path)
            }
            return nil
        }
    }

    /// `link` then `unlink`: unlike `rename`, fails if the target exists.
    private static func link(_ temporary: String, to path: String) throws {
        if Glibc.link(temporary, path) != 0 {
            if errno == EEXIST { throw ExportError.unexpectedFile(path: path) }
            throw ExportError.io(MediaError.io(path: path, operation: "link", errno: errno).description)
        }
        unlink(temporary)
    }

    /// Problems the catalog alone shows.
    private static func preflight(_ file: MediaFile) -> ExportReport.Problem? {
        func problem(_ kind: ExportReport.Problem.Kind, _ detail: String) -> ExportReport.Problem {
            .init(kind: kind, path: file.path, callSid: file.callSid, detail: detail)
        }
        if file.state == .missing { return problem(.missing, "catalogued as missing") }
        guard file.sha256 != nil else {
            return problem(
                .noChecksum,
                file.state == .recording ? "still being written (no checksum yet)" : "no sha256 in the catalog"
            )
        }
        return nil
    }

    /// On the export queue: checks the source against the catalog and writes the targets' temporary files.
    private static func produce(
        _ item: ExportPlan.Item,
        format: ExportFormat,
        storageRoot: String,
        payloadRoot: String
    ) -> Outcome {
        let file = item.source
        func problem(_ kind: ExportReport.Problem.Kind, _ detail: String) -> Outcome {
            .problem(.init(kind: kind, path: file.path, callSid: file.callSid, detail: detail))
        }
        let source = "\(storageRoot)/\(file.path)"
        let temporaries = item.targets.map { "\(payloadRoot)/\($0)\(Self.partialSuffix)" }
        guard FileSystem.exists(source) else { return problem(.missing, "not on disk") }
        let expected = file.sha256 ?? ""
        do {
            let size = try FileSystem.size(of: source)
            if let bytes = file.bytes, size != bytes {
                return problem(.changed, "\(size) bytes, the catalog says \(bytes)")
            }
            guard let encoding = format.soundFileFormat else {
                let digest = try PayloadDigest.copy(from: source, to: temporaries[0])
                guard digest.sha256 == expected else {
                    unlink(temporaries[0])
                    return problem(
                        .changed,
                        "sha256 \(digest.sha256.prefix(12))…, the catalog says \(expected.prefix(12))…"
                    )
                }
                try FileSystem.sync(temporaries[0])
                return .written([digest])
            }
            let actual = try FileSystem.sha256(of: source)
            guard actual == expected else {
                return problem(.changed, "sha256 \(actual.prefix(12))…, the catalog says \(expected.prefix(12))…")
            }
            try AudioTranscoder.transcode(source: source, format: encoding, outputs: temporaries)
            var digests: [PayloadDigest] = []
            for temporary in temporaries {
                try FileSystem.sync(temporary)
                digests.append(try PayloadDigest.of(temporary))
            }
            return .written(digests)
        } catch {
            for temporary in temporaries { unlink(temporary) }
            return problem(.unreadable, "\(error)")
        }
    }

    private static let exportQueue = DispatchQueue(label: "exorec.export")

    private static func onExportQueue<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Self.exportQueue.async { continuation.resume(returning: work()) }
        }
    }

    /// Runs file operations, turning a `MediaError` into ``ExportError/io(_:)``.
    private static func io<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as MediaError {
            throw ExportError.io(error.description)
        }
    }

    // MARK: - Finishing

    /// `export.json` at the payload's root: what was exported from where, and what was not.
    struct SummaryFile: Codable {
        struct File: Codable {
            var target: String
            var source: String
            var sourceSHA256: String?
            var kind: MediaKind
            var callSid: String

            enum CodingKeys: String, CodingKey {
                case target, source, kind
                case sourceSHA256 = "source_sha256", callSid = "call_sid"
            }
        }

        var exorecVersion: String
        var request: String
        var startedAt: Timestamp
        var calls: [String]
        /// The stream_sids of streams without a call (`export --unattached`); absent otherwise.
        var unattachedStreams: [String]?
        var files: [File]
        var problems: [ExportReport.Problem]

        enum CodingKeys: String, CodingKey {
            case request, calls, files, problems
            case exorecVersion = "exorec_version", startedAt = "started_at", unattachedStreams = "unattached_streams"
        }
    }

    private func finish(
        _ request: ExportRequest,
        destination: String,
        payloadRoot: String,
        plan: ExportPlan,
        journal: ExportJournal,
        problems: [ExportReport.Problem],
        exported: Int,
        resumed: Int,
        reachedLimit: Bool,
        at time: Timestamp
    ) async throws -> ExportReport {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let files = plan.items.flatMap { item in
            item.targets.filter { journal.files[$0] != nil }.map {
                SummaryFile.File(
                    target: $0,
                    source: item.source.path,
                    sourceSHA256: item.source.sha256,
                    kind: item.source.kind,
                    callSid: item.source.callSid
                )
            }
        }
        let summary = SummaryFile(
            exorecVersion: self.exorecVersion,
            request: request.fingerprint,
            startedAt: journal.startedAt,
            calls: plan.calls.map(\.detail.call.callSid),
            unattachedStreams: plan.streams.isEmpty ? nil : plan.streams.map(\.streamSid),
            files: files,
            problems: problems
        )
        let summaryPath = "\(payloadRoot)/\(ExportPlan.summaryFileName)"
        let summaryBytes = Array(try encoder.encode(summary))
        try Self.io { try FileSystem.writeAtomically(summaryBytes, to: summaryPath, durable: true) }
        var payload = journal.files.filter { target, _ in
            plan.calls.contains { call in
                call.metadataTarget == target || call.items.contains { $0.targets.contains(target) }
            }
                || plan.streams.contains { group in
                    group.metadataTarget == target || group.items.contains { $0.targets.contains(target) }
                }
        }
        payload[ExportPlan.summaryFileName] = try Self.io { try PayloadDigest.of(summaryPath) }

        for problem in problems.prefix(1000) {
            _ = try await self.catalog.appendAudit(
                AuditEvent(
                    at: time,
                    actor: self.actor,
                    action: "export.problem",
                    callSid: problem.callSid,
                    path: problem.path,
                    detail: ["kind": problem.kind.rawValue, "detail": problem.detail, "destination": destination]
                )
            )
        }
        var detail: [String: String] = [
            "destination": destination, "format": request.format.rawValue, "bag": "\(request.bag)",
            "split_legs": "\(request.splitLegs)", "calls": "\(plan.calls.count)", "selected": "\(plan.items.count)",
            "exported": "\(exported)", "resumed": "\(resumed)", "problems": "\(problems.count)",
            "payload_files": "\(payload.count)",
            "payload_bytes": "\(payload.values.reduce(Int64(0)) { $0 + $1.bytes })",
            "request": request.fingerprint, "call_sids": plan.calls.map(\.detail.call.callSid).joined(separator: ","),
            "unattached_streams": plan.streams.map(\.streamSid).joined(separator: ","),
            "summary_sha256": payload[ExportPlan.summaryFileName]!.sha256,
        ]

        let auditEntry: AuditEntry
        if request.bag {
            var tagFiles: [String: PayloadDigest] = [:]
            func writeTag(_ name: String, _ text: String) throws {
                let path = "\(destination)/\(name)"
                try Self.io { try FileSystem.writeAtomically(Array(text.utf8), to: path, durable: true) }
                tagFiles[name] = try Self.io { try PayloadDigest.of(path) }
            }
            for algorithm in BagItWriter.algorithms {
                try writeTag("manifest-\(algorithm).txt", BagItWriter.manifest(payload, algorithm: algorithm))
            }
            detail["manifest_sha256"] = tagFiles["manifest-sha256.txt"]!.sha256
            auditEntry = try await self.catalog.appendAudit(
                AuditEvent(at: time, actor: self.actor, action: "export.completed", path: destination, detail: detail)
            )
            let description =
                request.externalDescription
                ?? "Media and metadata of \(plan.calls.count) call(s) exported from the exorec archive (format \(request.format.rawValue)"
                + (request.splitLegs ? ", legs split" : "")
                + "); export.json maps each file to its source and checksum."
            try writeTag(
                "bag-info.txt",
                BagItWriter.bagInfo(
                    baggingDate: journal.startedAt,
                    payload: payload,
                    sourceOrganization: request.sourceOrganization,
                    externalDescription: description,
                    software: "exorec \(self.exorecVersion)",
                    extra: [("Exorec-Audit-Entry", "\(auditEntry.seq):\(auditEntry.hash)")]
                )
            )
            try writeTag("bagit.txt", BagItWriter.declaration)
            let tagged = tagFiles
            for algorithm in BagItWriter.algorithms {
                let path = "\(destination)/tagmanifest-\(algorithm).txt"
                try Self.io {
                    try FileSystem.writeAtomically(
                        Array(BagItWriter.tagManifest(tagged, algorithm: algorithm).utf8),
                        to: path,
                        durable: true
                    )
                }
            }
        } else {
            auditEntry = try await self.catalog.appendAudit(
                AuditEvent(at: time, actor: self.actor, action: "export.completed", path: destination, detail: detail)
            )
        }
        let journalPath = ExportJournal.path(in: destination)
        guard unlink(journalPath) == 0 else {
            throw ExportError.io(MediaError.io(path: journalPath, operation: "unlink", errno: errno).description)
        }
        try? FileSystem.syncDirectory(of: journalPath)

        let report = ExportReport(
            destination: destination,
            bag: request.bag,
            format: request.format,
            splitLegs: request.splitLegs,
            calls: plan.calls.count,
            reachedLimit: reachedLimit,
            selected: plan.items.count,
            exported: exported,
            resumed: resumed,
            payloadFiles: payload.count,
            payloadBytes: payload.values.reduce(Int64(0)) { $0 + $1.bytes },
            problems: problems,
            auditSeq: auditEntry.seq
        )
        self.logger.info(
            "export finished",
            metadata: ["destination": "\(destination)", "exported": "\(exported)", "problems": "\(problems.count)"]
        )
        return report
    }
}

/// An exclusive `flock` on the destination folder for the life of an export: a second export to the same folder
/// fails at once instead of interleaving with the first. The kernel drops it if the process dies.
final class ExportDestinationLock {
    private var descriptor: Int32

    init(_ destination: String) throws {
        let fd = Glibc.open(destination, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ExportError.io(MediaError.io(path: destination, operation: "open", errno: errno).description)
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            Glibc.close(fd)
            if code == EWOULDBLOCK { throw ExportError.destinationBusy(path: destination) }
            throw ExportError.io(MediaError.io(path: destination, operation: "lock", errno: code).description)
        }
        self.descriptor = fd
    }

    /// Unlocks; idempotent.
    func release() {
        guard self.descriptor >= 0 else { return }
        flock(self.descriptor, LOCK_UN)
        Glibc.close(self.descriptor)
        self.descriptor = -1
    }

    deinit { self.release() }
}
