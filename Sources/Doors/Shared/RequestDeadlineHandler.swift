import NIOCore
import NIOHTTPTypes

/// Closes a connection whose request, once its head has arrived, is not complete (body and all)
/// within a hard deadline. Hummingbird's idle timeout counts every body part as activity, so a
/// body that trickles in (slowloris on the body, or on a refused body the server drains) would
/// otherwise hold the connection for ever.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let deadline: TimeAmount
    private let counters: DoorConnectionCounters
    private var scheduled: Scheduled<Void>?

    init(deadline: TimeAmount, counters: DoorConnectionCounters) {
        self.deadline = deadline
        self.counters = counters
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head:
            self.scheduled?.cancel()
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            let counters = self.counters
            self.scheduled = context.eventLoop.scheduleTask(in: self.deadline) {
                counters.cutAtDeadline()
                loopBound.value.close(promise: nil)
            }
        case .body:
            break
        case .end:
            self.scheduled?.cancel()
            self.scheduled = nil
        }
        context.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.scheduled?.cancel()
        self.scheduled = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.scheduled?.cancel()
        self.scheduled = nil
        context.fireChannelInactive()
    }
}

@available(*, unavailable)
extension RequestDeadlineHandler: Sendable {}
