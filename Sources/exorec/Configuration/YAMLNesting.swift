/// An upper bound on how deeply a YAML text nests, read without parsing it.
///
/// Yams builds its node tree recursively, so a file nested some thousands of levels deep (`[[[[…`,
/// `- - - - …`, or ever deeper indentation) overflows the stack before any error can be reported
/// (found by FuzzConfig). `exorec.yaml` nests four levels; anything past `limit` is refused with a
/// clear error before Yams sees it. The estimate only ever overcounts: flow brackets outside quotes
/// and comments, plus the indentation levels and compact `- ` entries open on the line.
enum YAMLNesting {
    static let limit = 64

    static func exceedsLimit(_ text: String, limit: Int = Self.limit) -> Bool {
        var flow = 0
        var indents: [Int] = []
        for line in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            var index = line.startIndex
            var column = 0
            while index < line.endIndex, line[index] == UInt8(ascii: " ") || line[index] == UInt8(ascii: "\t") {
                index = line.index(after: index)
                column += 1
            }
            if index == line.endIndex || line[index] == UInt8(ascii: "#") { continue }
            if flow == 0 {
                while let last = indents.last, last >= column { indents.removeLast() }
                indents.append(column)
            }
            var dashes = 0
            while index < line.endIndex, line[index] == UInt8(ascii: "-") {
                let next = line.index(after: index)
                guard next == line.endIndex || line[next] == UInt8(ascii: " ") else { break }
                dashes += 1
                index = next
                while index < line.endIndex, line[index] == UInt8(ascii: " ") { index = line.index(after: index) }
            }
            var quote: UInt8?
            var previous: UInt8 = UInt8(ascii: " ")
            while index < line.endIndex {
                let byte = line[index]
                if let open = quote {
                    if byte == open { quote = nil }
                } else {
                    switch byte {
                    case UInt8(ascii: "\""), UInt8(ascii: "'"): quote = byte
                    case UInt8(ascii: "#") where previous == UInt8(ascii: " "):
                        index = line.endIndex
                        continue
                    case UInt8(ascii: "["), UInt8(ascii: "{"): flow += 1
                    case UInt8(ascii: "]"), UInt8(ascii: "}"): flow = max(0, flow - 1)
                    default: break
                    }
                }
                if indents.count + dashes + flow > limit { return true }
                previous = byte
                index = line.index(after: index)
            }
            if indents.count + dashes + flow > limit { return true }
        }
        return false
    }
}
