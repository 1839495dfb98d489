/// One stream's client side: its socket, what it has queued, and where it is in the protocol.
///
/// The connection decides what to queue next (``queueDueMessages(template:plan:batchBytes:now:)``); ``LoadRunner`` does
/// the I/O and the timing. Not `Sendable`: it lives on the generator's loop thread.
final class WebSocketClientConnection {
    enum Phase: Equatable {
        /// Not opened yet.
        case waiting
        /// Non-blocking connect in progress.
        case connecting
        /// Upgrade request sent; reading the response head.
        case upgrading
        /// Upgraded and `connected` sent; waiting for the stream's start time.
        case ready
        /// `start` sent; media steps going out.
        case streaming
        /// `stop` and the close frame queued; waiting for the server to close.
        case closing
        case finished
    }

    let index: Int
    let streamSid: String
    let callSid: String
    private let sid: [UInt8]
    var fd: Int32 = -1
    var phase = Phase.waiting
    var failure: StreamFailure?
    var out: ByteQueue
    let handshake: WebSocketHandshake
    /// Response bytes gathered while upgrading.
    var response: [UInt8] = []
    var reader = FrameReader()
    /// A pong that did not fit in the buffer yet; sent before any further media.
    var owedPong: [UInt8]?

    /// False once a write hit `EAGAIN`, until epoll reports the socket writable again (edge-triggered:
    /// epoll reports only the change, so the connection must remember it).
    var writable = false
    /// Whether the runner's list of connections to serve again holds this one.
    var inReadyList = false
    /// Handshake, close or stall deadline (monotonic ns); 0 when none applies.
    var deadline: UInt64 = 0
    var lastProgress: UInt64 = 0
    /// While closing: the fewest unacknowledged bytes seen in the socket, to tell a server still
    /// working through its backlog from one that stopped.
    var unacknowledged = Int.max

    /// The next 100 ms step to queue (0-based).
    private var nextFrame = 0
    /// Real time: steps whose time has come; flooding ignores it.
    var stepsDue = 0
    /// Real time: steps handed to ``stepsDue`` so far, so the runner knows when to stop scheduling.
    var stepsScheduled = 0
    /// When step 0 was due; step k is due `k × 100 ms` later.
    var firstDue: UInt64 = 0
    private var sequence = 1
    private(set) var mediaQueued = 0
    /// Bytes ever queued and ever accepted by the socket; `stop` is delivered once `sent` reaches `stopEnd`.
    private var queued = 0
    private(set) var sent = 0
    private var stopEnd = Int.max
    private(set) var maxLagNanoseconds: UInt64 = 0
    private(set) var lateSteps = 0

    init(index: Int, plan: LoadPlan, bufferCapacity: Int) {
        self.index = index
        self.streamSid = plan.streamSid(index)
        self.callSid = plan.callSid(index)
        self.sid = Array(self.streamSid.utf8)
        self.out = ByteQueue(capacity: bufferCapacity)
        let nonce = Self.bigEndianBytes(plan.runID.value) + Self.bigEndianBytes(UInt64(index))
        self.handshake = WebSocketHandshake(nonce: nonce)
    }

    private static func bigEndianBytes(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> UInt64(56 - 8 * $0)) }
    }

    var isHandshaking: Bool { self.phase == .connecting || self.phase == .upgrading }
    var stopDelivered: Bool { self.sent >= self.stopEnd }
    var closeFrameDelivered: Bool { self.phase == .closing && self.out.isEmpty }

    /// Queues `bytes` whole (a control frame or a one-off message); false if the buffer is full.
    @discardableResult
    func queue(_ bytes: [UInt8]) -> Bool {
        guard self.out.append(bytes) else { return false }
        self.queued += bytes.count
        return true
    }

    func didSend(_ count: Int, at now: UInt64) {
        self.out.consume(count)
        self.sent += count
        self.lastProgress = now
    }

    /// Queues `start`, making the stream live.
    func begin(template: FrameTemplate, plan: LoadPlan) {
        let start = template.startFrame(streamSid: self.streamSid, callSid: self.callSid, runID: plan.runID)
        // The buffer holds at least a few steps and is empty after the upgrade, so `start` always fits.
        precondition(self.queue(start), "stream buffer smaller than a start message")
        self.phase = .streaming
    }

    /// Queues as many media steps as are due and fit, then `stop` and the close frame after the last one.
    ///
    /// Flooding queues until `batchBytes` are pending: one `send` then carries dozens of frames.
    /// Real time queues the steps whose time has come. Returns the media messages queued.
    @discardableResult
    func queueDueMessages(template: FrameTemplate, plan: LoadPlan, batchBytes: Int, now: UInt64) -> Int {
        guard self.phase == .streaming else { return 0 }
        let flood = plan.pace == .flood
        let channels = plan.channels
        let stepBytes = template.maxStepBytes
        var messages = 0
        self.sid.withUnsafeBufferPointer { sid in
            while self.nextFrame < plan.frames, flood || self.stepsDue > 0 {
                if flood && self.out.pending >= batchBytes { break }
                guard let target = self.out.reserve(stepBytes) else { break }
                var written = 0
                for channel in 0..<channels {
                    self.sequence += 1
                    written += template.writeMedia(
                        stream: self.index,
                        sid: sid.baseAddress!,
                        channel: channel,
                        frame: self.nextFrame,
                        sequence: self.sequence,
                        into: target + written
                    )
                }
                self.out.commit(written)
                self.queued += written
                if !flood {
                    self.noteLag(now: now)
                    self.stepsDue -= 1
                }
                self.nextFrame += 1
                messages += channels
            }
        }
        self.mediaQueued += messages
        if self.nextFrame == plan.frames {
            let stop = template.stopFrame(streamSid: self.streamSid, callSid: self.callSid, sequence: self.sequence + 1)
            if self.queue(stop + WebSocketFrame.clientNormalClose) {
                self.stopEnd = self.queued - WebSocketFrame.clientNormalClose.count
                self.phase = .closing
            }
        }
        return messages
    }

    private func noteLag(now: UInt64) {
        let due = self.firstDue + UInt64(self.nextFrame) * UInt64(LoadPlan.frameMilliseconds) * 1_000_000
        guard now > due else { return }
        let lag = now - due
        self.maxLagNanoseconds = max(self.maxLagNanoseconds, lag)
        if lag >= UInt64(LoadPlan.frameMilliseconds) * 1_000_000 { self.lateSteps += 1 }
    }
}
