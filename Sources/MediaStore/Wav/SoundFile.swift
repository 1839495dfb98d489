import CSndFile
import Glibc

/// The one type in exorec that sees libsndfile's `SNDFILE*`.
///
/// Writing always goes through a file descriptor that the caller opened (with `O_EXCL`, so that
/// nothing is ever overwritten); reading opens a path. Not `Sendable`: one owner uses it at a time,
/// and the writer side lives on the ingest service thread.
public final class SoundFile {
    /// The container and encoding of a file libsndfile writes.
    public struct Format: Sendable, Hashable {
        let major: Int32
        let subtype: Int32
        public let fileExtension: String

        /// 16-bit PCM in a plain RIFF/WAVE container (format tag 1: every reader opens it).
        public static let wav16 = Format(
            major: Int32(SF_FORMAT_WAV),
            subtype: Int32(SF_FORMAT_PCM_16),
            fileExtension: "wav"
        )

        /// libsndfile's compression level (0 = best quality, 1 = smallest), set right after opening:
        /// libsndfile takes it only before the first write.
        var compressionLevel: Double? = nil

        /// MPEG-1/2 Layer III at a constant, modest bit rate (the platform's default `mp3` recording).
        public static let mp3 = Format(
            major: Int32(SF_FORMAT_MPEG),
            subtype: Int32(SF_FORMAT_MPEG_LAYER_III),
            fileExtension: "mp3",
            compressionLevel: 0.6
        )

        /// Layer III at the highest constant bit rate libsndfile offers for the rate (`mp3-hq`).
        public static let mp3HQ = Format(
            major: Int32(SF_FORMAT_MPEG),
            subtype: Int32(SF_FORMAT_MPEG_LAYER_III),
            fileExtension: "mp3",
            compressionLevel: 0.0
        )

        /// FLAC, 16-bit, lossless (exports).
        public static let flac16 = Format(
            major: Int32(SF_FORMAT_FLAC),
            subtype: Int32(SF_FORMAT_PCM_16),
            fileExtension: "flac"
        )

        /// Ogg Vorbis at libsndfile's default quality (exports).
        public static let oggVorbis = Format(
            major: Int32(SF_FORMAT_OGG),
            subtype: Int32(SF_FORMAT_VORBIS),
            fileExtension: "ogg"
        )
    }

    /// What a file holds, as libsndfile reads it.
    public struct Info: Sendable, Hashable {
        public var sampleRate: Int
        public var channels: Int
        /// Sample frames (one sample per channel).
        public var frames: Int64
    }

    public let path: String
    public let info: Info
    private var handle: OpaquePointer?
    /// 16-bit little-endian PCM on disk, as in memory: samples can be written as raw bytes.
    private let storesNativePCM16: Bool
    /// Set when a new file's header is the canonical 44-byte RIFF/WAVE layout (sizes at bytes 4
    /// and 40): its sizes can then be refreshed with two `pwrite`s (see `updateHeader`).
    private let canonicalHeaderDescriptor: Int32?
    private var dataBytes: UInt64 = 0

    private init(
        path: String,
        handle: OpaquePointer,
        info: Info,
        format: Format?,
        canonicalHeaderDescriptor: Int32? = nil
    ) {
        self.path = path
        self.handle = handle
        self.info = info
        self.storesNativePCM16 = format == .wav16 && 1.littleEndian == 1
        self.canonicalHeaderDescriptor = canonicalHeaderDescriptor
    }

    /// Starts a new file on `descriptor`, which libsndfile then owns and closes.
    public static func create(
        path: String,
        descriptor: Int32,
        format: Format,
        sampleRate: Int,
        channels: Int
    ) throws(MediaError) -> SoundFile {
        var sfInfo = SF_INFO()
        sfInfo.samplerate = Int32(sampleRate)
        sfInfo.channels = Int32(channels)
        sfInfo.format = format.major | format.subtype
        guard sf_format_check(&sfInfo) == SF_TRUE else {
            Glibc.close(descriptor)
            throw .unsupportedFormat(
                path: path,
                reason: "libsndfile rejects \(format.fileExtension) at \(sampleRate) Hz, \(channels) channel(s)"
            )
        }
        guard let handle = sf_open_fd(descriptor, Int32(SFM_WRITE), &sfInfo, Int32(SF_TRUE)) else {
            let reason = String(cString: sf_strerror(nil))
            throw .cannotCreate(path: path, reason: reason)
        }
        if var level = format.compressionLevel {
            // Constant bit rate, so the level maps straight to a bit rate (and mp3 and mp3-hq differ in size).
            var mode = Int32(SF_BITRATE_MODE_CONSTANT)
            sf_command(handle, Int32(SFC_SET_BITRATE_MODE), &mode, Int32(MemoryLayout<Int32>.size))
            sf_command(handle, Int32(SFC_SET_COMPRESSION_LEVEL), &level, Int32(MemoryLayout<Double>.size))
        }
        return SoundFile(
            path: path,
            handle: handle,
            info: Info(sampleRate: sampleRate, channels: channels, frames: 0),
            format: format,
            canonicalHeaderDescriptor: hasCanonicalWAVHeader(descriptor) ? descriptor : nil
        )
    }

    /// libsndfile writes a new file's header when it opens it; for 16-bit PCM with one or two
    /// channels that is the 44-byte layout with the data chunk right after a 16-byte `fmt ` chunk.
    /// Checked on the bytes rather than assumed, so another libsndfile version cannot make
    /// `updateHeader` write into the wrong place.
    private static func hasCanonicalWAVHeader(_ descriptor: Int32) -> Bool {
        var header = [UInt8](repeating: 0, count: 44)
        let got = header.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, 44, 0) }
        guard got == 44 else { return false }
        func tag(_ offset: Int) -> String { String(decoding: header[offset..<offset + 4], as: UTF8.self) }
        let fmtSize = UInt32(header[16]) | UInt32(header[17]) << 8 | UInt32(header[18]) << 16 | UInt32(header[19]) << 24
        return tag(0) == "RIFF" && tag(8) == "WAVE" && tag(12) == "fmt " && fmtSize == 16 && tag(36) == "data"
    }

    /// Opens an existing file for reading.
    public static func open(readingFrom path: String) throws(MediaError) -> SoundFile {
        var sfInfo = SF_INFO()
        guard let handle = sf_open(path, Int32(SFM_READ), &sfInfo) else {
            throw .cannotOpen(path: path, reason: String(cString: sf_strerror(nil)))
        }
        return SoundFile(
            path: path,
            handle: handle,
            info: Info(
                sampleRate: Int(sfInfo.samplerate),
                channels: Int(sfInfo.channels),
                frames: Int64(sfInfo.frames)
            ),
            format: nil
        )
    }

    /// Appends interleaved 16-bit samples (`samples.count` must be a multiple of the channel count).
    public func write(_ samples: UnsafeBufferPointer<Int16>) throws(MediaError) {
        guard let handle, let base = samples.baseAddress, !samples.isEmpty else { return }
        let written: Int
        if self.storesNativePCM16 {
            // The bytes already are the file's encoding: skip libsndfile's conversion copy.
            written = Int(sf_write_raw(handle, base, sf_count_t(samples.count * 2))) / 2
        } else {
            written = Int(sf_write_short(handle, base, sf_count_t(samples.count)))
        }
        self.dataBytes += UInt64(max(written, 0) * 2)
        if written != samples.count {
            throw .shortWrite(
                path: self.path,
                wrote: Int(written),
                of: samples.count,
                reason: String(cString: sf_strerror(handle))
            )
        }
    }

    /// Rewrites the header so that its sizes cover everything written so far.
    ///
    /// Called on a timer rather than after every write: auto-updating costs three seeks and a header
    /// write per `sf_write` (libs-notes §6.2), while a reader of a growing file only needs the header
    /// to be recent.
    ///
    /// A canonical header gets its two sizes with two positioned writes, which leave the file
    /// offset alone; libsndfile's own refresh (the fallback) seeks, stats, writes the whole
    /// header and seeks back. The final header is libsndfile's, written by `close`.
    public func updateHeader() {
        guard let handle else { return }
        guard let descriptor = self.canonicalHeaderDescriptor, self.dataBytes <= UInt64(UInt32.max - 36) else {
            sf_command(handle, Int32(SFC_UPDATE_HEADER_NOW), nil, 0)
            return
        }
        var dataSize = UInt32(self.dataBytes).littleEndian
        var riffSize = (UInt32(self.dataBytes) + 36).littleEndian
        // Data size first: a reader that sees only it still reads whole frames of real audio.
        _ = pwrite(descriptor, &dataSize, 4, 40)
        _ = pwrite(descriptor, &riffSize, 4, 4)
    }

    /// Reads up to `into.count` interleaved samples; returns how many were read (0 at the end).
    public func read(into buffer: UnsafeMutableBufferPointer<Int16>) -> Int {
        guard let handle, let base = buffer.baseAddress, !buffer.isEmpty else { return 0 }
        return Int(sf_read_short(handle, base, sf_count_t(buffer.count)))
    }

    /// Reads the whole file as interleaved 16-bit samples.
    public func readAll() -> [Int16] {
        let total = Int(self.info.frames) * self.info.channels
        var samples = [Int16](repeating: 0, count: total)
        let got = samples.withUnsafeMutableBufferPointer { self.read(into: $0) }
        if got < total { samples.removeLast(total - got) }
        return samples
    }

    /// Writes the final header and closes the file. Idempotent.
    public func close() throws(MediaError) {
        guard let handle else { return }
        self.handle = nil
        let status = sf_close(handle)
        if status != 0 {
            throw .cannotClose(path: self.path, reason: String(cString: sf_error_number(status)))
        }
    }

    deinit {
        if let handle {
            // A leak here would leave a header that lags the data; close so the file is still valid.
            assertionFailure("SoundFile(\(self.path)) was not closed; call close()")
            sf_close(handle)
        }
    }
}
