import Dispatch

/// Runs blocking work (reading and hashing files, a password check that holds a core for 0.1 s) on a Dispatch
/// thread, not on one of the few threads Swift concurrency shares with the doors and everything else in the
/// process.
public enum BlockingWork {
    public static func run<T: Sendable>(
        on queue: DispatchQueue = .global(),
        _ work: @escaping @Sendable () throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work() }) }
        }
    }

    public static func run<T: Sendable>(
        on queue: DispatchQueue = .global(),
        _ work: @escaping @Sendable () -> T
    ) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: work()) }
        }
    }
}
