import Glibc
import MediaStore

/// A WAV file as a crash may have left it: the input is written to a temporary file, repaired in
/// place, and what the repair reports must agree with the file it leaves.
private let directory: String = {
    let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
    var template = Array("\(base)/exorec-fuzz-wav-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { fatalError("mkdtemp failed") }
    return String(cString: made)
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWavHeaderRepair(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = "\(directory)/input.wav"
    let fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0o600)
    precondition(fd >= 0, "cannot create \(path)")
    var written = 0
    while written < size {
        let n = write(fd, data + written, size - written)
        precondition(n > 0, "cannot write \(path)")
        written += n
    }
    close(fd)
    defer { unlink(path) }
    guard let result = try? WavHeaderRepair.repair(path: path, fallbackRate: 8000, fallbackChannels: 1) else {
        return 0
    }
    var st = stat()
    precondition(stat(path, &st) == 0)
    precondition(result.frames >= 0 && result.truncatedBytes >= 0, "\(result)")
    precondition(result.channels > 0 && result.sampleRate > 0, "\(result)")
    // At least one byte per sample of every channel.
    let (audioBytes, overflow) = result.frames.multipliedReportingOverflow(by: Int64(result.channels))
    precondition(!overflow && audioBytes <= Int64(st.st_size), "\(result) in a \(st.st_size)-byte file")
    // A repaired file repairs to the same result, cutting nothing more.
    if let again = try? WavHeaderRepair.repair(path: path, fallbackRate: 8000, fallbackChannels: 1) {
        precondition(again.frames == result.frames && again.truncatedBytes == 0, "\(result) then \(again)")
    }
    return 0
}
