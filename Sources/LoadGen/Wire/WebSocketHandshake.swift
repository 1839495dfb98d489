import Crypto
import ExotelKit

/// The client side of the RFC 6455 opening handshake: the upgrade request and the check of the answer.
struct WebSocketHandshake {
    static let acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    /// A response head larger than this is not a WebSocket server's answer.
    static let maxResponseBytes = 16 * 1024

    /// What the server answered.
    enum Response: Equatable {
        /// 101 with the right `Sec-WebSocket-Accept`; `headerLength` bytes were the HTTP head,
        /// anything after them is already WebSocket frames.
        case upgraded(headerLength: Int)
        /// Any other status (401, 403, 503…): the server refused the stream.
        case refused(status: Int)
        /// Not HTTP, or a 101 whose accept key does not match.
        case malformed(String)
    }

    let key: String
    let expectedAccept: String

    /// `nonce` is the 16 bytes the key encodes; RFC 6455 asks only that each connection's differ.
    init(nonce: [UInt8]) {
        self.key = nonce.withUnsafeBytes { String(decoding: Base64.encode($0), as: UTF8.self) }
        self.expectedAccept = Self.accept(forKey: self.key)
    }

    /// The `Sec-WebSocket-Accept` value a server must answer `key` with: the base64 of the SHA-1 of the key and
    /// the protocol's GUID (RFC 6455 §4.2.2), which fixes the algorithm.
    static func accept(forKey key: String) -> String {
        let digest = Insecure.SHA1.hash(data: Array((key + self.acceptGUID).utf8))
        return digest.withUnsafeBytes { String(decoding: Base64.encode($0), as: UTF8.self) }
    }

    func request(for endpoint: StreamEndpoint) -> [UInt8] {
        var lines = [
            "GET \(endpoint.requestTarget) HTTP/1.1",
            "Host: \(endpoint.hostHeader)",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: \(self.key)",
            "Sec-WebSocket-Version: 13",
            "User-Agent: exorec-loadgen",
        ]
        if let authorization = endpoint.authorization { lines.append("Authorization: \(authorization)") }
        return Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
    }

    /// Parses the response head in `bytes`; nil while it is still incomplete.
    func parse(_ bytes: [UInt8]) -> Response? {
        guard let end = Self.headEnd(in: bytes) else {
            return bytes.count > Self.maxResponseBytes
                ? .malformed("response head over \(Self.maxResponseBytes) bytes") : nil
        }
        let head = String(decoding: bytes[..<end], as: UTF8.self)
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = lines.first?.split(separator: " ", maxSplits: 2) ?? []
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            return .malformed("not an HTTP response: \(lines.first.map { String($0.prefix(80)) } ?? "")")
        }
        guard status == 101 else { return .refused(status: status) }
        let accept = lines.dropFirst().lazy.compactMap { line -> Substring? in
            guard let colon = line.firstIndex(of: ":"),
                line[..<colon].lowercased() == "sec-websocket-accept"
            else { return nil }
            return line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
        }.first
        guard let accept else { return .malformed("101 without Sec-WebSocket-Accept") }
        guard accept.trimmingSuffix(while: { $0 == " " || $0 == "\t" }) == self.expectedAccept else {
            return .malformed("Sec-WebSocket-Accept \(accept) does not match the key")
        }
        return .upgraded(headerLength: end + 4)
    }

    /// The offset of the `\r\n\r\n` that ends the head.
    static func headEnd(in bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4)
        where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i
        }
        return nil
    }
}

extension Substring {
    fileprivate func trimmingSuffix(while predicate: (Character) -> Bool) -> Substring {
        var end = self.endIndex
        while end > self.startIndex, predicate(self[self.index(before: end)]) { end = self.index(before: end) }
        return self[..<end]
    }
}
