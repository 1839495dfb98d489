import Glibc

/// Makes a WAV whose writer died valid again: the RIFF and `data` sizes are set from the file's
/// real length, and a trailing partial sample frame is cut off.
///
/// libsndfile writes a complete header when the file is created and exorec refreshes it about once
/// a second, so after a crash only the two size fields are stale; every byte of audio that reached
/// the kernel is kept.
public enum WavHeaderRepair {
    public struct Result: Sendable, Hashable {
        public var channels: Int
        public var sampleRate: Int
        public var frames: Int64
        public var truncatedBytes: Int64
    }

    /// Repairs in place. When the file is too short to hold a header (the crash came right after
    /// it was created) a fresh header is written from `fallbackRate`/`fallbackChannels`.
    public static func repair(path: String, fallbackRate: Int, fallbackChannels: Int) throws(MediaError) -> Result {
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, operation: "open", errno: errno) }
        defer { Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(path: path, operation: "stat", errno: errno) }
        let fileSize = Int64(st.st_size)

        var header = [UInt8](repeating: 0, count: 4096)
        let got = header.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, 0) }
        guard got >= 0 else { throw .io(path: path, operation: "read", errno: errno) }
        header.removeLast(header.count - got)

        guard got >= 12, header[0..<4].elementsEqual("RIFF".utf8), header[8..<12].elementsEqual("WAVE".utf8) else {
            if fileSize < 44 {
                return try self.writeFreshHeader(fd: fd, path: path, rate: fallbackRate, channels: fallbackChannels)
            }
            throw .notAWav(path: path, reason: "no RIFF/WAVE signature")
        }
        var offset = 12
        var channels = 0
        var rate = 0
        var blockAlign = 0
        while offset + 8 <= header.count {
            let id = header[offset..<offset + 4]
            let size = Int(le32(header, offset + 4))
            if id.elementsEqual("fmt ".utf8), offset + 8 + 16 <= header.count {
                channels = Int(le16(header, offset + 10))
                rate = Int(le32(header, offset + 12))
                blockAlign = Int(le16(header, offset + 20))
                let bits = Int(le16(header, offset + 22))
                // A format without channels or rate, or whose frame size is not its channels'
                // samples, describes no audio the sizes could be counted in: treat it as missing.
                if channels == 0 || rate == 0 || bits == 0 || blockAlign != channels * ((bits + 7) / 8) {
                    blockAlign = 0
                }
            } else if id.elementsEqual("data".utf8) {
                guard blockAlign > 0 else { throw .notAWav(path: path, reason: "data chunk before a valid fmt chunk") }
                let dataStart = Int64(offset + 8)
                let available = max(0, fileSize - dataStart)
                let dataBytes = available - available % Int64(blockAlign)
                let truncated = fileSize - dataStart - dataBytes
                if truncated > 0, ftruncate(fd, off_t(dataStart + dataBytes)) != 0 {
                    throw .io(path: path, operation: "truncate", errno: errno)
                }
                try self.writeLE32(fd: fd, path: path, value: UInt32(clamping: dataStart + dataBytes - 8), at: 4)
                try self.writeLE32(fd: fd, path: path, value: UInt32(clamping: dataBytes), at: Int64(offset + 4))
                guard fsync(fd) == 0 else { throw .io(path: path, operation: "fsync", errno: errno) }
                return Result(
                    channels: channels,
                    sampleRate: rate,
                    frames: dataBytes / Int64(blockAlign),
                    truncatedBytes: max(0, truncated)
                )
            }
            offset += 8 + size + (size & 1)
        }
        if fileSize <= Int64(header.count) && channels == 0 {
            return try self.writeFreshHeader(fd: fd, path: path, rate: fallbackRate, channels: fallbackChannels)
        }
        throw .notAWav(path: path, reason: "no data chunk in the first \(header.count) bytes")
    }

    private static func writeFreshHeader(fd: Int32, path: String, rate: Int, channels: Int) throws(MediaError) -> Result
    {
        // The fallback comes from the sidecar, a file too: only a format exorec writes is used.
        guard (1...2).contains(channels), (1...192_000).contains(rate) else {
            throw .notAWav(
                path: path,
                reason: "no usable header, and the fallback format (\(channels) channels, \(rate) Hz) is not valid"
            )
        }
        guard ftruncate(fd, 0) == 0 else { throw .io(path: path, operation: "truncate", errno: errno) }
        var h: [UInt8] = Array("RIFF".utf8) + le32Bytes(36) + Array("WAVEfmt ".utf8) + le32Bytes(16)
        h += le16Bytes(1) + le16Bytes(UInt16(channels)) + le32Bytes(UInt32(rate))
        h += le32Bytes(UInt32(rate * channels * 2)) + le16Bytes(UInt16(channels * 2)) + le16Bytes(16)
        h += Array("data".utf8) + le32Bytes(0)
        let n = h.withUnsafeBytes { pwrite(fd, $0.baseAddress!, $0.count, 0) }
        guard n == h.count else { throw .io(path: path, operation: "write", errno: errno) }
        guard fsync(fd) == 0 else { throw .io(path: path, operation: "fsync", errno: errno) }
        return Result(channels: channels, sampleRate: rate, frames: 0, truncatedBytes: 0)
    }

    private static func writeLE32(fd: Int32, path: String, value: UInt32, at offset: Int64) throws(MediaError) {
        let bytes = le32Bytes(value)
        let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress!, 4, off_t(offset)) }
        guard n == 4 else { throw .io(path: path, operation: "write", errno: errno) }
    }

    private static func le16(_ b: [UInt8], _ i: Int) -> UInt16 { UInt16(b[i]) | UInt16(b[i + 1]) << 8 }
    private static func le32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
    }
    private static func le16Bytes(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }
    private static func le32Bytes(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xff) } }
}
