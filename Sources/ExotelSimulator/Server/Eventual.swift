import Synchronization

/// A value that exists once the server has bound its socket (the port, and the platform whose recording
/// URLs contain it); requests and callers that arrive earlier wait for it.
final class Eventual<Value: Sendable>: Sendable {
    private enum State {
        case pending([CheckedContinuation<Value, any Error>])
        case resolved(Result<Value, any Error>)
    }

    private let state = Mutex<State>(.pending([]))

    /// Sets the outcome once; later calls are ignored, so a failure after success cannot replace the value.
    func resolve(_ result: Result<Value, any Error>) {
        let waiters: [CheckedContinuation<Value, any Error>] = self.state.withLock { state in
            guard case .pending(let waiters) = state else { return [] }
            state = .resolved(result)
            return waiters
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    /// The value if it is already there, without waiting.
    var resolvedValue: Value? {
        self.state.withLock { state in
            guard case .resolved(.success(let value)) = state else { return nil }
            return value
        }
    }

    var value: Value {
        get async throws {
            try await withCheckedThrowingContinuation { continuation in
                let result: Result<Value, any Error>? = self.state.withLock { state in
                    switch state {
                    case .pending(var waiters):
                        waiters.append(continuation)
                        state = .pending(waiters)
                        return nil
                    case .resolved(let result):
                        return result
                    }
                }
                if let result { continuation.resume(with: result) }
            }
        }
    }
}
