import Crypto
import ExotelKit
import Glibc
import MediaStore

/// A payload file's size and the two checksums a bag's manifests list.
public struct PayloadDigest: Sendable, Hashable, Codable {
    public var bytes: Int64
    public var sha256: String
    public var sha512: String

    /// Reads `path` once, hashing as it goes.
    static func of(_ path: String) throws(MediaError) -> PayloadDigest {
        try Self.stream(from: path, copyingTo: nil)
    }

    /// Copies `source` to a new file `destination` (`O_EXCL`), hashing the bytes on the way: the digest is the
    /// source's and the copy's. The copy is removed if anything fails.
    static func copy(from source: String, to destination: String) throws(MediaError) -> PayloadDigest {
        let output = FileSystem.createFile(destination, flags: O_EXCL | O_WRONLY | O_CLOEXEC)
        guard output >= 0 else { throw .io(path: destination, operation: "create", errno: errno) }
        do throws(MediaError) {
            let digest = try Self.stream(from: source, copyingTo: (output, destination))
            guard Glibc.close(output) == 0 else { throw .io(path: destination, operation: "close", errno: errno) }
            return digest
        } catch {
            Glibc.close(output)
            unlink(destination)
            throw error
        }
    }

    private static func stream(
        from path: String,
        copyingTo output: (descriptor: Int32, path: String)?
    ) throws(MediaError) -> PayloadDigest {
        var sha256 = SHA256()
        var sha512 = SHA512()
        var bytes: Int64 = 0
        try FileSystem.readChunks(of: path) { chunk throws(MediaError) in
            sha256.update(bufferPointer: chunk)
            sha512.update(bufferPointer: chunk)
            bytes += Int64(chunk.count)
            guard let output else { return }
            var offset = 0
            while offset < chunk.count {
                let written = Glibc.write(output.descriptor, chunk.baseAddress! + offset, chunk.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw .io(path: output.path, operation: "write", errno: errno)
                }
                offset += written
            }
        }
        return PayloadDigest(
            bytes: bytes,
            sha256: HexText.lowercase(sha256.finalize()),
            sha512: HexText.lowercase(sha512.finalize())
        )
    }
}
