import Glibc
import Logging

/// Start-up repair: finds streams whose writer died (sidecar still `recording`), makes their WAVs
/// valid, and records them as `interrupted` with a checksum, read-only like any finished file.
///
/// Must run before a server accepts streams and while no other process writes to the same root
/// (`StorageLock` guarantees that).
public struct StorageRecovery: Sendable {
    public struct Repaired: Sendable, Hashable {
        public var wavPath: String
        public var frames: Int64
        public var truncatedBytes: Int64
    }

    public let layout: StorageLayout
    public let logger: Logger

    public init(layout: StorageLayout, logger: Logger) {
        self.layout = layout
        self.logger = logger
    }

    /// Repairs every interrupted stream under the media root and returns what it repaired. A file
    /// that cannot be repaired is logged and left as it is; the others are still repaired.
    ///
    /// - Parameters:
    ///   - node: the node whose streams are repaired; another node's open streams are left alone, they may be
    ///     live. nil: every open stream (the caller holds the whole root's lock).
    ///   - unmarked: also repair open streams that name no node (written before nodes existed): a node's own
    ///     start-up does, a survivor repairing a lost node does not.
    public func repairInterruptedStreams(
        node: String? = nil,
        unmarked: Bool = true,
        at time: Timestamp = .now()
    ) -> [Repaired] {
        var repaired: [Repaired] = []
        for sidecarPath in FileSystem.files(under: self.layout.mediaRoot, withSuffix: ".json") {
            guard var sidecar = try? StreamSidecar.load(from: sidecarPath), sidecar.state == .recording else {
                continue
            }
            if let node, sidecar.node.map({ $0 != node }) ?? !unmarked { continue }
            let wavPath = String(sidecarPath.dropLast(".json".count)) + ".wav"
            do {
                let channels = sidecar.channels ?? 1
                if !FileSystem.exists(wavPath) {
                    let fd = FileSystem.createFile(wavPath, flags: O_EXCL | O_RDWR | O_CLOEXEC)
                    guard fd >= 0 else { throw MediaError.io(path: wavPath, operation: "create", errno: errno) }
                    Glibc.close(fd)
                }
                chmod(wavPath, FilePermissions.fileMode)
                let result = try WavHeaderRepair.repair(
                    path: wavPath,
                    fallbackRate: sidecar.sampleRate,
                    fallbackChannels: channels
                )
                sidecar.state = .interrupted
                sidecar.channels = result.channels
                sidecar.channelMap = StreamSidecar.channelMap(channels: result.channels)
                sidecar.frames = result.frames
                sidecar.durationSeconds = Double(result.frames) / Double(max(result.sampleRate, 1))
                sidecar.endedAt = sidecar.endedAt ?? Self.modificationTime(of: wavPath) ?? time
                sidecar.closeReason = "interrupted"
                _ = try StreamFinalizer.finalize(sidecar, wavPath: wavPath, sidecarPath: sidecarPath)
                repaired.append(
                    Repaired(wavPath: wavPath, frames: result.frames, truncatedBytes: result.truncatedBytes)
                )
                self.logger.warning(
                    "repaired interrupted stream",
                    metadata: [
                        "path": "\(wavPath)", "frames": "\(result.frames)",
                        "truncated_bytes": "\(result.truncatedBytes)",
                    ]
                )
            } catch {
                self.logger.error(
                    "cannot repair interrupted stream",
                    metadata: ["path": "\(wavPath)", "error": "\(error)"]
                )
            }
        }
        return repaired
    }

    private static func modificationTime(of path: String) -> Timestamp? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Timestamp(
            millisecondsSinceEpoch: Int64(st.st_mtim.tv_sec) * 1000 + Int64(st.st_mtim.tv_nsec) / 1_000_000
        )
    }
}
