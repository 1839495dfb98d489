import ExotelKit
import Orchestrator

/// A campaign file: the first byte picks CSV or JSON lines, the rest is the file's text.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCampaignFile(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data + 1, count: size - 1), as: UTF8.self)
    guard let rows = try? CampaignFile.parse(text, jsonLines: data[0] & 1 == 1) else { return 0 }
    var keys = Set<String>()
    var previousLine = 0
    for row in rows {
        precondition(row.line > previousLine, "rows out of line order")
        previousLine = row.line
        precondition(keys.insert(row.key).inserted, "two rows share the key \(row.key)")
    }
    return 0
}
