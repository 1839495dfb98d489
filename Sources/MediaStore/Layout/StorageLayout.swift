import Glibc

/// Where exorec keeps media under its storage root.
///
/// ```
/// <root>/media/<account>/<yyyy>/<mm>/<dd>/<CallSid>/stream-<stream_sid>.wav   (+ .json sidecar)
/// <root>/media/_unknown/<yyyy>/<mm>/<dd>/<CallSid>/stream-<stream_sid>.wav    (a start with a call but no account)
/// <root>/media/_streams/<yyyy>/<mm>/<dd>/<stream_sid>/stream-<stream_sid>.wav (a start that named no call)
/// ```
/// Dates are the stream's start in UTC. A repeated stream_sid never overwrites: it gets
/// `stream-<stream_sid>-2.wav`, `-3`, … (files are created with `O_EXCL`).
public struct StorageLayout: Sendable, Hashable {
    public let root: String

    /// `root` as given, less any trailing `/` (`/data/` and `/data//` are `/data`; `/` stays `/`).
    public init(root: String) {
        var root = Substring(root)
        while root.count > 1 && root.hasSuffix("/") { root = root.dropLast() }
        self.root = String(root)
    }

    /// `absolutePath` relative to ``root``, as the catalog keys media files and folders
    /// (`<root>/media/a/x.wav` → `media/a/x.wav`; ``root`` itself → the empty string).
    ///
    /// The comparison is textual and by whole path components: `<root>x/file` is not under `<root>`, and
    /// nothing is resolved (`..`, symbolic links) or normalised. A path that is not under the root (another
    /// folder, or a path that is already relative) is returned unchanged, so it stays visible as it was given
    /// wherever it is written down rather than being silently shortened.
    public func relative(_ absolutePath: String) -> String {
        if absolutePath == self.root { return "" }
        let prefix = self.root.hasSuffix("/") ? self.root : self.root + "/"
        guard absolutePath.hasPrefix(prefix) else { return absolutePath }
        return String(absolutePath.dropFirst(prefix.count))
    }

    /// The inverse of ``relative(_:)``: `relative` below ``root`` (`media/a/x.wav` → `<root>/media/a/x.wav`; the
    /// empty string → ``root``). A path that is already absolute (starts with `/`) is returned unchanged, so
    /// `absolute(relative(p)) == p` for every absolute `p`.
    public func absolute(_ relative: String) -> String {
        if relative.isEmpty { return self.root }
        if relative.hasPrefix("/") { return relative }
        return self.root.hasSuffix("/") ? self.root + relative : "\(self.root)/\(relative)"
    }

    /// The sidecar beside a media file (relative or absolute): the file's name with its extension replaced by
    /// `.json` (`…/stream-X.wav` → `…/stream-X.json`, `…/recording-2.mp3` → `…/recording-2.json`; a name without
    /// an extension gets `.json` appended). Only the last path component is looked at for the extension.
    public static func sidecarPath(ofMedia path: String) -> String {
        let nameStart = path.lastIndex(of: "/").map { path.index(after: $0) } ?? path.startIndex
        guard let dot = path[nameStart...].lastIndex(of: ".") else { return path + ".json" }
        return path[..<dot] + ".json"
    }

    public var mediaRoot: String { self.absolute("media") }
    public var lockPath: String { self.absolute(".exorec.lock") }
    /// The lock of one node on this root (``StorageLock``); `node` follows ``NodeIdentifier``'s rules.
    public func nodeLockPath(_ node: String) -> String { self.absolute(".exorec-node-\(node).lock") }

    /// The account folder of calls whose account is not known (``CallSidecar/unknownAccount``).
    public static let unknownAccount = try! PathSafeIdentifier(CallSidecar.unknownAccount, field: "account")
    /// The folder under `media/` of streams that named no call.
    public static let unattachedStreamsFolder = "_streams"

    /// The folder of a stream that named no call: `media/_streams/<yyyy>/<mm>/<dd>/<stream_sid>`, kept apart
    /// from every account's calls and keyed by the stream's own id.
    public func unattachedStreamDirectory(streamSid: PathSafeIdentifier, startedAt: Timestamp) -> String {
        let d = startedAt.utcComponents
        let date = "\(d.year)/\(Self.twoDigits(d.month))/\(Self.twoDigits(d.day))"
        return "\(self.mediaRoot)/\(Self.unattachedStreamsFolder)/\(date)/\(streamSid)"
    }

    /// The folder of one call's media.
    public func callDirectory(account: PathSafeIdentifier, callSid: PathSafeIdentifier, startedAt: Timestamp) -> String
    {
        self.absolute(Self.relativeCallDirectory(account: account, callSid: callSid, startedAt: startedAt))
    }

    /// The folder of one call's media relative to the root: `media/<account>/<yyyy>/<mm>/<dd>/<CallSid>`.
    public static func relativeCallDirectory(
        account: PathSafeIdentifier,
        callSid: PathSafeIdentifier,
        startedAt: Timestamp
    ) -> String {
        let d = startedAt.utcComponents
        return "media/\(account)/\(d.year)/\(Self.twoDigits(d.month))/\(Self.twoDigits(d.day))/\(callSid)"
    }

    /// A stream file reserved on disk: the WAV exists (empty, opened for writing) and its
    /// descriptor is handed to the caller.
    public struct ReservedStreamFile: Sendable {
        public let wavPath: String
        public let sidecarPath: String
        public let descriptor: Int32
    }

    /// Creates the call folder and a new, never-before-used WAV file for `streamSid`.
    public func reserveStreamFile(
        in directory: String,
        streamSid: PathSafeIdentifier
    ) throws(MediaError) -> ReservedStreamFile {
        try FileSystem.makeDirectories(directory)
        for attempt in 1...10_000 {
            let stem = attempt == 1 ? "stream-\(streamSid)" : "stream-\(streamSid)-\(attempt)"
            let wav = "\(directory)/\(stem).wav"
            let fd = FileSystem.createFile(wav, flags: O_EXCL | O_RDWR | O_CLOEXEC)
            if fd >= 0 {
                return ReservedStreamFile(wavPath: wav, sidecarPath: "\(directory)/\(stem).json", descriptor: fd)
            }
            if errno != EEXIST { throw .io(path: wav, operation: "create", errno: errno) }
        }
        throw .cannotCreate(
            path: "\(directory)/stream-\(streamSid).wav",
            reason: "10000 files for this stream_sid already exist"
        )
    }

    private static func twoDigits(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
