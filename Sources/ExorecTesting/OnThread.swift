import Foundation

/// Runs blocking work (sockets, waiting for a process) on a thread of its own, so the cooperative
/// pool stays free for the servers under test: 2 cores give the pool only 2 threads, and a test that
/// blocks one of them slows every other test running beside it.
public func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do { continuation.resume(returning: try work()) } catch { continuation.resume(throwing: error) }
        }
        thread.start()
    }
}
