import MediaStore

/// One stream's view of its call's pause: which pause (if any) is in force for the frames it handles,
/// and the intervals for the sidecar. Pure bookkeeping, no I/O and no clock: the session tells it where
/// the stream's timeline ends and what time it is.
///
/// A pause takes effect at the first frame (or housekeeping round) the session handles after the
/// registry changed; its interval starts at the timeline's end at that moment and ends likewise at the
/// resume. A pause still open when the stream ends is closed there (`ended_with_stream`).
struct StreamPauseTracker {
    /// The registry generation this tracker last applied.
    private(set) var seenGeneration: UInt64 = 0
    /// The pause in force, or nil.
    private(set) var current: CallPauses.Entry?
    /// Closed and open intervals, oldest first.
    private(set) var intervals: [StreamSidecar.Pause] = []

    /// The most intervals one stream keeps (a client pausing in a loop cannot grow the sidecar forever);
    /// past it, pauses still silence audio but later intervals are merged into the last.
    static let maxIntervals = 1000

    var isPaused: Bool { self.current != nil }

    /// Applies the call's state as read from the registry at `generation`. Returns true when the
    /// intervals changed (the sidecar should be rewritten).
    mutating func apply(_ entry: CallPauses.Entry?, generation: UInt64, timelineEnd: Int64, now: Timestamp) -> Bool {
        self.seenGeneration = generation
        guard entry?.id != self.current?.id else { return false }
        if self.current != nil {
            self.close(at: timelineEnd, time: now, endedWithStream: false)
        }
        if let entry {
            if self.intervals.count >= Self.maxIntervals, var last = self.intervals.popLast() {
                // Reopen the last interval: the stretch between is counted as paused (silence is the safe side).
                last.endFrame = nil
                last.resumedAt = nil
                self.intervals.append(last)
            } else {
                self.intervals.append(
                    StreamSidecar.Pause(
                        startFrame: timelineEnd,
                        pausedAt: entry.pausedAt,
                        by: entry.by,
                        reason: entry.reason
                    )
                )
            }
        }
        self.current = entry
        return true
    }

    /// The stream ends: an open pause is closed at its end. Returns true when that changed the intervals.
    mutating func streamEnded(timelineEnd: Int64, at time: Timestamp) -> Bool {
        guard self.current != nil else { return false }
        self.close(at: timelineEnd, time: time, endedWithStream: true)
        self.current = nil
        return true
    }

    private mutating func close(at frame: Int64, time: Timestamp, endedWithStream: Bool) {
        guard var last = self.intervals.popLast() else { return }
        if last.endFrame == nil {
            last.endFrame = max(frame, last.startFrame)
            last.resumedAt = time
            last.endedWithStream = endedWithStream
        }
        self.intervals.append(last)
    }
}
