import Dispatch
import Logging

/// Completes finished streams off the ingest thread: fsync, SHA-256 into the sidecar, file made
/// read-only, sidecar written durably.
///
/// Hashing an hour of audio reads tens of megabytes and fsync takes hundreds of microseconds, so
/// none of it may run on the event loop. Jobs run one at a time on a private serial queue, in the
/// order they were submitted.
public final class StreamFinalizer: Sendable {
    public typealias Completion = @Sendable (Result<StreamSidecar, MediaError>) -> Void

    private let queue = DispatchQueue(label: "exorec.finalizer")
    private let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// Finalizes `sidecar`'s WAV (closed already) and calls `completion` on the finalizer's queue.
    public func submit(_ sidecar: StreamSidecar, wavPath: String, sidecarPath: String, completion: @escaping Completion)
    {
        self.queue.async {
            let result = Result { () throws(MediaError) -> StreamSidecar in
                try Self.finalize(sidecar, wavPath: wavPath, sidecarPath: sidecarPath)
            }
            if case .failure(let error) = result {
                self.logger.error("stream finalize failed", metadata: ["path": "\(wavPath)", "error": "\(error)"])
            }
            completion(result)
        }
    }

    /// Waits until every job submitted so far is done.
    public func drain() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            self.queue.async { continuation.resume() }
        }
    }

    /// The finalize steps themselves, also used by start-up repair.
    public static func finalize(
        _ sidecar: StreamSidecar,
        wavPath: String,
        sidecarPath: String
    ) throws(MediaError) -> StreamSidecar {
        var done = sidecar
        try FileSystem.sync(wavPath)
        done.bytes = try FileSystem.size(of: wavPath)
        done.sha256 = try FileSystem.sha256(of: wavPath)
        if done.state == .recording { done.state = .complete }
        try FileSystem.makeReadOnly(wavPath)
        try done.write(to: sidecarPath, durable: true)
        return done
    }
}
