import Logging
import MediaStore

/// The PCI pause hook: the registry (``CallPauses``) is consulted with one atomic load per frame; the
/// bookkeeping is ``StreamPauseTracker``'s.
extension StreamSession {
    /// Whether the frame (or `dtmf`) being handled now falls in a pause; applies a pause or resume of the
    /// call first when the registry changed since this stream last looked.
    @inline(__always)
    func pausedNow() -> Bool {
        let generation = self.ingest.pauses.generation
        if generation != self.pause.seenGeneration { self.applyPauseChange(generation) }
        return self.pause.isPaused
    }

    /// Replaces a frame's decoded samples (the ingest's scratch buffer) with silence.
    static func silence(_ samples: UnsafeBufferPointer<Int16>) {
        guard let base = samples.baseAddress else { return }
        UnsafeMutablePointer(mutating: base).update(repeating: 0, count: samples.count)
    }

    /// At `start`: counts the stream as live for its call, and starts it paused if the call is.
    func startPause(callSid: String) {
        let generation = self.ingest.pauses.generation
        let entry = self.ingest.pauses.streamStarted(callSid: callSid)
        self.pauseCallSid = callSid
        self.applyPause(entry, generation: generation)
    }

    /// At the end of the stream: an open pause is closed at its end; the stream is no longer live.
    func endPause() {
        guard let callSid = self.pauseCallSid else { return }
        self.pauseCallSid = nil
        self.ingest.pauses.streamEnded(callSid: callSid)
        guard let recorder else { return }
        if self.pause.streamEnded(timelineEnd: recorder.timelineEnd, at: .now()) {
            recorder.recordPauses(self.pause.intervals)
        }
    }

    private func applyPauseChange(_ generation: UInt64) {
        guard let callSid = self.pauseCallSid else {
            // Not started yet: `startPause` reads the state then.
            return
        }
        self.applyPause(self.ingest.pauses.pause(of: callSid), generation: generation)
    }

    private func applyPause(_ entry: CallPauses.Entry?, generation: UInt64) {
        guard let recorder else { return }
        guard self.pause.apply(entry, generation: generation, timelineEnd: recorder.timelineEnd, now: .now()) else {
            return
        }
        recorder.recordPauses(self.pause.intervals)
        self.logStreamPause(paused: self.pause.isPaused, at: recorder.timelineEnd)
    }
}

extension StreamSession {
    fileprivate func logStreamPause(paused: Bool, at frame: Int64) {
        self.logger.info(
            paused
                ? "call paused: this stream writes silence and drops dtmf" : "call resumed: this stream records again",
            metadata: ["sample_frame": "\(frame)"]
        )
    }
}
