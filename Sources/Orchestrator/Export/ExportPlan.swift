import Catalog
import MediaStore

/// What an export writes: per selected call, its metadata and its media files with their target names.
///
/// Targets are relative to the payload root (the destination, or a bag's `data/`):
/// `<CallSid>/call-detail.json`, `<CallSid>/<file's stem>.<ext>`, or with split legs
/// `<CallSid>/<stem>-leg1.<ext>`, `-leg2`, … for files with more than one channel.
public struct ExportPlan: Sendable, Hashable {
    public struct Item: Sendable, Hashable {
        public var source: MediaFile
        /// One target, or one per channel when the legs are split.
        public var targets: [String]
    }

    public struct Call: Sendable, Hashable {
        public var detail: CallDetail
        public var metadataTarget: String
        public var items: [Item]
    }

    /// Streams whose start named no call (`export --unattached`), one group per stream_sid, under
    /// `_streams/<stream_sid>/` with `stream-detail.json` (every file of that stream_sid with its catalog row).
    public struct StreamGroup: Sendable, Hashable {
        public var streamSid: String
        public var details: [StreamListingFormat.Detail]
        public var folder: String
        public var metadataTarget: String
        public var items: [Item]
    }

    public var calls: [Call]
    public var streams: [StreamGroup] = []

    public static let metadataFileName = "call-detail.json"
    public static let streamMetadataFileName = "stream-detail.json"
    /// The payload folder of streams without a call.
    public static let unattachedFolder = "_streams"
    /// The export's own record at the payload root (selection, files, sources, problems).
    public static let summaryFileName = "export.json"

    public var items: [Item] { self.calls.flatMap(\.items) + self.streams.flatMap(\.items) }

    /// The plan for streams without a call (already selected, grouped by stream_sid), in stream_sid order.
    public static func make(streams: [String: [StreamListingFormat.Detail]], request: ExportRequest) -> ExportPlan {
        let groups = streams.keys.sorted().map { streamSid in
            let details = streams[streamSid]!.sorted { $0.stream.path < $1.stream.path }
            let folder = "\(Self.unattachedFolder)/\(streamSid)"
            var taken: Set<String> = [Self.streamMetadataFileName]
            let items = details.compactMap(\.mediaFile).map { file in
                Self.item(file, folder: folder, request: request, taken: &taken)
            }
            return StreamGroup(
                streamSid: streamSid,
                details: details,
                folder: folder,
                metadataTarget: "\(folder)/\(Self.streamMetadataFileName)",
                items: items
            )
        }
        return ExportPlan(calls: [], streams: groups)
    }

    /// One file's item in `folder`, with a stem no earlier file there took.
    private static func item(
        _ file: MediaFile,
        folder: String,
        request: ExportRequest,
        taken: inout Set<String>
    ) -> Item {
        let stem = Self.uniqueStem(Self.stem(of: file.path), taken: &taken)
        let ext = request.format.soundFileFormat?.fileExtension ?? Self.fileExtension(of: file.path)
        let dot = ext.isEmpty ? "" : "."
        let channels = file.channels ?? 1
        if request.splitLegs && channels > 1 {
            return Item(source: file, targets: (1...channels).map { "\(folder)/\(stem)-leg\($0)\(dot)\(ext)" })
        }
        return Item(source: file, targets: ["\(folder)/\(stem)\(dot)\(ext)"])
    }

    /// The plan for these calls (already selected), in CallSid order.
    public static func make(details: [CallDetail], request: ExportRequest) -> ExportPlan {
        let calls = details.sorted { $0.call.callSid < $1.call.callSid }.map { detail in
            let callSid = detail.call.callSid
            let files = detail.mediaFiles
                .filter { file in request.kind.map { file.kind == $0 } ?? true }
                .sorted { $0.path < $1.path }
            var taken: Set<String> = [Self.metadataFileName]
            let items = files.map { file in
                let stem = Self.uniqueStem(Self.stem(of: file.path), taken: &taken)
                let ext = request.format.soundFileFormat?.fileExtension ?? Self.fileExtension(of: file.path)
                let dot = ext.isEmpty ? "" : "."
                let channels = file.channels ?? 1
                let targets: [String]
                if request.splitLegs && channels > 1 {
                    targets = (1...channels).map { "\(callSid)/\(stem)-leg\($0)\(dot)\(ext)" }
                } else {
                    targets = ["\(callSid)/\(stem)\(dot)\(ext)"]
                }
                return Item(source: file, targets: targets)
            }
            return Call(detail: detail, metadataTarget: "\(callSid)/\(Self.metadataFileName)", items: items)
        }
        return ExportPlan(calls: calls)
    }

    /// A stem no earlier file of the call took (`recording.mp3` and `recording.wav` would both be `recording`).
    private static func uniqueStem(_ stem: String, taken: inout Set<String>) -> String {
        var candidate = stem
        var index = 2
        while taken.contains(candidate) {
            candidate = "\(stem)-\(index)"
            index += 1
        }
        taken.insert(candidate)
        return candidate
    }

    /// `media/…/stream-ST1.wav` → `stream-ST1`.
    static func stem(of path: String) -> String {
        let name = Self.name(of: path)
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return name }
        return String(name[..<dot])
    }

    static func fileExtension(of path: String) -> String {
        let name = Self.name(of: path)
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
        return String(name[name.index(after: dot)...])
    }

    static func name(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}
