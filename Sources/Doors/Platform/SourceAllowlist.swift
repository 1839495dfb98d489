import Foundation
public import Ingest

/// The source addresses allowed to post status callbacks: IPv4 and IPv6 CIDR blocks.
///
/// An empty list allows every address. Entries are `203.0.113.0/24`, `2001:db8::/32`, or a single
/// address (`198.51.100.7`, `::1`). A peer written as an IPv4-mapped IPv6 address
/// (`::ffff:203.0.113.9`, what a dual-stack listener reports) is matched as the IPv4 address.
///
/// ```swift
/// let allowlist = try SourceAllowlist(["203.0.113.0/24", "2001:db8::/32"])
/// allowlist.allows("203.0.113.9")   // true
/// ```
public struct SourceAllowlist: Sendable, Hashable {
    struct Block: Sendable, Hashable {
        /// 4 bytes for IPv4, 16 for IPv6, host bits zero.
        var network: [UInt8]
        var prefixLength: Int

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == self.network.count else { return false }
            var remaining = self.prefixLength
            for index in 0..<address.count where remaining > 0 {
                let bits = min(remaining, 8)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if address[index] & mask != self.network[index] { return false }
                remaining -= bits
            }
            return true
        }
    }

    let blocks: [Block]

    init(blocks: [Block]) { self.blocks = blocks }

    /// Parses each entry; the first that is not an address or CIDR block throws, naming it.
    ///
    /// - Throws: ``IngestError/configuration(key:reason:)`` with key `callbacks.allowed_sources`.
    public init(_ entries: [String]) throws(IngestError) {
        var blocks: [Block] = []
        for entry in entries {
            blocks.append(try Self.parse(entry))
        }
        self.blocks = blocks
    }

    /// `true` when the list is empty: every source is allowed.
    public var allowsEveryone: Bool { self.blocks.isEmpty }

    /// Whether `address` (an IP literal, as the server reports a peer) is inside one of the blocks.
    /// Anything that is not an IP literal is refused.
    public func allows(_ address: String) -> Bool {
        if self.blocks.isEmpty { return true }
        guard var bytes = Self.addressBytes(address) else { return false }
        if bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            bytes = Array(bytes[12..<16])
        }
        return self.blocks.contains { $0.contains(bytes) }
    }

    private static func parse(_ entry: String) throws(IngestError) -> Block {
        let key = "callbacks.allowed_sources"
        let text = entry.trimmingCharacters(in: .whitespaces)
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = addressBytes(String(parts[0])) else {
            throw .configuration(
                key: key,
                reason: "'\(entry)' is not an IPv4 or IPv6 address or CIDR block (like 203.0.113.0/24 or 2001:db8::/32)"
            )
        }
        let maximum = address.count * 8
        var prefixLength = maximum
        if parts.count == 2 {
            guard let n = Int(parts[1]), (0...maximum).contains(n), parts[1].allSatisfy(\.isASCII) else {
                throw .configuration(
                    key: key,
                    reason: "'\(entry)': the prefix length must be a number from 0 to \(maximum)"
                )
            }
            prefixLength = n
        }
        let block = Block(network: address, prefixLength: prefixLength)
        var masked = address
        for index in 0..<masked.count {
            let bits = max(0, min(8, prefixLength - index * 8))
            masked[index] &= UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
        }
        guard masked == address else {
            let network = Self.format(masked)
            throw .configuration(
                key: key,
                reason: "'\(entry)' has host bits set; did you mean \(network)/\(prefixLength)?"
            )
        }
        return block
    }

    /// The address's bytes (4 or 16), or nil if `text` is not an IP literal.
    static func addressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    private static func format(_ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        let ok = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) } != nil
        return ok ? buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } : "?"
    }
}
