import Glibc
import Synchronization

/// The modes and group of everything exorec creates under its storage root: media, sidecars, `call.json`,
/// recordings, exports and the catalog (which holds raw callback bodies) are not for every local user.
///
/// - files are created `0640` (owner read-write, group read), folders `0750`;
/// - finished media files are made `0440` (read-only, group-readable), never `0444`;
/// - with a reader group (``setReaderGroup(_:)``, the `storage.group` setting), every folder and file exorec
///   creates is given that group (`fchown`/`chown`, which works for a group the process' user belongs to), and
///   folders get the setgid bit, so files created inside them by libraries (SQLite's `-wal`/`-shm`,
///   libsndfile) inherit the group as well.
///
/// ``restrictProcessUmask()`` (called by `serve` and `demo`) sets the umask to `027`, so nothing the process
/// creates elsewhere is world-readable either.
public enum FilePermissions {
    public static let fileMode: mode_t = 0o640
    public static let directoryMode: mode_t = 0o750
    public static let readOnlyMode: mode_t = 0o440
    /// Private temporary files (a download in progress).
    public static let privateFileMode: mode_t = 0o600

    /// -1 when no group is configured.
    private static let configuredGroup = Atomic<Int64>(-1)

    /// Gives every file and folder created from now on the group `gid` (nil: the process' default group).
    public static func setReaderGroup(_ gid: gid_t?) {
        self.configuredGroup.store(gid.map { Int64($0) } ?? -1, ordering: .relaxed)
    }

    public static var readerGroup: gid_t? {
        let value = self.configuredGroup.load(ordering: .relaxed)
        return value < 0 ? nil : gid_t(value)
    }

    /// The group id of a group name (or a numeric id); nil when there is no such group.
    public static func groupID(named name: String) -> gid_t? {
        if let number = UInt32(name) { return gid_t(number) }
        var entry = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 16 << 10)
        let status = getgrnam_r(name, &entry, &buffer, buffer.count, &result)
        guard status == 0, let result else { return nil }
        return result.pointee.gr_gid
    }

    /// Sets the process umask to `027` (no permission for others, no write for the group) and returns the old one.
    @discardableResult
    public static func restrictProcessUmask() -> mode_t {
        umask(0o027)
    }

    /// Applies the reader group to a file exorec just created, through its descriptor.
    public static func adopt(descriptor: Int32) {
        guard let gid = self.readerGroup else { return }
        _ = fchown(descriptor, uid_t.max, gid)
    }

    /// Applies the reader group (and, with one, the setgid bit) to a folder exorec just created.
    public static func adopt(directory path: String) {
        guard let gid = self.readerGroup else { return }
        if chown(path, uid_t.max, gid) == 0 {
            _ = chmod(path, self.directoryMode | S_ISGID)
        }
    }

    /// Applies the reader group to a file exorec just created, by path (files created by a library).
    public static func adopt(file path: String) {
        guard let gid = self.readerGroup else { return }
        _ = chown(path, uid_t.max, gid)
    }
}
