import Foundation

/// A POSIX ustar archive of a folder, written entry by entry: how the console hands a BagIt bag to a
/// browser in one download (any `tar`, and Python's `tarfile`, unpack it).
enum TarStream {
    struct EntryError: Error, CustomStringConvertible {
        var description: String
    }

    /// Every regular file under `root`, sorted, with paths relative to `root`'s parent (so the archive
    /// unpacks into one folder named as `root`'s last component).
    static func files(under root: String) -> [(relative: String, absolute: String)] {
        let base = (root as NSString).lastPathComponent
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        var files: [(String, String)] = []
        while let path = walker.nextObject() as? String {
            let absolute = root + "/" + path
            var info = stat()
            guard lstat(absolute, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            files.append((base + "/" + path, absolute))
        }
        return files.sorted { $0.0 < $1.0 }
    }

    /// The 512-byte header of a file entry.
    static func header(name: String, size: Int64, mtime: Int64) throws(EntryError) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 512)
        var nameBytes = Array(name.utf8)
        var prefix: [UInt8] = []
        if nameBytes.count > 100 {
            // Split at a slash: prefix (≤155) / name (≤100).
            guard
                let cut = nameBytes.indices.reversed().first(where: {
                    nameBytes[$0] == UInt8(ascii: "/") && $0 <= 155 && nameBytes.count - $0 - 1 <= 100
                })
            else { throw EntryError(description: "the path \(name) is too long for a tar entry") }
            prefix = Array(nameBytes[..<cut])
            nameBytes = Array(nameBytes[(cut + 1)...])
        }
        func put(_ bytes: [UInt8], at offset: Int) {
            for (i, byte) in bytes.enumerated() { header[offset + i] = byte }
        }
        func octal(_ value: Int64, width: Int) -> [UInt8] {
            Array(String(String(value, radix: 8).suffix(width - 1)).leftPadded(to: width - 1).utf8) + [0]
        }
        put(nameBytes, at: 0)
        put(octal(0o644, width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(size, width: 12), at: 124)
        put(octal(mtime, width: 12), at: 136)
        put(Array("        ".utf8), at: 148)
        header[156] = UInt8(ascii: "0")
        put(Array("ustar".utf8) + [0] + Array("00".utf8), at: 257)
        put(prefix, at: 345)
        let sum = header.reduce(0) { $0 + Int($1) }
        put(Array(String(String(sum, radix: 8)).leftPadded(to: 6).utf8) + [0, UInt8(ascii: " ")], at: 148)
        return header
    }

    static func padding(for size: Int64) -> Int { Int((512 - size % 512) % 512) }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        self.count >= width ? self : String(repeating: "0", count: width - self.count) + self
    }
}
