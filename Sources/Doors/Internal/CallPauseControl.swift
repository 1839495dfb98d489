public import MediaStore

/// What `POST /v1/calls/CALLSID/pause` and `/resume` act on: the orchestrator gives the one that knows
/// the catalog, the live streams (``Ingest/CallPauses``) and the audit log (`CatalogCallPauseControl`).
/// The CallSid has passed ``PathSafeIdentifier`` before it gets here.
public protocol CallPauseControl: Sendable {
    func pause(callSid: PathSafeIdentifier, request: CallPauseRequest) async throws -> CallPauseAnswer
    func resume(callSid: PathSafeIdentifier, request: CallPauseRequest) async throws -> CallPauseAnswer
}

/// Who asked, and why: the request body's `by` and `reason` (bounded, control characters refused), and
/// the door's client address.
public struct CallPauseRequest: Sendable, Hashable {
    public var by: String?
    public var reason: String?
    public var remoteAddress: String

    public init(by: String?, reason: String?, remoteAddress: String) {
        self.by = by
        self.reason = reason
        self.remoteAddress = remoteAddress
    }

    /// `by`, or the client address when the request named nobody.
    public var actor: String { self.by ?? "api:\(self.remoteAddress)" }
}

/// The call's pause state after a request.
public struct CallPauseAnswer: Sendable, Hashable {
    public enum Outcome: String, Sendable, Hashable {
        /// Paused now.
        case paused
        /// It was paused already: that pause goes on, unchanged.
        case alreadyPaused = "already_paused"
        /// The pause is lifted.
        case resumed
        /// A resume of a call that was not paused: nothing changed.
        case notPaused = "not_paused"
        /// No call with this CallSid is catalogued or streaming (404).
        case unknownCall = "unknown_call"
        /// Too many calls are paused at once (503).
        case full
    }

    public var outcome: Outcome
    public var callSid: String
    /// When the (current or lifted) pause was accepted.
    public var pausedAt: Timestamp?
    /// When the pause was lifted (`resumed` only).
    public var resumedAt: Timestamp?
    public var by: String?
    public var reason: String?
    /// Streams of the call recording at the time of the answer.
    public var liveStreams: Int

    public init(
        outcome: Outcome,
        callSid: String,
        pausedAt: Timestamp? = nil,
        resumedAt: Timestamp? = nil,
        by: String? = nil,
        reason: String? = nil,
        liveStreams: Int = 0
    ) {
        self.outcome = outcome
        self.callSid = callSid
        self.pausedAt = pausedAt
        self.resumedAt = resumedAt
        self.by = by
        self.reason = reason
        self.liveStreams = liveStreams
    }

    /// Whether the call is paused after the request.
    public var isPaused: Bool { self.outcome == .paused || self.outcome == .alreadyPaused }
}
