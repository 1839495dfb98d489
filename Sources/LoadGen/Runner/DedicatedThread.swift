import CSystemShims
@preconcurrency import Glibc

/// Runs an event loop on an OS thread of its own, optionally pinned to one CPU.
///
/// The loops block in `epoll_wait` and keep per-connection state no other thread touches, so
/// they get a thread rather than a slot in Swift's cooperative pool, which must never block.
/// Pinning puts the generator and the discard sink on different cores, so that `--sink`
/// measures what one core of generator produces.
enum DedicatedThread {
    private final class Context {
        let name: String
        let cpu: Int?
        let body: @Sendable () -> Void
        init(name: String, cpu: Int?, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.cpu = cpu
            self.body = body
        }
    }

    /// Runs `body` on a new detached thread named `name` (Linux keeps 15 characters) and returns its result.
    static func run<T: Sendable>(
        name: String,
        cpu: Int? = nil,
        _ body: @escaping @Sendable () -> T
    ) async throws(LoadGenError) -> T {
        let result: Result<T, LoadGenError> = await withCheckedContinuation { continuation in
            let context = Unmanaged.passRetained(
                Context(name: name, cpu: cpu) {
                    continuation.resume(returning: .success(body()))
                }
            ).toOpaque()
            var attributes = pthread_attr_t()
            pthread_attr_init(&attributes)
            pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
            defer { pthread_attr_destroy(&attributes) }
            var handle = pthread_t()
            let status = pthread_create(
                &handle,
                &attributes,
                { raw in
                    let context = Unmanaged<Context>.fromOpaque(raw!).takeRetainedValue()
                    _ = csys_name_current_thread(String(context.name.prefix(15)))
                    if let cpu = context.cpu { DedicatedThread.pin(to: cpu) }
                    context.body()
                    return nil
                },
                context
            )
            if status != 0 {
                Unmanaged<Context>.fromOpaque(context).release()
                continuation.resume(returning: .failure(.system(call: "pthread_create", errno: status)))
            }
        }
        return try result.get()
    }

    /// Pins the calling thread to `cpu`; a CPU that does not exist leaves it unpinned.
    static func pin(to cpu: Int) {
        _ = csys_pin_current_thread(Int32(cpu))
    }
}
