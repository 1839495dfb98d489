import Catalog

@testable import Console

/// What the web console reads from a browser and the configuration: the first byte picks the parser, the rest is
/// its input. A form body or query string through the list's search (every field, the page position); a
/// password hash's text; a page position; a sign-in's `next`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConsoleInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data + 1, count: size - 1), as: UTF8.self)
    switch data[0] % 4 {
    case 0:
        let form = ConsoleHTTP.form(Substring(text))
        precondition(form.count <= 2000)
        if let parsed = try? ConsoleResponder.search(form) {
            precondition(parsed.query.limit >= 1 && parsed.query.limit <= 200)
            for (_, value) in parsed.pairs { precondition(value.utf8.count <= ConsoleResponder.maxFieldLength) }
        }
    case 1:
        if let hash = try? PasswordHash(text: text) {
            precondition(PasswordHash.logNRange.contains(hash.logN))
            precondition((try? PasswordHash(text: hash.description)) == hash, "a parsed hash prints back the same")
        }
    case 2:
        if let cursor = CallPageCursor(text: text) {
            precondition(CallPageCursor(text: cursor.text) == cursor)
        }
    default:
        let next = ConsoleResponder.safeNext(text)
        precondition(next.hasPrefix("/console/") && !next.hasPrefix("//"), "an open redirect: \(next)")
    }
    return 0
}
