/// A min-heap of (due time, stream index): which real-time stream sends next.
///
/// Streams get their phase when they start, so a plain heap is simpler than a wheel and,
/// at 20,000 steps a second for 2,000 streams, far from mattering.
struct DueQueue {
    private var heap: [(due: UInt64, stream: Int)] = []

    var isEmpty: Bool { self.heap.isEmpty }
    var next: UInt64? { self.heap.first?.due }

    mutating func push(_ due: UInt64, stream: Int) {
        self.heap.append((due, stream))
        var child = self.heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard self.heap[child].due < self.heap[parent].due else { break }
            self.heap.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    mutating func popDue(_ now: UInt64) -> (due: UInt64, stream: Int)? {
        guard let first = self.heap.first, first.due <= now else { return nil }
        let last = self.heap.removeLast()
        if self.heap.isEmpty { return first }
        self.heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < self.heap.count else { break }
            let right = left + 1
            let smaller = right < self.heap.count && self.heap[right].due < self.heap[left].due ? right : left
            guard self.heap[smaller].due < self.heap[parent].due else { break }
            self.heap.swapAt(smaller, parent)
            parent = smaller
        }
        return first
    }
}
