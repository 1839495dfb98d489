import Glibc
import MediaStore

/// Writes interleaved samples as a 16-bit WAV the way a server would, through the project's libsndfile wrapper.
func writeWav(_ samples: [Int16], to path: String, sampleRate: Int, channels: Int) throws {
    let fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0o644)
    precondition(fd >= 0, "cannot create \(path)")
    let file = try SoundFile.create(
        path: path,
        descriptor: fd,
        format: .wav16,
        sampleRate: sampleRate,
        channels: channels
    )
    try samples.withUnsafeBufferPointer { try file.write($0) }
    try file.close()
}

/// Interleaves equally long channels.
func interleave(_ channels: [[Int16]]) -> [Int16] {
    guard channels.count > 1 else { return channels.first ?? [] }
    var out: [Int16] = []
    out.reserveCapacity(channels[0].count * channels.count)
    for index in channels[0].indices {
        for channel in channels { out.append(channel[index]) }
    }
    return out
}
