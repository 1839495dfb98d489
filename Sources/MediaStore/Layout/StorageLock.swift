import Glibc

/// An exclusive lock on a storage root for the life of a server process.
///
/// Start-up repair treats every `recording` sidecar as abandoned; that is only true when no other
/// process is writing to the same root, which this lock ensures. The kernel releases it when the
/// process dies, even by `kill -9`.
public final class StorageLock: Sendable {
    private let descriptor: Int32
    public let path: String

    public init(layout: StorageLayout) throws(MediaError) {
        try FileSystem.makeDirectories(layout.root)
        self.path = layout.lockPath
        let fd = FileSystem.createFile(self.path, flags: O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: self.path, operation: "open", errno: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            Glibc.close(fd)
            if code == EWOULDBLOCK { throw .storageLocked(path: layout.root) }
            throw .io(path: self.path, operation: "lock", errno: code)
        }
        self.descriptor = fd
    }

    deinit {
        flock(self.descriptor, LOCK_UN)
        Glibc.close(self.descriptor)
    }
}
