/// One open WebSocket, as the handler sees it. Lives on the service thread only.
///
/// The handler's own state for it is its `Session` (``WebSocketServerHandler/Session``), which the
/// server keeps beside this connection.
///
/// Holds the reassembly buffer for messages that arrive in several receive callbacks, and a
/// pending close that the server carries out at the next writable callback (libwebsockets only
/// closes cleanly, with a close frame, from inside a callback for that connection).
public final class WebSocketConnection {
    public let id: UInt64
    public let remoteAddress: String

    /// Set by `close`; the server sends it as the close frame.
    public private(set) var pendingClose: (code: CloseCode, reason: String)?
    var requestWritable: (() -> Void)?

    var assembly: UnsafeMutableRawPointer?
    var assemblyCount = 0
    var assemblyCapacity = 0
    var assemblyIsBinary = false
    var overflowed = false

    init(id: UInt64, remoteAddress: String) {
        self.id = id
        self.remoteAddress = remoteAddress
    }

    deinit {
        self.assembly?.deallocate()
    }

    /// Asks for the connection to be closed with `code`; the first request wins.
    public func close(_ code: CloseCode, reason: String) {
        guard self.pendingClose == nil else { return }
        // Close reasons travel in a control frame: at most 123 bytes of UTF-8.
        var text = reason
        while text.utf8.count > 123 { text.removeLast() }
        self.pendingClose = (code, text)
        self.requestWritable?()
    }

    public var isClosing: Bool { self.pendingClose != nil }

    func append(_ bytes: UnsafeRawPointer, count: Int, limit: Int) -> Bool {
        let needed = self.assemblyCount + count
        guard needed <= limit else { return false }
        if needed > self.assemblyCapacity {
            var capacity = max(self.assemblyCapacity * 2, 4096)
            while capacity < needed { capacity *= 2 }
            capacity = min(capacity, limit)
            let grown = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
            if let old = self.assembly {
                grown.copyMemory(from: old, byteCount: self.assemblyCount)
                old.deallocate()
            }
            self.assembly = grown
            self.assemblyCapacity = capacity
        }
        (self.assembly! + self.assemblyCount).copyMemory(from: bytes, byteCount: count)
        self.assemblyCount = needed
        return true
    }
}
