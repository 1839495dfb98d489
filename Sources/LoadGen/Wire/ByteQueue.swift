/// A fixed-capacity byte buffer: messages are appended at the tail, the socket drains the head.
///
/// Fixed capacity is what bounds a connection's memory: when the socket does not drain, the
/// sender stops appending instead of growing a queue behind a slow server.
struct ByteQueue: ~Copyable {
    private let storage: UnsafeMutablePointer<UInt8>
    let capacity: Int
    private var head = 0
    private var tail = 0

    init(capacity: Int) {
        self.capacity = capacity
        self.storage = .allocate(capacity: capacity)
    }

    deinit { self.storage.deallocate() }

    var pending: Int { self.tail - self.head }
    var isEmpty: Bool { self.head == self.tail }
    /// The bytes not yet written to the socket.
    var readable: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: self.storage + self.head, count: self.tail - self.head)
    }

    mutating func consume(_ count: Int) {
        self.head += count
        if self.head == self.tail {
            self.head = 0
            self.tail = 0
        }
    }

    /// Room for `count` bytes at the tail, moving the pending bytes to the front if that makes room; nil if it cannot.
    mutating func reserve(_ count: Int) -> UnsafeMutablePointer<UInt8>? {
        if self.capacity - self.tail >= count { return self.storage + self.tail }
        guard self.capacity - self.pending >= count else { return nil }
        let pending = self.pending
        self.storage.update(from: self.storage + self.head, count: pending)
        self.head = 0
        self.tail = pending
        return self.storage + self.tail
    }

    /// Marks `count` bytes written after ``reserve(_:)`` as queued.
    mutating func commit(_ count: Int) { self.tail += count }

    /// Queues `bytes` whole, or nothing if they do not fit.
    mutating func append(_ bytes: [UInt8]) -> Bool {
        guard let target = self.reserve(bytes.count) else { return false }
        bytes.withUnsafeBufferPointer { target.update(from: $0.baseAddress!, count: $0.count) }
        self.commit(bytes.count)
        return true
    }
}
