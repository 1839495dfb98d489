import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Connections open at once per source address, shared by every connection of one door: a single
/// source beyond its share is closed at once, so it cannot take all of the door's
/// `max_connections` (and so every legitimate sender's place) with idle sockets.
final class SourceConnectionLimit: Sendable {
    let limit: Int
    private let open = Mutex<[String: Int]>([:])
    private let refusals = RefusalLog()
    private let logger: Logger
    private let counters: DoorConnectionCounters

    init(limit: Int, counters: DoorConnectionCounters, logger: Logger) {
        self.limit = limit
        self.counters = counters
        self.logger = logger
    }

    /// Counts a new connection from `source`; false (and nothing counted) when it is over the limit.
    func admit(_ source: String) -> Bool {
        let admitted = self.open.withLock { open in
            let count = open[source, default: 0]
            guard count < self.limit else { return false }
            open[source] = count + 1
            return true
        }
        if !admitted { self.counters.refusedPerSource() }
        if !admitted, let suppressed = self.refusals.shouldLog(source) {
            self.logger.warning(
                "refused a connection: too many from one source",
                metadata: ["remote": "\(source)", "limit": "\(self.limit)", "suppressed_since_last": "\(suppressed)"]
            )
        }
        return admitted
    }

    func release(_ source: String) {
        self.open.withLock { open in
            let count = open[source, default: 0] - 1
            open[source] = count > 0 ? count : nil
        }
    }

    /// Connections open from `source` now (tests).
    func count(_ source: String) -> Int { self.open.withLock { $0[source, default: 0] } }
}

/// Applies a ``SourceConnectionLimit`` to one connection: admitted when it becomes active, released
/// when it closes, closed at once when its source already has its share.
final class SourceConnectionLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let limit: SourceConnectionLimit
    private var admitted: String?

    init(limit: SourceConnectionLimit) {
        self.limit = limit
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.admit(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.admit(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.release()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.release()
    }

    private func admit(context: ChannelHandlerContext) {
        guard self.admitted == nil else { return }
        let source = context.channel.remoteAddress?.ipAddress ?? "unknown"
        if self.limit.admit(source) {
            self.admitted = source
        } else {
            context.close(promise: nil)
        }
    }

    private func release() {
        guard let source = self.admitted else { return }
        self.admitted = nil
        self.limit.release(source)
    }
}

@available(*, unavailable)
extension SourceConnectionLimitHandler: Sendable {}
