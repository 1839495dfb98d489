import Glibc

/// A storage root's lock for the life of a process: either a server node's (several nodes may share one
/// root, each under its own node id) or a whole-root one (`catalog rebuild`, which needs no writer at all).
///
/// - A node takes `.exorec.lock` shared and `.exorec-node-<id>.lock` exclusive: two processes under one node
///   id on one root are refused, two nodes with different ids run side by side.
/// - The whole-root lock takes `.exorec.lock` exclusive: refused while any node runs on the root, and no node
///   starts while it is held.
///
/// Start-up repair treats every `recording` sidecar of its own node as abandoned; that is only true when no
/// other process writes as that node on the same root, which this lock ensures. The kernel releases it when
/// the process dies, even by `kill -9`.
public final class StorageLock: Sendable {
    private let descriptors: [Int32]
    public let path: String
    /// The node the lock is held for; nil for the whole-root lock.
    public let node: String?

    /// - Parameter node: the node id (``NodeIdentifier``'s rules, checked here again since it names a file);
    ///   nil: the whole root, exclusively.
    public init(layout: StorageLayout, node: String? = nil) throws(MediaError) {
        try FileSystem.makeDirectories(layout.root)
        self.path = layout.lockPath
        self.node = node
        let root = try Self.lock(layout.lockPath, node == nil ? LOCK_EX : LOCK_SH) {
            .storageLocked(path: layout.root)
        }
        guard let node else {
            self.descriptors = [root]
            return
        }
        if let problem = NodeIdentifier.problem(with: node) {
            Self.unlock(root)
            throw .invalidIdentifier(field: "node id", value: "\(node) (\(problem))")
        }
        do {
            let own = try Self.lock(layout.nodeLockPath(node), LOCK_EX) { .nodeLocked(path: layout.root, node: node) }
            self.descriptors = [own, root]
        } catch {
            Self.unlock(root)
            throw error
        }
    }

    deinit {
        for descriptor in self.descriptors { Self.unlock(descriptor) }
    }

    private static func lock(
        _ path: String,
        _ operation: Int32,
        held: () -> MediaError
    ) throws(MediaError) -> Int32 {
        let fd = FileSystem.createFile(path, flags: O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, operation: "open", errno: errno) }
        guard flock(fd, operation | LOCK_NB) == 0 else {
            let code = errno
            Glibc.close(fd)
            if code == EWOULDBLOCK { throw held() }
            throw .io(path: path, operation: "lock", errno: code)
        }
        return fd
    }

    private static func unlock(_ descriptor: Int32) {
        flock(descriptor, LOCK_UN)
        Glibc.close(descriptor)
    }
}
