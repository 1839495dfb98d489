import ExotelKit
import MediaStore

#if canImport(Glibc)
import Glibc
#endif

/// Records one stream into one WAV file and its sidecar, for tests, tools and the fuzzer: the caller
/// has already validated the start (an ``Identity``) and calls ``append(channel:timestampMs:chunk:samples:)``
/// per frame. The ingest does not use it: its `StreamSession` drives a ``StreamMachine``.
///
/// Placement is the machine's own: frames go through a ``StreamMachine/Timeline`` (by timestamp or
/// chunk, reorder window, gaps, duplicates, late frames, the gap and duration limits) into a
/// ``StreamMachine/WriteBuffer`` (which enforces the 4 GB limit of a WAV file), drained into the
/// ``SoundFile`` once `writeBufferSamples` are waiting, at `flush` and at `tick`. The WAV header is
/// rewritten by `tick`, so a reader of the growing file sees a valid header that lags by at most one tick.
///
/// Not `Sendable`: one owner, one thread. The slow end of a stream (fsync, SHA-256, read-only) is not
/// done here but by `StreamFinalizer`.
public final class StreamRecorder {
    /// A stream's recording settings (`recording.*`), the ingest's too: ``StreamMachine/Configuration``
    /// and `IngestConfiguration` carry one.
    public struct Configuration: Sendable, Hashable {
        public var reorderWindowMs: Int = 100
        public var maxGapMs: Int = 600_000
        /// The longest stream kept: 4 h 10 min, the platform's longest call (`TimeLimit` 14400 s) and
        /// some ringing. Audio placed past it ends the stream (1008).
        public var maxDurationMs: Int = 15_000_000
        /// The most samples buffered before a write (flushed earlier by `tick`). The ingest's buffer
        /// starts at 4096 samples and doubles up to this only for a stream that fills it before its
        /// flush age (a flood), so real-time streams stay small and saturation gets 64 KiB writes.
        public var writeBufferSamples: Int = 32_768
        /// The most a growing file's header may lag behind its audio.
        public var headerUpdateIntervalMs: Int64 = 1000
        /// How often a changed sidecar (new gaps, duplicates, …) is rewritten while recording.
        public var sidecarUpdateIntervalMs: Int64 = 5000
        /// A plain WAV's sizes are 32-bit: a stream that would pass this is ended rather than corrupted.
        public var maxDataBytes: Int64 = 4_000_000_000

        public init() {}
    }

    /// Who the stream is (folder, sidecar); ``StreamIdentity`` in MediaStore.
    public typealias Identity = StreamIdentity
    /// Where a frame went: the machine's placement.
    public typealias Placement = StreamMachine.Timeline.Placement

    public let wavPath: String
    public let sidecarPath: String
    public let sampleRate: Int
    public private(set) var sidecar: StreamSidecar
    /// The first write failure (or the 4 GB limit); once set, no more frames are taken and the stream
    /// should end.
    public private(set) var writeError: MediaError?

    private let configuration: Configuration
    private var descriptor: Int32
    /// 0 until the layout is fixed: until then `timeline` is a placeholder and frames are refused.
    private var channelCount = 0
    private var file: SoundFile?
    private var timeline: StreamMachine.Timeline
    private var output: StreamMachine.WriteBuffer
    /// Samples waiting in `output` that make a write due.
    private let writeThreshold: Int
    /// Sample frames handed to the file (its header is brought up to date at the next `tick`).
    public private(set) var framesWritten: Int64 = 0
    private var headerDirty = false
    /// A write to the file failed: nothing more is written (the limit alone still lets what fits through).
    private var writesBroken = false
    private var lastSidecarWriteMs: Int64 = 0
    private var sidecarCounters = SidecarCounters()
    private var finished = false

    public init(
        layout: StorageLayout,
        identity: Identity,
        sampleRate: Int,
        startedAt: Timestamp,
        configuration: Configuration,
        exorecVersion: String
    ) throws(MediaError) {
        let directory = identity.directory(in: layout, startedAt: startedAt)
        let reserved = try layout.reserveStreamFile(in: directory, streamSid: identity.streamSid)
        self.wavPath = reserved.wavPath
        self.sidecarPath = reserved.sidecarPath
        self.descriptor = reserved.descriptor
        self.sampleRate = sampleRate
        self.configuration = configuration
        self.writeThreshold = max(configuration.writeBufferSamples, 512)
        self.timeline = StreamMachine.Timeline(.init(sampleRate: 8000, channels: 1, reorderWindowMs: 0, maxGapMs: 0))
        self.output = StreamMachine.WriteBuffer(capacity: self.writeThreshold, limitBytes: configuration.maxDataBytes)
        self.sidecar = StreamSidecar(
            identity: identity,
            sampleRate: sampleRate,
            startedAt: startedAt,
            file: String(reserved.wavPath.split(separator: "/").last ?? ""),
            exorecVersion: exorecVersion
        )
        // The sidecar exists before any audio, so start-up repair can always find an open file.
        try self.sidecar.write(to: self.sidecarPath, durable: false)
    }

    deinit {
        if self.descriptor >= 0 { close(self.descriptor) }
        if let file { try? file.close() }
    }

    /// Sample frames the timeline has committed: written, waiting in the write buffer, or (past
    /// `maxDataBytes`) dropped. Equals `framesWritten` plus what is buffered until the size limit.
    public var committedFrames: Int64 { self.channelCount == 0 ? 0 : self.timeline.committed }

    /// 1 or 2 once known; `nil` before the first frame (or an explicit `setChannels`).
    public var channels: Int? { self.channelCount == 0 ? nil : self.channelCount }

    /// Fixes the channel layout and creates the WAV. Later calls with another count are ignored:
    /// the layout of a file never changes.
    public func setChannels(_ channels: Int) throws(MediaError) {
        guard self.file == nil else { return }
        let fd = self.descriptor
        self.descriptor = -1
        self.file = try SoundFile.create(
            path: self.wavPath,
            descriptor: fd,
            format: .wav16,
            sampleRate: self.sampleRate,
            channels: channels
        )
        self.timeline = StreamMachine.Timeline(
            .init(
                sampleRate: self.sampleRate,
                channels: channels,
                reorderWindowMs: self.configuration.reorderWindowMs,
                maxGapMs: self.configuration.maxGapMs,
                maxDurationMs: self.configuration.maxDurationMs
            )
        )
        self.sidecar.channels = channels
        self.channelCount = channels
        self.sidecar.channelMap = StreamSidecar.channelMap(channels: channels)
        try self.sidecar.write(to: self.sidecarPath, durable: false)
    }

    /// Places one frame of one channel's samples (see ``StreamMachine/Timeline``); `.late` once the
    /// stream is finished or a write failed, or before the layout is fixed.
    @discardableResult
    public func append(
        channel: Int,
        timestampMs: Int64?,
        chunk: Int64?,
        samples: UnsafeBufferPointer<Int16>
    ) -> Placement {
        guard self.channelCount > 0, self.writeError == nil, !self.finished else { return .late }
        self.sidecar.mediaMessages += 1
        let placement = self.timeline.place(
            channel: channel,
            timestampMs: timestampMs,
            chunk: chunk,
            samples: samples,
            into: &self.output
        )
        self.committed(frameSamples: samples.count)
        return placement
    }

    /// Records a DTMF digit (bounded, so a misbehaving sender cannot grow the sidecar forever).
    public func recordDTMF(digit: String, durationMs: Int64?, at time: Timestamp) {
        guard self.sidecar.dtmf.count < StreamMachine.maxDTMF else { return }
        self.sidecar.dtmf.append(.init(digit: String(digit.prefix(8)), durationMs: durationMs, receivedAt: time))
    }

    /// The end of the stream's timeline in sample frames: committed audio plus what waits for a hole to
    /// fill. In-order audio received next is placed here (where a pause starts or ends).
    public var timelineEnd: Int64 {
        self.channelCount == 0 ? 0 : self.timeline.committed + self.timeline.pendingFrames
    }

    /// Replaces the sidecar's pause intervals and rewrites the sidecar now (pauses are rare, and the file
    /// should say so before the stream ends).
    public func recordPauses(_ pauses: [StreamSidecar.Pause]) {
        self.sidecar.pauses = pauses.isEmpty ? nil : pauses
        try? self.sidecar.write(to: self.sidecarPath, durable: false)
    }

    public func recordMark() { self.sidecar.marks += 1 }
    public func recordUnknownEvent() { self.sidecar.unknownEvents += 1 }
    public func recordInvalidMessage(code: String) { self.sidecar.invalidMessages[code, default: 0] += 1 }

    /// `true` while committed audio waits in the write buffer for `flush`.
    public var hasBufferedAudio: Bool { !self.output.isEmpty }

    /// Housekeeping, called once per `headerUpdateIntervalMs`: flush, bring the header up
    /// to date if audio was written since the last time, and rewrite the sidecar if its counters
    /// changed (at most every `sidecarUpdateIntervalMs`).
    public func tick(monotonicMs now: Int64) {
        self.flush()
        if self.headerDirty {
            self.file?.updateHeader()
            self.headerDirty = false
        }
        if now - self.lastSidecarWriteMs >= self.configuration.sidecarUpdateIntervalMs {
            let counters = self.channelCount == 0 ? SidecarCounters() : SidecarCounters(self.timeline)
            if counters != self.sidecarCounters {
                self.sidecarCounters = counters
                self.lastSidecarWriteMs = now
                self.refreshSidecarStatistics()
                try? self.sidecar.write(to: self.sidecarPath, durable: false)
            }
        }
    }

    /// Writes buffered audio to the file (the kernel's page cache survives a crash of this process).
    /// After a failed write the rest is dropped, and so is everything later.
    public func flush() {
        guard let file = self.file else { return }
        while let chunk = self.output.next() {
            do throws(MediaError) {
                try file.write(chunk)
                self.framesWritten += Int64(chunk.count / max(self.channelCount, 1))
                self.headerDirty = true
            } catch {
                self.writesBroken = true
                self.writeError = self.writeError ?? error
                self.output.discard()
                return
            }
        }
    }

    /// Ends the stream: commits what is staged, writes the final header, closes the file, and
    /// returns the sidecar for `StreamFinalizer` to complete (SHA-256, fsync, read-only).
    public func finish(closeReason: String, endedAt: Timestamp) -> StreamSidecar {
        if !self.finished {
            self.finished = true
            if self.file == nil {
                // No media arrived: still leave a valid (empty) WAV, one per stream.
                try? self.setChannels(1)
            }
            if self.channelCount > 0 && !self.writesBroken {
                self.timeline.finish(into: &self.output)
                self.committed(frameSamples: 0)
            }
            self.flush()
            do { try self.file?.close() } catch { self.writeError = self.writeError ?? error }
            self.refreshSidecarStatistics()
            self.sidecar.endedAt = endedAt
            self.sidecar.closeReason = closeReason
            if let writeError { self.sidecar.closeReason = "\(closeReason); write failed: \(writeError.code)" }
        }
        return self.sidecar
    }

    /// The timeline committed audio into the write buffer: past the 4 GB limit the stream ends (what
    /// fits is still written); a full buffer is written now.
    private func committed(frameSamples: Int) {
        if self.output.limitReached && self.writeError == nil {
            self.writeError = .shortWrite(
                path: self.wavPath,
                wrote: 0,
                of: frameSamples,
                reason: "the 4 GB limit of a WAV file is reached"
            )
        }
        if self.output.pendingSamples >= Int64(self.writeThreshold) { self.flush() }
    }

    private func refreshSidecarStatistics() {
        let channels = Int64(max(self.channelCount, 1))
        self.sidecar.frames = self.framesWritten + self.output.pendingSamples / channels
        self.sidecar.durationSeconds = Double(self.sidecar.frames) / Double(self.sampleRate)
        guard self.channelCount > 0 else { return }
        let rate = Int64(self.sampleRate)
        self.sidecar.gaps = self.timeline.gaps.map {
            .init(channel: $0.channel, startMs: $0.start * 1000 / rate, durationMs: $0.length * 1000 / rate)
        }
        self.sidecar.gapMsTotal = self.timeline.gapFramesTotal * 1000 / rate
        self.sidecar.duplicates = self.timeline.duplicates
        self.sidecar.lateFrames = self.timeline.lateFrames
        self.sidecar.reorderedFrames = self.timeline.reorderedFrames
    }

    private struct SidecarCounters: Equatable {
        var gaps = 0, gapFrames: Int64 = 0, duplicates: Int64 = 0, late: Int64 = 0
        init() {}
        init(_ timeline: borrowing StreamMachine.Timeline) {
            self.gaps = timeline.gaps.count
            self.gapFrames = timeline.gapFramesTotal
            self.duplicates = timeline.duplicates
            self.late = timeline.lateFrames
        }
    }
}
