import Glibc

/// Decodes any file libsndfile reads and encodes it again as one of `SoundFile`'s formats, either whole or
/// split into one mono file per channel (a dual stream's legs).
///
/// Everything goes through `SoundFile`; nothing here sees libsndfile. The work blocks (mp3 and Vorbis
/// encoding cost tens of times what PCM does, libs-notes §6.5): callers run it on a thread or Dispatch queue
/// of their own, never on the cooperative pool.
public enum AudioTranscoder {
    /// Frames decoded and encoded per round.
    static let chunkFrames = 8192

    /// Writes `source` as `format` to `outputs`: one output keeps every channel; as many outputs as the source
    /// has channels get one channel each, in order (leg 1 first). Each output is created new (`O_EXCL`): an
    /// existing file is never overwritten. On failure every output this call created is removed.
    ///
    /// Returns what was read from the source.
    @discardableResult
    public static func transcode(
        source: String,
        format: SoundFile.Format,
        outputs: [String]
    ) throws(MediaError) -> SoundFile.Info {
        let input = try SoundFile.open(readingFrom: source)
        defer { try? input.close() }
        let channels = input.info.channels
        guard !outputs.isEmpty, outputs.count == 1 || outputs.count == channels else {
            throw .unsupportedFormat(
                path: source,
                reason: "\(channels) channel(s) cannot be split into \(outputs.count) file(s)"
            )
        }
        let split = outputs.count > 1
        var writers: [SoundFile] = []
        var created: [String] = []
        func discard() {
            for writer in writers { try? writer.close() }
            for path in created { unlink(path) }
        }
        do throws(MediaError) {
            for path in outputs {
                let descriptor = FileSystem.createFile(path, flags: O_EXCL | O_WRONLY | O_CLOEXEC)
                guard descriptor >= 0 else { throw .io(path: path, operation: "create", errno: errno) }
                created.append(path)
                writers.append(
                    try SoundFile.create(
                        path: path,
                        descriptor: descriptor,
                        format: format,
                        sampleRate: input.info.sampleRate,
                        channels: split ? 1 : channels
                    )
                )
            }
            var interleaved = [Int16](repeating: 0, count: Self.chunkFrames * channels)
            var mono = [Int16](repeating: 0, count: split ? Self.chunkFrames : 0)
            while true {
                let samples = interleaved.withUnsafeMutableBufferPointer { input.read(into: $0) }
                let frames = samples / channels
                if frames == 0 { break }
                if split {
                    for (channel, writer) in writers.enumerated() {
                        for frame in 0..<frames { mono[frame] = interleaved[frame * channels + channel] }
                        try mono.withUnsafeBufferPointer { buffer throws(MediaError) in
                            try writer.write(UnsafeBufferPointer(rebasing: buffer[0..<frames]))
                        }
                    }
                } else {
                    try interleaved.withUnsafeBufferPointer { buffer throws(MediaError) in
                        try writers[0].write(UnsafeBufferPointer(rebasing: buffer[0..<(frames * channels)]))
                    }
                }
            }
            for writer in writers { try writer.close() }
        } catch {
            discard()
            throw error
        }
        return input.info
    }
}
