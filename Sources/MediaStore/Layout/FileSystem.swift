import Crypto
import ExotelKit
import Glibc

/// The few POSIX file operations MediaStore needs, each turning errno into a `MediaError` that
/// names the path.
public enum FileSystem {
    /// `mkdir -p`; new folders get ``FilePermissions/directoryMode`` (`0750`) and the reader group.
    public static func makeDirectories(_ path: String) throws(MediaError) {
        if Glibc.mkdir(path, FilePermissions.directoryMode) == 0 {
            FilePermissions.adopt(directory: path)
            return
        }
        if errno == EEXIST { return }
        guard errno == ENOENT else { throw .io(path: path, operation: "mkdir", errno: errno) }
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try makeDirectories(String(path[..<slash]))
        }
        if Glibc.mkdir(path, FilePermissions.directoryMode) == 0 {
            FilePermissions.adopt(directory: path)
        } else if errno != EEXIST {
            throw .io(path: path, operation: "mkdir", errno: errno)
        }
    }

    /// Creates a file for exorec's storage: ``FilePermissions/fileMode`` (`0640`) and the reader group.
    /// Returns the descriptor, or -1 with `errno` set, like `open(2)`.
    public static func createFile(_ path: String, flags: Int32, mode: mode_t = FilePermissions.fileMode) -> Int32 {
        let fd = Glibc.open(path, O_CREAT | flags, mode)
        if fd >= 0 {
            let saved = errno
            FilePermissions.adopt(descriptor: fd)
            errno = saved
        }
        return fd
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    public static func size(of path: String) throws(MediaError) -> Int64 {
        var st = stat()
        guard stat(path, &st) == 0 else { throw .io(path: path, operation: "stat", errno: errno) }
        return Int64(st.st_size)
    }

    /// Writes `bytes` to a temporary file beside `path` and renames it into place, so a reader (or
    /// a crash) sees either the old content or the new one, never a torn file.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, durable: Bool) throws(MediaError) {
        let temporary = "\(path).tmp-\(getpid())"
        let fd = Self.createFile(temporary, flags: O_TRUNC | O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: temporary, operation: "create", errno: errno) }
        var failure: MediaError?
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = .io(path: temporary, operation: "write", errno: errno)
                    return
                }
                offset += n
            }
        }
        if failure == nil, durable, fsync(fd) != 0 { failure = .io(path: temporary, operation: "fsync", errno: errno) }
        Glibc.close(fd)
        if let failure {
            unlink(temporary)
            throw failure
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw .io(path: path, operation: "rename", errno: code)
        }
        if durable { try syncDirectory(of: path) }
    }

    public static func read(_ path: String, limit: Int = 16 << 20) throws(MediaError) -> [UInt8] {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, operation: "open", errno: errno) }
        defer { Glibc.close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while result.count < limit {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, operation: "read", errno: errno)
            }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
        }
        return result
    }

    /// Flushes a file's data to stable storage.
    public static func sync(_ path: String) throws(MediaError) {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, operation: "open", errno: errno) }
        defer { Glibc.close(fd) }
        guard fsync(fd) == 0 else { throw .io(path: path, operation: "fsync", errno: errno) }
    }

    /// Makes a rename or a new file in `path`'s folder durable.
    public static func syncDirectory(of path: String) throws(MediaError) {
        guard let slash = path.lastIndex(of: "/") else { return }
        let directory = slash == path.startIndex ? "/" : String(path[..<slash])
        let fd = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: directory, operation: "open", errno: errno) }
        defer { Glibc.close(fd) }
        _ = fsync(fd)
    }

    /// Removes every write permission: a finished media file is never changed again (`0440`: owner and
    /// reader group only).
    public static func makeReadOnly(_ path: String) throws(MediaError) {
        guard chmod(path, FilePermissions.readOnlyMode) == 0 else {
            throw .io(path: path, operation: "chmod", errno: errno)
        }
    }

    /// The SHA-256 of a file's content, as lowercase hex.
    public static func sha256(of path: String) throws(MediaError) -> String {
        var hasher = SHA256()
        try self.readChunks(of: path) { chunk throws(MediaError) in hasher.update(bufferPointer: chunk) }
        return HexText.lowercase(hasher.finalize())
    }

    /// Reads the file at `path` from start to end in 1 MiB chunks, handing each to `body` (valid only during the call).
    public static func readChunks(
        of path: String,
        _ body: (UnsafeRawBufferPointer) throws(MediaError) -> Void
    ) throws(MediaError) {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, operation: "open", errno: errno) }
        defer { Glibc.close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = Glibc.read(fd, buffer.baseAddress!, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, operation: "read", errno: errno)
            }
            if n == 0 { return }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
    }

    /// Lists the files below `directory` whose names end in `suffix`, recursively.
    public static func files(under directory: String, withSuffix suffix: String) -> [String] {
        var found: [String] = []
        guard let dir = opendir(directory) else { return found }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = Self.entryName(entry)
            if name == "." || name == ".." { continue }
            let path = "\(directory)/\(name)"
            if entry.pointee.d_type == UInt8(DT_DIR) {
                found += files(under: path, withSuffix: suffix)
            } else if name.hasSuffix(suffix) {
                found.append(path)
            }
        }
        return found.sorted()
    }

    /// The name of a `readdir` entry, read where it lies.
    ///
    /// Not `entry.pointee.d_name`: that copies the whole 256-byte array out of the entry, and an entry
    /// is only as long as its name, so for one at the end of `readdir`'s buffer the copy reads past it.
    /// Listing `/proc/self/fd` with a few thousand descriptors open crashed that way (SIGSEGV in
    /// `memcpy`), as Foundation's `Process` did.
    public static func entryName(_ entry: UnsafeMutablePointer<dirent>) -> String {
        let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        return String(cString: UnsafeRawPointer(entry).advanced(by: offset).assumingMemoryBound(to: CChar.self))
    }
}
