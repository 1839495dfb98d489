import Glibc

/// An open media file, read by offset. Closed when released.
final class MediaFileReader: Sendable {
    struct OpenError: Error, CustomStringConvertible {
        var description: String
    }

    private let descriptor: Int32
    let length: Int64

    init(path: String) throws(OpenError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw OpenError(description: String(cString: strerror(errno))) }
        // The length at this moment (a growing file is served up to here).
        let end = lseek(descriptor, 0, SEEK_END)
        guard end >= 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw OpenError(description: reason)
        }
        self.descriptor = descriptor
        self.length = Int64(end)
    }

    deinit { close(self.descriptor) }

    /// Up to `count` bytes at `offset`; nil on a read error.
    func read(count: Int, at offset: Int64) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes {
                pread(self.descriptor, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            done += n
        }
        return done == count ? bytes : Array(bytes[..<done])
    }
}

/// Where a served media file's bytes come from: the file on disk, or the object archive's copy of an evicted
/// one (``RemoteMedia``).
enum MediaBytes: Sendable {
    case local(MediaFileReader)
    case remote(RemoteMedia)

    /// The length at this moment (a growing file is served up to here).
    var length: Int64 {
        switch self {
        case .local(let file): file.length
        case .remote(let media): media.length
        }
    }

    /// Bytes per body chunk: a remote read is a request each, so it asks for more at once.
    var chunkBytes: Int {
        switch self {
        case .local: 64 << 10
        case .remote: 1 << 20
        }
    }

    /// Up to `count` bytes at `offset`; nil on a read error.
    func read(count: Int, at offset: Int64) async -> [UInt8]? {
        switch self {
        case .local(let file): file.read(count: count, at: offset)
        case .remote(let media): try? await media.read(offset, count)
        }
    }
}
