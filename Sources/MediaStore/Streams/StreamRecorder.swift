import ExotelKit

/// Records one live stream into one WAV file and its sidecar.
///
/// Frames go through a `StreamTimeline` (placement by timestamp, gaps, reordering) into a small
/// write buffer, which the owner flushes on a short timer so that a `kill -9` loses only the last
/// moments of audio, while bursts still reach the disk in large writes. The WAV header is rewritten
/// by `tick`, so a reader of the growing file sees a valid header that lags by at most
/// `headerUpdateIntervalMs`.
///
/// Not `Sendable`: owned by one stream session on the ingest service thread. The slow end of a
/// stream (fsync, SHA-256, read-only) is not done here but by `StreamFinalizer`, off that thread.
public final class StreamRecorder {
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

    /// What the stream start told us, already validated.
    ///
    /// A start may lack the account, the call or even the stream's id (thin test clients send only a top-level
    /// `stream_sid`): the stream is kept all the same. With a call but no account it goes to the call's folder
    /// under the account `_unknown` (``CallSidecar/unknownAccount``); without a call, under
    /// ``StorageLayout/unattachedStreamDirectory(streamSid:startedAt:)``.
    public struct Identity: Sendable, Hashable {
        public var account: PathSafeIdentifier?
        public var callSid: PathSafeIdentifier?
        public var streamSid: PathSafeIdentifier
        /// The start carried no stream_sid: `streamSid` was made up by exorec.
        public var streamSidGenerated: Bool
        /// What the payloads are; G.711 arrives expanded to 16-bit samples.
        public var sourceEncoding: StreamEncoding
        /// `media_format.encoding` as sent.
        public var mediaFormatEncoding: String?
        public var from: String?
        public var to: String?
        public var customParameters: [String: String]
        public var queryParameters: [String: String]

        public init(
            account: PathSafeIdentifier?,
            callSid: PathSafeIdentifier?,
            streamSid: PathSafeIdentifier,
            streamSidGenerated: Bool = false,
            sourceEncoding: StreamEncoding = .pcm16,
            mediaFormatEncoding: String? = nil,
            from: String?,
            to: String?,
            customParameters: [String: String],
            queryParameters: [String: String]
        ) {
            self.account = account
            self.callSid = callSid
            self.streamSid = streamSid
            self.streamSidGenerated = streamSidGenerated
            self.sourceEncoding = sourceEncoding
            self.mediaFormatEncoding = mediaFormatEncoding
            self.from = from
            self.to = to
            self.customParameters = customParameters
            self.queryParameters = queryParameters
        }

        /// The folder this stream's files go to.
        public func directory(in layout: StorageLayout, startedAt: Timestamp) -> String {
            guard let callSid = self.callSid else {
                return layout.unattachedStreamDirectory(streamSid: self.streamSid, startedAt: startedAt)
            }
            return layout.callDirectory(
                account: self.account ?? StorageLayout.unknownAccount,
                callSid: callSid,
                startedAt: startedAt
            )
        }
    }

    public let wavPath: String
    public let sidecarPath: String
    public let sampleRate: Int
    public private(set) var sidecar: StreamSidecar
    /// The first write failure; once set, audio is no longer written and the stream should end.
    public private(set) var writeError: MediaError?

    private let configuration: Configuration
    private var descriptor: Int32
    /// 0 until the layout is fixed; kept apart from the sidecar so the per-frame path never
    /// touches that larger value.
    private var channelCount = 0
    private var file: SoundFile?
    private var timeline: StreamTimeline?
    private let buffer: UnsafeMutablePointer<Int16>
    private let bufferCapacity: Int
    private var buffered = 0
    /// Sample frames handed to the file (its header is brought up to date at the next `tick`).
    public private(set) var framesWritten: Int64 = 0
    private var headerDirty = false
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
        self.bufferCapacity = max(configuration.writeBufferSamples, 512)
        self.buffer = .allocate(capacity: self.bufferCapacity)
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
        self.buffer.deallocate()
        if self.descriptor >= 0 { close(self.descriptor) }
        if let file { try? file.close() }
    }

    /// Sample frames the timeline has committed: written, waiting in the write buffer, or (past
    /// `maxDataBytes`) dropped. Equals `framesWritten` plus what is buffered until the size limit.
    public var committedFrames: Int64 { self.timeline?.committed ?? 0 }

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
        self.timeline = StreamTimeline(
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

    /// Places one frame of one channel's samples (see `StreamTimeline`).
    @discardableResult
    public func append(
        channel: Int,
        timestampMs: Int64?,
        chunk: Int64?,
        samples: UnsafeBufferPointer<Int16>
    ) -> StreamTimeline.Placement {
        guard let timeline = self.timeline, self.writeError == nil, !self.finished else { return .late }
        self.sidecar.mediaMessages += 1
        return timeline.place(channel: channel, timestampMs: timestampMs, chunk: chunk, samples: samples) { committed in
            self.bufferCommitted(committed)
        }
    }

    /// Records a DTMF digit (bounded, so a misbehaving sender cannot grow the sidecar forever).
    public func recordDTMF(digit: String, durationMs: Int64?, at time: Timestamp) {
        guard self.sidecar.dtmf.count < 10_000 else { return }
        self.sidecar.dtmf.append(.init(digit: String(digit.prefix(8)), durationMs: durationMs, receivedAt: time))
    }

    /// The end of the stream's timeline in sample frames: committed audio plus what waits for a hole to
    /// fill. In-order audio received next is placed here (where a pause starts or ends).
    public var timelineEnd: Int64 { self.timeline.map { $0.committed + $0.pendingFrames } ?? 0 }

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
    public var hasBufferedAudio: Bool { self.buffered > 0 }

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
            let counters = SidecarCounters(self.timeline)
            if counters != self.sidecarCounters {
                self.sidecarCounters = counters
                self.lastSidecarWriteMs = now
                self.refreshSidecarStatistics()
                try? self.sidecar.write(to: self.sidecarPath, durable: false)
            }
        }
    }

    /// Writes buffered audio to the file (the kernel's page cache survives a crash of this process).
    public func flush() {
        guard self.buffered > 0, let file = self.file else { return }
        let count = self.buffered
        self.buffered = 0
        do {
            try file.write(UnsafeBufferPointer(start: self.buffer, count: count))
            self.framesWritten += Int64(count / max(self.channelCount, 1))
            self.headerDirty = true
        } catch {
            self.writeError = error
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
            self.timeline?.finish { committed in self.bufferCommitted(committed) }
            self.flush()
            do { try self.file?.close() } catch { self.writeError = self.writeError ?? error }
            self.refreshSidecarStatistics()
            self.sidecar.endedAt = endedAt
            self.sidecar.closeReason = closeReason
            if let writeError { self.sidecar.closeReason = "\(closeReason); write failed: \(writeError.code)" }
        }
        return self.sidecar
    }

    private func bufferCommitted(_ samples: UnsafeBufferPointer<Int16>) {
        guard let base = samples.baseAddress else { return }
        let channels = Int64(max(self.channelCount, 1))
        let projected =
            (self.framesWritten + Int64(self.buffered) / channels + Int64(samples.count) / channels) * channels * 2
        if projected > self.configuration.maxDataBytes {
            if self.writeError == nil {
                self.writeError = .shortWrite(
                    path: self.wavPath,
                    wrote: 0,
                    of: samples.count,
                    reason: "the 4 GB limit of a WAV file is reached"
                )
            }
            return
        }
        if samples.count > self.bufferCapacity - self.buffered { self.flush() }
        if samples.count >= self.bufferCapacity {
            do {
                try self.file?.write(samples)
                self.framesWritten += Int64(samples.count) / channels
                self.headerDirty = true
            } catch {
                self.writeError = error
            }
            return
        }
        (self.buffer + self.buffered).update(from: base, count: samples.count)
        self.buffered += samples.count
    }

    private func refreshSidecarStatistics() {
        let channels = Int64(max(self.channelCount, 1))
        self.sidecar.frames = self.framesWritten + Int64(self.buffered) / channels
        self.sidecar.durationSeconds = Double(self.sidecar.frames) / Double(self.sampleRate)
        guard let timeline else { return }
        let rate = Int64(self.sampleRate)
        self.sidecar.gaps = timeline.gaps.map {
            .init(channel: $0.channel, startMs: $0.start * 1000 / rate, durationMs: $0.length * 1000 / rate)
        }
        self.sidecar.gapMsTotal = timeline.gapFramesTotal * 1000 / rate
        self.sidecar.duplicates = timeline.duplicates
        self.sidecar.lateFrames = timeline.lateFrames
        self.sidecar.reorderedFrames = timeline.reorderedFrames
    }

    private struct SidecarCounters: Equatable {
        var gaps = 0, gapFrames: Int64 = 0, duplicates: Int64 = 0, late: Int64 = 0
        init() {}
        init(_ timeline: StreamTimeline?) {
            guard let timeline else { return }
            self.gaps = timeline.gaps.count
            self.gapFrames = timeline.gapFramesTotal
            self.duplicates = timeline.duplicates
            self.late = timeline.lateFrames
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
