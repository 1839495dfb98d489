import Ingest

/// `exorec.yaml`: the whole text is one configuration file. Errors are expected; a crash, a hang
/// or unbounded memory is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    var config = ConfigFile()
    try? config.apply(yaml: text, source: "fuzz.yaml")
    return 0
}
