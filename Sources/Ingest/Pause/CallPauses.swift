public import MediaStore
import Synchronization

/// Which calls are paused (PCI pause): written by the internal door on its NIO threads, read by the
/// stream sessions on the ingest's service thread.
///
/// The per-frame cost is one atomic load: a session compares ``generation`` with the value it saw
/// last, and only when it changed (a pause or resume of any call, a rare event) takes the lock to read
/// its own call's state. Nothing here allocates on the frame path.
///
/// The state lives in memory: a restart of `exorec serve` ends every stream and forgets the pauses (the
/// audit log keeps each `call.paused` and `call.resumed`). A pause whose call has had no live stream for
/// ``forgetAfterMs`` (longer than the platform's longest call) is forgotten: the call is over, and a desk
/// that paused and never resumed (the caller hung up) does not hold a slot for ever.
public final class CallPauses: Sendable {
    /// One pause of one call, as the door accepted it.
    public struct Entry: Sendable, Hashable {
        /// Distinguishes two pauses of one call that a session might see only after both happened.
        public var id: UInt64
        public var pausedAt: Timestamp
        public var by: String
        public var reason: String?
    }

    /// What a pause request did.
    public enum PauseOutcome: Sendable, Hashable {
        case paused(Entry)
        /// The call was paused already: the earlier pause goes on unchanged.
        case alreadyPaused(Entry)
        /// ``maxPausedCalls`` are paused: refused.
        case full
    }

    /// The most calls paused at once; more is refused (bounded memory, whatever a client sends).
    public static let maxPausedCalls = 10_000
    /// 4 h 10 min: the platform's longest call (`TimeLimit` 14400 s) and some ringing.
    public static let forgetAfterMs: Int64 = 15_000_000

    private struct Paused {
        var entry: Entry
        /// When the call last had no live stream (the pause, or its last stream's end); nil while one is live.
        var idleSince: Timestamp?
    }

    private struct State {
        var paused: [String: Paused] = [:]
        var liveStreams: [String: Int] = [:]
        var nextID: UInt64 = 1
    }

    private let state = Mutex(State())
    private let changes = Atomic<UInt64>(0)

    public init() {}

    /// Bumped after every pause and resume; sessions compare it per frame.
    @inline(__always)
    public var generation: UInt64 { self.changes.load(ordering: .acquiring) }

    public func pause(callSid: String, at time: Timestamp, by: String, reason: String?) -> PauseOutcome {
        let outcome = self.state.withLock { (state: inout State) -> PauseOutcome in
            Self.forgetFinishedCalls(&state, now: time)
            if let paused = state.paused[callSid] { return .alreadyPaused(paused.entry) }
            guard state.paused.count < Self.maxPausedCalls else { return .full }
            let entry = Entry(id: state.nextID, pausedAt: time, by: by, reason: reason)
            state.nextID += 1
            state.paused[callSid] = Paused(entry: entry, idleSince: state.liveStreams[callSid] == nil ? time : nil)
            return .paused(entry)
        }
        if case .paused = outcome { self.changes.add(1, ordering: .releasing) }
        return outcome
    }

    /// Lifts the call's pause; returns it, or nil when the call was not paused.
    public func resume(callSid: String) -> Entry? {
        let entry = self.state.withLock { $0.paused.removeValue(forKey: callSid)?.entry }
        if entry != nil { self.changes.add(1, ordering: .releasing) }
        return entry
    }

    /// The call's pause, or nil.
    public func pause(of callSid: String) -> Entry? {
        self.state.withLock { $0.paused[callSid]?.entry }
    }

    /// Streams of the call recording now.
    public func liveStreams(of callSid: String) -> Int {
        self.state.withLock { $0.liveStreams[callSid] ?? 0 }
    }

    /// A stream of the call started (service thread, once per stream) — returns the call's pause, if any,
    /// read under the same lock, so a stream never starts between a pause and its notice.
    func streamStarted(callSid: String) -> Entry? {
        self.state.withLock { state in
            state.liveStreams[callSid, default: 0] += 1
            state.paused[callSid]?.idleSince = nil
            return state.paused[callSid]?.entry
        }
    }

    func streamEnded(callSid: String, at time: Timestamp = .now()) {
        self.state.withLock { state in
            let left = (state.liveStreams[callSid] ?? 1) - 1
            state.liveStreams[callSid] = left > 0 ? left : nil
            if left <= 0 { state.paused[callSid]?.idleSince = time }
        }
    }

    /// Drops pauses whose call has had no live stream for ``forgetAfterMs`` (at most 10,000 entries, on a pause).
    private static func forgetFinishedCalls(_ state: inout State, now: Timestamp) {
        let cutoff = now.millisecondsSinceEpoch - Self.forgetAfterMs
        state.paused = state.paused.filter { _, paused in
            guard let idle = paused.idleSince else { return true }
            return idle.millisecondsSinceEpoch > cutoff
        }
    }
}
