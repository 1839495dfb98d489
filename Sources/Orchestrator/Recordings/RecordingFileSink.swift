import Crypto
import ExotelClient
import ExotelKit
import Glibc
import MediaStore

/// Writes a download to a new temporary file while hashing it, so the SHA-256 is known the moment the last
/// byte arrives and the recording is read from the network once and from disk never.
///
/// A value type holding a descriptor: exactly one copy is live at a time (``ExotelClient`` moves it in and
/// back out); ``finish()`` or ``abandon()`` ends it.
struct RecordingFileSink: RecordingSink {
    let path: String
    private var descriptor: Int32
    private var hasher = SHA256()
    private(set) var bytes: Int64 = 0
    /// The first bytes, for ``RecordingContent/check(contentType:leadingBytes:url:)``.
    private(set) var leadingBytes: [UInt8] = []

    /// What a finished sink wrote.
    struct Written: Sendable, Hashable {
        var bytes: Int64
        var sha256: String
        var leadingBytes: [UInt8]
    }

    /// Creates `path`, which must not exist (`O_EXCL`: two claims of one job never share a file).
    init(creating path: String) throws(MediaError) {
        let fd = FileSystem.createFile(
            path,
            flags: O_EXCL | O_WRONLY | O_CLOEXEC,
            mode: FilePermissions.privateFileMode
        )
        guard fd >= 0 else { throw .io(path: path, operation: "create", errno: errno) }
        self.path = path
        self.descriptor = fd
    }

    mutating func write(_ buffer: UnsafeRawBufferPointer) throws {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        guard self.descriptor >= 0 else { throw MediaError.io(path: self.path, operation: "write", errno: EBADF) }
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.write(self.descriptor, base + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw MediaError.io(path: self.path, operation: "write", errno: errno)
            }
            offset += n
        }
        self.hasher.update(bufferPointer: buffer)
        if self.leadingBytes.count < RecordingContent.sniffLength {
            self.leadingBytes.append(contentsOf: buffer.prefix(RecordingContent.sniffLength - self.leadingBytes.count))
        }
        self.bytes += Int64(buffer.count)
    }

    /// Ends writing: what was written, and the still-open descriptor, which the caller passes to
    /// ``syncAndClose(_:path:)`` (off the concurrency pool: fsync can wait on the device).
    mutating func seal() -> (written: Written, descriptor: Int32) {
        let descriptor = self.descriptor
        self.descriptor = -1
        let written = Written(
            bytes: self.bytes,
            sha256: HexText.lowercase(self.hasher.finalize()),
            leadingBytes: self.leadingBytes
        )
        return (written, descriptor)
    }

    /// Flushes a sealed file to stable storage and closes it (also when the flush fails).
    static func syncAndClose(_ descriptor: Int32, path: String) throws(MediaError) {
        defer { Glibc.close(descriptor) }
        guard fsync(descriptor) == 0 else { throw .io(path: path, operation: "fsync", errno: errno) }
    }

    /// Closes (if still open) and removes the file.
    mutating func abandon() {
        self.closeDescriptor()
        unlink(self.path)
    }

    private mutating func closeDescriptor() {
        if self.descriptor >= 0 {
            Glibc.close(self.descriptor)
            self.descriptor = -1
        }
    }

}
