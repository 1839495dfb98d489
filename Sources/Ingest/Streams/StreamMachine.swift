import ExotelKit
import Logging
import MediaStore

/// One stream's rules, as a pure value: events in, actions out.
///
/// Everything the platform's stream protocol and exorec's recording policy decide lives here: waiting
/// for `start` and validating it (encoding, `media_format`, the URL's rate winning, the identity), the
/// channel layout, media placement by timestamp and chunk (``Timeline``: reorder window, gaps,
/// duplicates, late frames, the gap and duration limits), the 4 GB limit of a WAV file, stop, idle,
/// binary and oversized messages, unknown events, dtmf and marks, the PCI pause as it applies to this
/// stream, when audio must be written (``WriteBuffer``), when the header and the sidecar are due, the
/// sidecar's counters, and which problems are logged (once per kind).
///
/// It has no reference to the server, the ingest, the file system, a logger or a clock: times come in
/// with the events, and what must happen goes out as ``Actions`` that the I/O shell (`StreamSession`)
/// performs. Audio is pulled: after an action with `write`, the shell calls ``nextWrite()`` until it
/// returns nil and hands each chunk to the file. Media events in steady state allocate nothing.
///
/// `~Copyable`: it owns the staging and write memory (freed in `deinit`).
public struct StreamMachine: ~Copyable {
    public struct Configuration: Sendable, Hashable {
        public var recorder: StreamRecorder.Configuration
        /// Buffered audio is written once it is this old (at a tick).
        public var flushAfterMs: Int64
        public var idleTimeoutMs: Int64
        /// The rate the StreamUrl asked for (`sample-rate`), which wins over the start's.
        public var requestedRate: Int?
        /// The StreamUrl's query parameters, kept in the sidecar.
        public var queryParameters: [String: String]
        public var exorecVersion: String
        /// The node this server runs as (the sidecar's `node`); nil outside a node (tools, tests).
        public var node: String?

        public init(
            recorder: StreamRecorder.Configuration = .init(),
            flushAfterMs: Int64 = 150,
            idleTimeoutMs: Int64 = 30_000,
            requestedRate: Int? = nil,
            queryParameters: [String: String] = [:],
            exorecVersion: String = "0.1.0",
            node: String? = nil
        ) {
            self.recorder = recorder
            self.flushAfterMs = flushAfterMs
            self.idleTimeoutMs = idleTimeoutMs
            self.requestedRate = requestedRate
            self.queryParameters = queryParameters
            self.exorecVersion = exorecVersion
            self.node = node
        }
    }

    public static let supportedRates: Set<Int> = [8000, 16000, 24000]
    /// The write buffer starts this small (8 KiB) and doubles, up to `recording.write_buffer_samples`
    /// (32,768 samples, 64 KiB, by default), for a stream that fills it before its flush age:
    /// real-time streams stay small, a flood gets large writes.
    public static let initialWriteSamples = 4096
    /// DTMF digits kept per stream.
    public static let maxDTMF = 10_000

    public enum Phase: Sendable, Hashable {
        case waitingForStart, recording, finished
    }

    /// Reserve the stream's files (the shell then calls ``created(fileName:)`` or ``storageFailed(_:)``).
    public struct Creation: Sendable, Hashable {
        public var identity: StreamIdentity
        public var sampleRate: Int
        public var startedAt: Timestamp
    }

    public struct Close: Sendable, Hashable {
        public var code: CloseCode
        public var reason: String
    }

    /// A log line the machine decided on (the shell escapes and writes it).
    public struct Report: Sendable, Hashable {
        public var kind: String
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]
    }

    /// What the shell must do after an event, in this order: log `report`; reserve the files (`create`);
    /// create the WAV with `openAudio` channels; rewrite the sidecar (``sidecar``); publish `started`;
    /// drain ``nextWrite()`` (`write`); refresh the header if ``takeHeaderDirty()``; end the recording
    /// (`finish`: close the file, hand ``finalSidecar(endedAt:)`` to the finalizer); close the socket.
    public struct Actions: Sendable, Hashable {
        public var report: Report?
        public var create: Creation?
        public var openAudio: Int?
        public var rewriteSidecar = false
        public var publishStarted = false
        /// Audio was buffered into an empty write buffer: put the stream on the flush queue.
        public var queueFlush = false
        public var write = false
        public var refreshHeader = false
        /// The stream ended with this (sidecar) close reason, and it had a recording.
        public var finish: String?
        /// The stream ended (with or without a recording): end the pause registration.
        public var ended = false
        public var close: Close?
        /// Where a media frame went (the shell counts frames, bytes, duplicates and late frames).
        public var placement: Timeline.Placement?
        /// The metric kind of a problem (`errors{kind}`).
        public var error: String?
        /// The pause state changed to this (log it).
        public var paused: Bool?

        public init() {}

        mutating func merge(_ other: Actions) {
            self.report = other.report ?? self.report
            self.create = other.create ?? self.create
            self.openAudio = other.openAudio ?? self.openAudio
            self.rewriteSidecar = self.rewriteSidecar || other.rewriteSidecar
            self.publishStarted = self.publishStarted || other.publishStarted
            self.queueFlush = self.queueFlush || other.queueFlush
            self.write = self.write || other.write
            self.refreshHeader = self.refreshHeader || other.refreshHeader
            self.finish = other.finish ?? self.finish
            self.ended = self.ended || other.ended
            self.close = other.close ?? self.close
            self.placement = other.placement ?? self.placement
            self.error = other.error ?? self.error
            self.paused = other.paused ?? self.paused
        }
    }

    public let configuration: Configuration
    public private(set) var phase: Phase = .waitingForStart
    /// What the media payloads are, from the start (PCM until then).
    public private(set) var encoding: StreamEncoding = .pcm16
    public private(set) var identity: StreamIdentity?
    public private(set) var sampleRate = 0
    /// 0 until the layout is fixed.
    public private(set) var channels = 0
    /// The sidecar as it stands (nil until the files exist).
    public private(set) var sidecar: StreamSidecar?
    public private(set) var lastActivityMs: Int64
    /// Sample frames handed to the shell for writing.
    public private(set) var framesWritten: Int64 = 0
    var timeline: Timeline
    var output: WriteBuffer
    private var startedAt: Timestamp?
    /// The start's track list asked for this many channels (applied once the files exist).
    private var announcedChannels = 0
    private var writeThreshold: Int
    private let maxWriteThreshold: Int
    private var bufferedSince: Int64?
    /// Writes in a row that the buffer filled before its flush age; the buffer grows at three, so a
    /// real-time stream that gets a burst after a stall (the service thread lagged) keeps its 8 KiB.
    private var fullWrites = 0
    private var drainingFull = false
    private var headerDirty = false
    private var lastSidecarWriteMs: Int64 = 0
    private var sidecarCounters = SidecarCounters()
    /// Why the stream's audio stopped being stored (the sidecar's close reason says so).
    private var writeFailure: String?
    /// A write failed: nothing more is handed out (audio within the 4 GB limit still is).
    private var writesBroken = false
    private var closeReason = ""
    private var pause = StreamPauseTracker()
    private var reported: Set<String> = []
    private var mediaMessages: Int64 = 0
    /// The files exist (``created(fileName:)``): the sidecar is set.
    private var hasFiles = false

    public init(configuration: Configuration, now: Int64) {
        self.configuration = configuration
        self.lastActivityMs = now
        self.maxWriteThreshold = max(configuration.recorder.writeBufferSamples, 512)
        self.writeThreshold = min(Self.initialWriteSamples, self.maxWriteThreshold)
        self.timeline = Timeline(.init(sampleRate: 8000, channels: 1, reorderWindowMs: 0, maxGapMs: 0))
        self.output = WriteBuffer(capacity: 0, limitBytes: configuration.recorder.maxDataBytes)
    }

    public var isPaused: Bool { self.pause.isPaused }
    /// The pause registry's generation this stream last applied.
    public var pauseGeneration: UInt64 { self.pause.seenGeneration }
    public var pauseIntervals: [StreamSidecar.Pause] { self.pause.intervals }
    /// Audio waits in the write buffer.
    public var hasBufferedAudio: Bool { !self.output.isEmpty }
    /// Samples the write buffer holds memory for (real-time streams stay at the initial size).
    public var writeBufferCapacity: Int { self.output.capacity }
    /// The end of the timeline in sample frames (where a pause starts or ends).
    public var timelineEnd: Int64 { self.channels == 0 ? 0 : self.timeline.committed + self.timeline.pendingFrames }

    // MARK: - Events

    /// Any message arrived (for the idle timeout).
    public mutating func activity(now: Int64) { self.lastActivityMs = now }

    public mutating func start(_ start: StreamStart, at time: Timestamp) -> Actions {
        guard self.phase == .waitingForStart else {
            return self.phase == .finished ? Actions() : self.invalid("duplicate-start", "second start event ignored")
        }
        guard let encoding = StreamEncoding(mediaFormatEncoding: start.mediaFormat?.encoding) else {
            // Nothing is written: audio read as the wrong encoding would be stored noise.
            let given = LogText.escaped(start.mediaFormat?.encoding ?? "", limit: 40)
            return self.fail(
                "unsupported-encoding",
                .unsupportedData,
                "media_format.encoding \"\(given)\" is not PCM, mu-law or A-law"
            )
        }
        // A rate the URL gives wins over the start's, so only then is a broken one in the start harmless.
        let format = start.mediaFormat
        let requested = self.configuration.requestedRate
        if let invalid = (requested == nil ? format?.sampleRateProblem : nil) ?? format?.bitRateProblem {
            return self.fail("invalid-media-format", .unsupportedData, invalid)
        }
        let identity: StreamIdentity
        do throws(MediaError) {
            identity = try StreamStartIdentity.identity(
                of: start,
                encoding: encoding,
                queryParameters: self.configuration.queryParameters
            )
        } catch {
            return self.fail("invalid-identifier", .policyViolation, error.description)
        }
        let rate: Int
        if let requested {
            rate = requested
        } else if let announced = format?.sampleRate {
            guard Self.supportedRates.contains(announced) else {
                return self.fail(
                    "unsupported-sample-rate",
                    .unsupportedData,
                    "sample rate \(announced) is not 8000, 16000 or 24000"
                )
            }
            rate = announced
        } else {
            rate = 8000  // the platform's default (exotel-platform.md §1.2)
        }
        self.encoding = encoding
        self.identity = identity
        self.sampleRate = rate
        self.startedAt = time
        self.phase = .recording
        if let tracks = start.tracks, !tracks.isEmpty { self.announcedChannels = Set(tracks).count == 2 ? 2 : 1 }
        var actions = Actions()
        actions.create = Creation(identity: identity, sampleRate: rate, startedAt: time)
        return actions
    }

    /// The shell reserved the files: the sidecar exists before any audio (start-up repair finds it).
    public mutating func created(fileName: String) -> Actions {
        guard let identity, let startedAt else { return Actions() }
        self.sidecar = StreamSidecar(
            identity: identity,
            sampleRate: self.sampleRate,
            startedAt: startedAt,
            file: fileName,
            exorecVersion: self.configuration.exorecVersion,
            node: self.configuration.node
        )
        self.hasFiles = true
        var actions = Actions()
        actions.rewriteSidecar = true
        actions.publishStarted = true
        if self.announcedChannels > 0 { actions.merge(self.fixChannels(self.announcedChannels)) }
        return actions
    }

    /// Reserving the files, creating the WAV or writing the first sidecar failed.
    public mutating func storageFailed(_ error: MediaError) -> Actions {
        self.fail(
            "cannot-create",
            .internalError,
            "cannot store this stream: \(error.code)",
            detail: error.description
        )
    }

    /// Media before `start` (checked before the payload is decoded).
    public mutating func mediaBeforeStart() -> Actions {
        self.invalid("media-before-start", "media before start: frame dropped")
    }

    /// A message that could not be parsed or decoded: dropped, counted; its hole becomes a gap.
    public mutating func rejected(_ error: StreamProtocolError) -> Actions {
        self.invalid(error.code, "dropping invalid message: \(error.description)")
    }

    /// One decoded media frame. `samples` may be overwritten (silence while paused).
    public mutating func media(_ frame: MediaFrame, samples: UnsafeMutableBufferPointer<Int16>, now: Int64) -> Actions {
        guard self.phase == .recording, self.hasFiles else {
            return self.phase == .finished ? Actions() : self.mediaBeforeStart()
        }
        var actions = Actions()
        if self.channels == 0 { actions = self.fixChannels(frame.track == nil ? 1 : 2) }
        let channel: Int
        if self.channels == 2 {
            guard let track = frame.track else {
                actions.merge(
                    self.invalid("missing-track", "media without a track in a dual-channel stream: frame dropped")
                )
                return actions
            }
            channel = track.channel
        } else {
            if frame.track == .outbound {
                actions.merge(self.invalid("unexpected-track", "outbound media in a mono stream: frame dropped"))
                return actions
            }
            channel = 0
        }
        if self.pause.isPaused, let base = samples.baseAddress { base.update(repeating: 0, count: samples.count) }
        // Counted here and copied into the sidecar when it is refreshed: the per-frame path never
        // touches that large value.
        self.mediaMessages += 1
        let placement = self.timeline.place(
            channel: channel,
            timestampMs: frame.timestampMs,
            chunk: frame.chunk,
            samples: UnsafeBufferPointer(samples),
            into: &self.output
        )
        actions.placement = placement
        switch placement {
        case .placed, .reordered, .duplicate, .late:
            break
        case .gapTooLarge:
            // The sidecar keeps the reason too: which number, and what it was.
            actions.merge(
                self.fail(
                    "gap-too-large",
                    .policyViolation,
                    "\(Self.position(of: frame)) lies more than \(self.configuration.recorder.maxGapMs / 1000) s ahead",
                    explained: true
                )
            )
            return actions
        case .beyondMaxDuration:
            let longest = self.configuration.recorder.maxDurationMs / 1000
            actions.merge(
                self.fail(
                    "too-long",
                    .policyViolation,
                    "\(Self.position(of: frame)) ends past the longest stream kept (\(longest) s)",
                    explained: true
                )
            )
            return actions
        }
        if self.output.limitReached && self.writeFailure == nil {
            // What fits stays buffered and is written as the stream ends.
            actions.merge(
                self.storeFailed(code: "media.short-write", detail: "the 4 GB limit of a WAV file is reached")
            )
            return actions
        }
        self.buffered(now: now, frameSamples: samples.count * self.channels, into: &actions)
        return actions
    }

    public mutating func dtmf(digit: String, durationMs: Int64?, at time: Timestamp) {
        // Digits pressed while the call is paused (a card number) are dropped, never stored.
        guard self.phase == .recording, !self.pause.isPaused, self.sidecar != nil else { return }
        guard self.sidecar!.dtmf.count < Self.maxDTMF else { return }
        self.sidecar!.dtmf.append(.init(digit: String(digit.prefix(8)), durationMs: durationMs, receivedAt: time))
    }

    public mutating func mark() {
        guard self.phase == .recording, self.sidecar != nil else { return }
        self.sidecar!.marks += 1
    }

    public mutating func unknownEvent(_ event: String) -> Actions {
        guard self.phase != .finished else { return Actions() }
        if self.sidecar != nil { self.sidecar!.unknownEvents += 1 }
        return self.reportOnce("unknown-event", .info, "ignoring unknown event", ["event": String(event.prefix(64))])
    }

    public mutating func stop(reason: String?) -> Actions {
        self.finish(reason: "stop:\(reason ?? "unspecified")", close: Close(code: .normal, reason: "stream stopped"))
    }

    public mutating func binaryMessage() -> Actions {
        guard self.phase != .finished else { return Actions() }
        return self.fail(
            "binary-message",
            .unsupportedData,
            "binary messages are not part of the stream protocol; send JSON text"
        )
    }

    /// The message exceeded the limit; the server closes the socket itself (1009).
    public mutating func messageTooLarge(limitBytes: Int) -> Actions {
        guard self.phase != .finished else {
            var counted = Actions()
            counted.error = "message-too-large"
            return counted
        }
        if self.sidecar != nil { self.sidecar!.invalidMessages["message-too-large", default: 0] += 1 }
        var actions = self.finish(reason: "message-too-large", close: nil)
        actions.error = "message-too-large"
        actions.report = Report(
            kind: "message-too-large",
            level: .warning,
            message: "closing stream: message too large",
            metadata: ["limit_bytes": "\(limitBytes)"]
        )
        return actions
    }

    public mutating func disconnected() -> Actions { self.finish(reason: "disconnected", close: nil) }

    public mutating func shutdown() -> Actions {
        self.finish(reason: "shutdown", close: Close(code: .goingAway, reason: "server shutting down"))
    }

    /// The call's pause as the registry has it at `generation` (read by the shell when the generation moved).
    public mutating func applyPause(_ entry: CallPauses.Entry?, generation: UInt64, at time: Timestamp) -> Actions {
        guard self.phase == .recording, self.sidecar != nil else { return Actions() }
        guard self.pause.apply(entry, generation: generation, timelineEnd: self.timelineEnd, now: time) else {
            return Actions()
        }
        // Pauses are rare, and the file should say so before the stream ends.
        self.sidecar!.pauses = self.pause.intervals.isEmpty ? nil : self.pause.intervals
        var actions = Actions()
        actions.rewriteSidecar = true
        actions.paused = self.pause.isPaused
        return actions
    }

    // MARK: - Time

    /// At a tick: the buffered audio is `flushAfterMs` old and must reach the kernel now.
    public func flushDue(now: Int64) -> Bool {
        guard let since = self.bufferedSince else { return false }
        return now - since >= self.configuration.flushAfterMs
    }

    /// Housekeeping, once per header interval: write what is buffered, refresh the header, rewrite a
    /// changed sidecar (at most every `sidecarUpdateIntervalMs`), end an idle stream.
    public mutating func housekeeping(now: Int64, at time: Timestamp) -> Actions {
        guard self.phase != .finished else { return Actions() }
        var actions = Actions()
        if self.channels > 0 {
            actions.write = !self.output.isEmpty
            actions.refreshHeader = true
            if now - self.lastSidecarWriteMs >= self.configuration.recorder.sidecarUpdateIntervalMs {
                let counters = SidecarCounters(self.timeline)
                if counters != self.sidecarCounters {
                    self.sidecarCounters = counters
                    self.lastSidecarWriteMs = now
                    self.refreshSidecarStatistics()
                    actions.rewriteSidecar = true
                }
            }
        }
        if now - self.lastActivityMs >= self.configuration.idleTimeoutMs {
            actions.merge(self.finish(reason: "idle-timeout", close: Close(code: .normal, reason: "idle timeout")))
            actions.error = "idle-timeout"
            actions.report = Report(
                kind: "idle-timeout",
                level: .warning,
                message: "closing idle stream",
                metadata: ["idle_ms": "\(now - self.lastActivityMs)"]
            )
        }
        return actions
    }

    // MARK: - Writing (pulled by the shell)

    /// The next chunk of audio to write, or nil when the buffer is empty. Chunks are interleaved whole
    /// frames: the buffer's audio, and silence (from a shared block of zeros) for gaps past the window.
    public mutating func nextWrite() -> UnsafeBufferPointer<Int16>? {
        guard !self.writesBroken, let chunk = self.output.next() else {
            self.bufferedSince = nil
            if !self.drainingFull { self.fullWrites = 0 }  // a write the flush age asked for
            self.drainingFull = false
            return nil
        }
        self.framesWritten += Int64(chunk.count / max(self.channels, 1))
        self.headerDirty = true
        return chunk
    }

    /// Whether the header must be refreshed (audio was written since the last refresh); clears it.
    public mutating func takeHeaderDirty() -> Bool {
        defer { self.headerDirty = false }
        return self.headerDirty
    }

    /// Writing `unwritten` samples (the last chunk) failed: the stream ends (1011).
    public mutating func writeFailed(_ error: MediaError, unwritten: Int) -> Actions {
        self.framesWritten -= Int64(unwritten / max(self.channels, 1))
        self.writesBroken = true
        self.output.discard()
        self.bufferedSince = nil
        guard self.writeFailure == nil else { return Actions() }
        return self.storeFailed(code: error.code, detail: error.description)
    }

    /// Closing the file failed (the sidecar's close reason says so).
    public mutating func closeFailed(_ error: MediaError) {
        if self.writeFailure == nil { self.writeFailure = error.code }
    }

    /// The sidecar to finalize, once the shell has written the last audio and closed the file.
    public mutating func finalSidecar(endedAt: Timestamp) -> StreamSidecar? {
        guard self.sidecar != nil else { return nil }
        self.refreshSidecarStatistics()
        self.sidecar!.endedAt = endedAt
        self.sidecar!.closeReason = self.closeReason
        if let failure = self.writeFailure {
            self.sidecar!.closeReason = "\(self.closeReason); write failed: \(failure)"
        }
        return self.sidecar
    }

    // MARK: - Rules

    private mutating func fixChannels(_ channels: Int) -> Actions {
        guard self.channels == 0 else { return Actions() }
        let recorder = self.configuration.recorder
        self.channels = channels
        self.timeline = Timeline(
            .init(
                sampleRate: self.sampleRate,
                channels: channels,
                reorderWindowMs: recorder.reorderWindowMs,
                maxGapMs: recorder.maxGapMs,
                maxDurationMs: recorder.maxDurationMs
            )
        )
        self.output.reserve(self.writeThreshold)
        self.sidecar?.channels = channels
        self.sidecar?.channelMap = StreamSidecar.channelMap(channels: channels)
        var actions = Actions()
        actions.openAudio = channels
        actions.rewriteSidecar = true
        return actions
    }

    /// Audio was committed into the write buffer: is a write due? The buffer is full when the next
    /// frame of this size would not fit.
    private mutating func buffered(now: Int64, frameSamples: Int, into actions: inout Actions) {
        guard !self.output.isEmpty else { return }
        if self.bufferedSince == nil {
            self.bufferedSince = now
            actions.queueFlush = true
        }
        if self.output.bufferedAudio + frameSamples > self.writeThreshold
            || self.output.pendingSamples >= Int64(self.writeThreshold)
        {
            actions.write = true
            self.drainingFull = true
            // Filled before its flush age three times in a row: a flood. Larger writes from now on
            // (up to 64 KiB).
            if now - self.bufferedSince! < self.configuration.flushAfterMs {
                self.fullWrites += 1
                if self.fullWrites >= 3 && self.writeThreshold < self.maxWriteThreshold {
                    self.fullWrites = 0
                    self.writeThreshold = min(self.writeThreshold * 2, self.maxWriteThreshold)
                    self.output.reserve(self.writeThreshold)
                }
            } else {
                self.fullWrites = 0
            }
        }
    }

    private mutating func storeFailed(code: String, detail: String) -> Actions {
        self.writeFailure = code
        return self.fail("write-failed", .internalError, "cannot store audio: \(code)", detail: detail)
    }

    /// Ends the stream (idempotent): commits what is staged, closes an open pause at the end.
    private mutating func finish(reason: String, close: Close?) -> Actions {
        var actions = Actions()
        actions.close = close
        guard self.phase != .finished else { return actions }
        let wasRecording = self.phase == .recording && self.sidecar != nil
        self.phase = .finished
        actions.ended = true
        guard wasRecording else { return actions }
        self.closeReason = reason
        actions.finish = reason
        // No media arrived: still leave a valid (empty) WAV, one per stream.
        if self.channels == 0 { actions.merge(self.fixChannels(1)) }
        if !self.writesBroken {
            self.timeline.finish(into: &self.output)
            actions.write = true
        }
        return actions
    }

    /// The pause, closed at the end of the timeline when the stream ends (the shell calls this after `finish`).
    public mutating func endPause(at time: Timestamp) {
        guard self.sidecar != nil, self.pause.streamEnded(timelineEnd: self.timelineEnd, at: time) else { return }
        self.sidecar!.pauses = self.pause.intervals
    }

    /// Ends the stream because of bad input it cannot recover from.
    ///
    /// - Parameter explained: the sidecar's close reason is `kind; reason` rather than `kind`
    ///   (for values from outside, so that the file says which value ended it).
    private mutating func fail(
        _ kind: String,
        _ code: CloseCode,
        _ reason: String,
        detail: String? = nil,
        explained: Bool = false
    ) -> Actions {
        if self.sidecar != nil { self.sidecar!.invalidMessages[kind, default: 0] += 1 }
        var actions = self.reportOnce(kind, .warning, "closing stream: \(reason)", detail.map { ["detail": $0] } ?? [:])
        actions.merge(
            self.finish(reason: explained ? "\(kind); \(reason)" : kind, close: Close(code: code, reason: reason))
        )
        actions.error = kind
        return actions
    }

    /// A dropped message: counted in the sidecar and the metrics, logged once per kind.
    private mutating func invalid(_ kind: String, _ message: String) -> Actions {
        if self.sidecar != nil { self.sidecar!.invalidMessages[kind, default: 0] += 1 }
        var actions = self.reportOnce(kind, .warning, message, [:])
        actions.error = kind
        return actions
    }

    /// The first occurrence of each kind of problem per stream is logged; later ones are only counted
    /// (the sidecar and the finish log line carry the totals).
    private mutating func reportOnce(
        _ kind: String,
        _ level: Logger.Level,
        _ message: String,
        _ metadata: [String: String]
    ) -> Actions {
        var actions = Actions()
        if self.reported.insert(kind).inserted {
            actions.report = Report(kind: kind, level: level, message: message, metadata: metadata)
        }
        return actions
    }

    /// The field that placed `frame`, and its value, for a close reason.
    private static func position(of frame: MediaFrame) -> String {
        frame.timestampMs.map { "media.timestamp \($0)" } ?? frame.chunk.map { "media.chunk \($0)" } ?? "media position"
    }

    private mutating func refreshSidecarStatistics() {
        guard self.sidecar != nil else { return }
        self.sidecar!.mediaMessages = self.mediaMessages
        let channels = Int64(max(self.channels, 1))
        let frames = self.framesWritten + self.output.pendingSamples / channels
        self.sidecar!.frames = frames
        self.sidecar!.durationSeconds = Double(frames) / Double(max(self.sampleRate, 1))
        guard self.channels > 0 else { return }
        let rate = Int64(self.sampleRate)
        self.sidecar!.gaps = self.timeline.gaps.map {
            .init(channel: $0.channel, startMs: $0.start * 1000 / rate, durationMs: $0.length * 1000 / rate)
        }
        self.sidecar!.gapMsTotal = self.timeline.gapFramesTotal * 1000 / rate
        self.sidecar!.duplicates = self.timeline.duplicates
        self.sidecar!.lateFrames = self.timeline.lateFrames
        self.sidecar!.reorderedFrames = self.timeline.reorderedFrames
    }

    private struct SidecarCounters: Equatable {
        var gaps = 0, gapFrames: Int64 = 0, duplicates: Int64 = 0, late: Int64 = 0, reordered: Int64 = 0
        init() {}
        init(_ timeline: borrowing Timeline) {
            self.gaps = timeline.gaps.count
            self.gapFrames = timeline.gapFramesTotal
            self.duplicates = timeline.duplicates
            self.late = timeline.lateFrames
            self.reordered = timeline.reorderedFrames
        }
    }
}

extension StreamMachine {
    /// Committed audio waiting to be written: interleaved samples, with runs of silence kept as counts
    /// (a gap past the reorder window is never materialised). Drained by ``next()``; enforces the 4 GB
    /// limit of a WAV file (what would pass it is dropped and `limitReached` set).
    public struct WriteBuffer: ~Copyable {
        private struct SilenceRun {
            var at: Int
            var samples: Int64
        }

        private(set) var storage: UnsafeMutablePointer<Int16>
        private(set) var capacity: Int
        private var count = 0
        private var readIndex = 0
        private var runs: [SilenceRun] = []
        private var runIndex = 0
        /// Audio and silence not yet handed out.
        private(set) var pendingSamples: Int64 = 0
        /// Samples accepted over the stream's life (the file's data size is twice this).
        private(set) var acceptedSamples: Int64 = 0
        private let limitBytes: Int64
        private(set) var limitReached = false

        init(capacity: Int, limitBytes: Int64) {
            self.capacity = max(capacity, 1)
            self.storage = .allocate(capacity: self.capacity)
            self.limitBytes = limitBytes
            self.runs.reserveCapacity(8)
        }

        deinit { self.storage.deallocate() }

        var isEmpty: Bool { self.pendingSamples == 0 }
        /// Samples of audio (not silence runs) held in memory.
        var bufferedAudio: Int { self.count - self.readIndex }

        mutating func append(_ samples: UnsafeBufferPointer<Int16>) {
            guard let base = samples.baseAddress, !samples.isEmpty, self.admit(Int64(samples.count)) else { return }
            if self.count + samples.count > self.capacity { self.reserve(self.count + samples.count) }
            (self.storage + self.count).update(from: base, count: samples.count)
            self.count += samples.count
            self.pendingSamples += Int64(samples.count)
        }

        mutating func appendSilence(_ samples: Int64) {
            guard samples > 0, self.admit(samples) else { return }
            if let last = self.runs.last, last.at == self.count {
                self.runs[self.runs.count - 1].samples += samples
            } else {
                self.runs.append(SilenceRun(at: self.count, samples: samples))
            }
            self.pendingSamples += samples
        }

        /// Grows the storage to hold at least `samples` (rare: the initial size, a flood's doubling, a
        /// window's worth committed at once).
        mutating func reserve(_ samples: Int) {
            guard samples > self.capacity else { return }
            let grown = UnsafeMutablePointer<Int16>.allocate(capacity: max(samples, self.capacity * 2))
            grown.update(from: self.storage, count: self.count)
            self.storage.deallocate()
            self.storage = grown
            self.capacity = max(samples, self.capacity * 2)
        }

        mutating func next() -> UnsafeBufferPointer<Int16>? {
            while true {
                if self.runIndex < self.runs.count && self.runs[self.runIndex].at == self.readIndex {
                    let left = self.runs[self.runIndex].samples
                    if left > 0 {
                        let n = Int(min(left, Int64(Zeros.count)))
                        self.runs[self.runIndex].samples -= Int64(n)
                        self.pendingSamples -= Int64(n)
                        return UnsafeBufferPointer(start: Zeros.block, count: n)
                    }
                    self.runIndex += 1
                    continue
                }
                let end = self.runIndex < self.runs.count ? self.runs[self.runIndex].at : self.count
                if self.readIndex < end {
                    let chunk = UnsafeBufferPointer(start: self.storage + self.readIndex, count: end - self.readIndex)
                    self.pendingSamples -= Int64(end - self.readIndex)
                    self.readIndex = end
                    return chunk
                }
                self.discard()
                return nil
            }
        }

        mutating func discard() {
            self.count = 0
            self.readIndex = 0
            self.runs.removeAll(keepingCapacity: true)
            self.runIndex = 0
            self.pendingSamples = 0
        }

        private mutating func admit(_ samples: Int64) -> Bool {
            guard !self.limitReached else { return false }
            if (self.acceptedSamples + samples) * 2 > self.limitBytes {
                self.limitReached = true
                return false
            }
            self.acceptedSamples += samples
            return true
        }
    }

    /// Zeros shared by every stream; written once and only ever read afterwards. An even count, so every
    /// chunk is whole frames of a dual stream too.
    enum Zeros {
        static let count = 16_384
        nonisolated(unsafe) static let block: UnsafeMutablePointer<Int16> = {
            let p = UnsafeMutablePointer<Int16>.allocate(capacity: count)
            p.initialize(repeating: 0, count: count)
            return p
        }()
    }
}

extension StreamMachine {
    /// Places each channel's audio frames on the stream's sample timeline by timestamp, not by arrival.
    ///
    /// - A frame is placed at `(timestamp - first timestamp) × rate / 1000`; without a timestamp, by its
    ///   chunk number; without either, right after the channel's previous frame.
    /// - In-order mono audio passes straight through without a copy.
    /// - A frame that arrives early (after a missing one) waits in a small staging area; if the missing
    ///   audio shows up within the reorder window it is put in its place (`reordered`), otherwise the
    ///   hole is filled with silence and recorded as a gap.
    /// - A frame whose place was already written is dropped: as a `duplicate` if real audio is there, as
    ///   `late` if its slot had been filled with silence.
    /// - Both channels of a dual stream share one timeline, so they stay aligned to the sample; audio
    ///   is committed (handed to the write buffer, interleaved) only once every channel has it or the window passed.
    ///
    /// Pure logic with no I/O and no clock: the machine feeds it and it commits into the machine's
    /// write buffer (`WriteBuffer`), which the shell drains. `~Copyable`: it owns its staging memory.
    public struct Timeline: ~Copyable {
        public struct Configuration: Sendable, Hashable {
            public var sampleRate: Int
            public var channels: Int
            /// How much audio may arrive after a hole before the hole becomes silence. 100 ms (one
            /// platform frame) keeps what a crash can lose from the reorder staging under 200 ms.
            public var reorderWindowMs: Int
            /// The largest jump forward in time that is filled with silence; a larger one is refused.
            public var maxGapMs: Int
            /// The longest a stream's timeline may grow: audio placed past it is refused. Without it a
            /// client could jump `maxGapMs` ahead with every 100-byte message and fill the disk with silence.
            public var maxDurationMs: Int

            public init(
                sampleRate: Int,
                channels: Int,
                reorderWindowMs: Int = 100,
                maxGapMs: Int = 600_000,
                maxDurationMs: Int = 15_000_000
            ) {
                self.sampleRate = sampleRate
                self.channels = channels
                self.reorderWindowMs = reorderWindowMs
                self.maxGapMs = maxGapMs
                self.maxDurationMs = maxDurationMs
            }
        }

        public enum Placement: Sendable, Hashable {
            /// Placed where the channel expected it.
            case placed
            /// Placed into a hole left by audio that arrived earlier than it.
            case reordered
            /// Its place already holds real audio: dropped.
            case duplicate
            /// Its place was already filled with silence (or lies before the stream's first frame): dropped.
            case late
            /// It lies further ahead than `maxGapMs`: dropped, and the stream should be closed.
            case gapTooLarge
            /// It ends past `maxDurationMs` from the stream's start: dropped, and the stream should be closed.
            case beyondMaxDuration
        }

        /// A stretch of one channel that was filled with silence, in sample frames.
        public struct Gap: Sendable, Hashable {
            public var channel: Int
            public var start: Int64
            public var length: Int64
        }

        public let configuration: Configuration
        private let channels: Int
        private let rate: Int64
        private let windowFrames: Int64
        private let maxGapFrames: Int64
        private let maxDurationFrames: Int64

        /// Sample frames handed to the write buffer so far.
        public private(set) var committed: Int64 = 0
        public private(set) var gaps: [Gap] = []
        public private(set) var gapFramesTotal: Int64 = 0
        public private(set) var duplicates: Int64 = 0
        public private(set) var lateFrames: Int64 = 0
        public private(set) var reorderedFrames: Int64 = 0
        public private(set) var placedFrames: Int64 = 0

        /// Kept bounded so that a stream with pathological timing cannot grow memory; totals go on.
        public static let maxRecordedGaps = 10_000

        private var originMs: Int64?
        private var chunkOrigin: Int64?
        private var chunkBase: Int64 = 0
        private var appendPoint: [Int64]
        private var channelHigh: [Int64]
        /// Per channel, the sorted, disjoint ranges of staged (received, not yet committed) audio.
        private var staged: [[Range<Int64>]]
        private var highWater: Int64 = 0
        /// Interleaved samples for timeline positions `committed ..< committed + stageFrames`; zero
        /// wherever nothing is staged, so holes need no extra pass when they become silence.
        private var stage: UnsafeMutablePointer<Int16>?
        private var stageFrames: Int64 = 0

        public init(_ configuration: Configuration) {
            precondition(configuration.channels == 1 || configuration.channels == 2, "1 or 2 channels")
            precondition(configuration.sampleRate > 0)
            self.configuration = configuration
            self.channels = configuration.channels
            self.rate = Int64(configuration.sampleRate)
            self.windowFrames = Self.frames(
                ms: configuration.reorderWindowMs,
                rate: configuration.sampleRate,
                limit: Self.maxWindowFrames
            )
            self.maxGapFrames = Self.frames(
                ms: configuration.maxGapMs,
                rate: configuration.sampleRate,
                limit: Self.maxGapFramesLimit
            )
            self.maxDurationFrames = Self.frames(
                ms: configuration.maxDurationMs,
                rate: configuration.sampleRate,
                limit: Self.maxGapFramesLimit
            )
            self.appendPoint = Array(repeating: 0, count: configuration.channels)
            self.channelHigh = Array(repeating: 0, count: configuration.channels)
            self.staged = Array(repeating: [], count: configuration.channels)
            for c in 0..<configuration.channels { self.staged[c].reserveCapacity(8) }
        }

        deinit {
            self.stage?.deallocate()
        }

        /// Bounds on the configured durations, so that no setting can make the arithmetic overflow:
        /// positions stay below `committed + 2^40` frames per frame placed (over a year at 24 kHz).
        static let maxGapFramesLimit: Int64 = 1 << 40
        /// The staging area holds the window: bounded to 10 minutes at 24 kHz whatever is configured.
        static let maxWindowFrames: Int64 = 600 * 24_000

        private static func frames(ms: Int, rate: Int, limit: Int64) -> Int64 {
            let (product, overflow) = Int64(max(ms, 0)).multipliedReportingOverflow(by: Int64(rate))
            return overflow ? limit : min(product / 1000, limit)
        }

        /// Sample frames received but not yet committed (waiting for a hole to fill).
        public var pendingFrames: Int64 { self.highWater - self.committed }

        /// Places one channel's frame of samples.
        ///
        /// - Parameters:
        ///   - channel: 0 for mono and for the inbound track, 1 for the outbound track.
        ///   - output: receives committed audio, interleaved, in timeline order.
        @discardableResult
        public mutating func place(
            channel: Int,
            timestampMs: Int64?,
            chunk: Int64?,
            samples: UnsafeBufferPointer<Int16>,
            into output: inout WriteBuffer
        ) -> Placement {
            precondition(channel >= 0 && channel < self.channels)
            let count = Int64(samples.count)
            guard count > 0 else { return .placed }

            guard let offset = self.offset(channel: channel, timestampMs: timestampMs, chunk: chunk, count: count)
            else {
                self.lateFrames += 1
                return .late
            }
            if offset - self.committed > self.maxGapFrames { return .gapTooLarge }
            // `offset` is at most committed + 2^40 here and `count` a frame's samples: no overflow.
            if offset + count > self.maxDurationFrames { return .beyondMaxDuration }

            var start = offset
            var source = samples
            let end = offset + count
            if end <= self.committed {
                if self.isSilenceFilled(channel: channel, from: offset, to: end) {
                    self.lateFrames += 1
                    return .late
                }
                self.duplicates += 1
                return .duplicate
            }
            if start < self.committed {
                // Only the part still ahead of the commit point can be placed.
                source = UnsafeBufferPointer(rebasing: samples[Int(self.committed - start)...])
                start = self.committed
            }
            if self.overlapsStaged(channel: channel, from: start, to: end) {
                self.duplicates += 1
                return .duplicate
            }

            let reordered = start < self.channelHigh[channel]
            self.channelHigh[channel] = max(self.channelHigh[channel], end)
            self.appendPoint[channel] = max(self.appendPoint[channel], end)
            self.placedFrames += 1
            if reordered { self.reorderedFrames += 1 }

            if self.channels == 1 && start == self.committed && self.staged[0].isEmpty {
                output.append(source)
                self.committed = end
                self.highWater = max(self.highWater, end)
                return .placed
            }

            // Keep the staging area bounded: audio further back than the window (plus this frame) is
            // committed now, holes and all.
            let span = Int64(source.count)
            if end - self.committed > self.windowFrames + span {
                self.commit(to: end - self.windowFrames - span, into: &output)
            }
            self.ensureStage(frames: self.windowFrames + span)
            self.copyToStage(channel: channel, at: start, source)
            self.insertStaged(channel: channel, start..<end)
            self.highWater = max(self.highWater, end)
            self.settle(into: &output)
            return reordered ? .reordered : .placed
        }

        /// Commits everything still staged, filling holes with silence. Call once, at the end.
        public mutating func finish(into output: inout WriteBuffer) {
            if self.highWater > self.committed {
                self.commit(to: self.highWater, into: &output)
            }
        }

        // MARK: - Placement

        /// Where a frame starts on the timeline; nil when it lies before the stream's first frame, and
        /// `Self.beyondAnyGap` when its position does not even fit in an Int64.
        ///
        /// Chunk and timestamp come from outside and may be any Int64 (the parser lets through
        /// 0...Int64.max; direct callers anything), so every step is checked for overflow: a position
        /// that overflows is further ahead than any `maxGapFrames` and is refused as `gapTooLarge` by
        /// the caller. Checked arithmetic is a flag test per operation; the per-frame path stays cheap.
        @inline(__always)
        private mutating func offset(channel: Int, timestampMs: Int64?, chunk: Int64?, count: Int64) -> Int64? {
            if let timestampMs {
                let origin = self.originMs ?? timestampMs
                self.originMs = origin
                let (relative, behind) = timestampMs.subtractingReportingOverflow(origin)
                if behind { return timestampMs < origin ? nil : Self.beyondAnyGap }
                guard relative >= 0 else { return nil }
                let (product, overflow) = relative.multipliedReportingOverflow(by: self.rate)
                return overflow ? Self.beyondAnyGap : product / 1000
            }
            if let chunk {
                let origin: Int64
                if let chunkOrigin = self.chunkOrigin {
                    origin = chunkOrigin
                } else {
                    origin = chunk
                    self.chunkOrigin = chunk
                    self.chunkBase = self.appendPoint[channel]
                }
                let (index, behind) = chunk.subtractingReportingOverflow(origin)
                if behind { return chunk < origin ? nil : Self.beyondAnyGap }
                guard index >= 0 else { return nil }
                let (product, overflow1) = index.multipliedReportingOverflow(by: count)
                let (offset, overflow2) = self.chunkBase.addingReportingOverflow(product)
                return overflow1 || overflow2 ? Self.beyondAnyGap : offset
            }
            return self.appendPoint[channel]
        }

        /// A position past every possible gap: `beyondAnyGap - committed` cannot overflow (committed ≥ 0)
        /// and always exceeds `maxGapFrames`.
        private static let beyondAnyGap = Int64.max

        private func isSilenceFilled(channel: Int, from start: Int64, to end: Int64) -> Bool {
            for gap in self.gaps.reversed() where gap.channel == channel {
                if gap.start < end && start < gap.start + gap.length { return true }
                if gap.start + gap.length <= start { break }
            }
            return false
        }

        private func overlapsStaged(channel: Int, from start: Int64, to end: Int64) -> Bool {
            for range in self.staged[channel] where range.lowerBound < end && start < range.upperBound {
                return true
            }
            return false
        }

        private mutating func insertStaged(channel: Int, _ range: Range<Int64>) {
            var ranges = self.staged[channel]
            self.staged[channel] = []  // keep `ranges` uniquely referenced: appends stay in place
            var index = ranges.endIndex
            while index > 0 && ranges[index - 1].lowerBound > range.lowerBound { index -= 1 }
            ranges.insert(range, at: index)
            // Merge neighbours that touch.
            var merged = index
            if merged > 0 && ranges[merged - 1].upperBound == ranges[merged].lowerBound {
                ranges[merged - 1] = ranges[merged - 1].lowerBound..<ranges[merged].upperBound
                ranges.remove(at: merged)
                merged -= 1
            }
            if merged + 1 < ranges.count && ranges[merged].upperBound == ranges[merged + 1].lowerBound {
                ranges[merged] = ranges[merged].lowerBound..<ranges[merged + 1].upperBound
                ranges.remove(at: merged + 1)
            }
            self.staged[channel] = ranges
        }

        /// Turns holes that are too old to wait for into silence, then commits what every channel has
        /// contiguously.
        ///
        /// A hole is too old once more than the reorder window of audio has arrived after it. A channel
        /// with nothing staged beyond a point (a track that went quiet) is filled up to the window
        /// behind the newest audio, so one dead track never holds the other back for long.
        private mutating func settle(into output: inout WriteBuffer) {
            let horizon = self.highWater - self.windowFrames
            for channel in 0..<self.channels {
                var cursor = self.committed
                var holes: [Range<Int64>] = []
                for range in self.staged[channel] {
                    if range.lowerBound > cursor && self.highWater - range.lowerBound > self.windowFrames {
                        holes.append(cursor..<range.lowerBound)
                    }
                    cursor = range.upperBound
                }
                if cursor < horizon { holes.append(cursor..<horizon) }
                for hole in holes {
                    self.recordGap(channel: channel, from: hole.lowerBound, to: hole.upperBound)
                    self.insertStaged(channel: channel, hole)
                }
            }
            var frontier = Int64.max
            for channel in 0..<self.channels {
                if let first = self.staged[channel].first, first.lowerBound == self.committed {
                    frontier = min(frontier, first.upperBound)
                } else {
                    frontier = self.committed
                }
            }
            if frontier > self.committed && frontier != Int64.max {
                self.commit(to: frontier, into: &output)
            }
        }

        // MARK: - Staging and committing

        private mutating func ensureStage(frames needed: Int64) {
            guard needed > self.stageFrames else { return }
            let samples = Int(needed) * self.channels
            let grown = UnsafeMutablePointer<Int16>.allocate(capacity: samples)
            grown.initialize(repeating: 0, count: samples)
            if let old = self.stage {
                grown.update(from: old, count: Int(self.stageFrames) * self.channels)
                old.deallocate()
            }
            self.stage = grown
            self.stageFrames = needed
        }

        private func copyToStage(channel: Int, at position: Int64, _ source: UnsafeBufferPointer<Int16>) {
            guard let stage = self.stage, let base = source.baseAddress else { return }
            let first = Int(position - self.committed)
            if self.channels == 1 {
                (stage + first).update(from: base, count: source.count)
            } else {
                var target = stage + first * 2 + channel
                for i in 0..<source.count {
                    target.pointee = base[i]
                    target += 2
                }
            }
        }

        /// Hands `committed ..< target` to the write buffer, with silence wherever a channel has no audio, and
        /// records those holes as gaps.
        private mutating func commit(to target: Int64, into output: inout WriteBuffer) {
            guard target > self.committed else { return }
            for channel in 0..<self.channels {
                var cursor = self.committed
                for range in self.staged[channel] {
                    if range.lowerBound >= target { break }
                    if range.lowerBound > cursor {
                        self.recordGap(channel: channel, from: cursor, to: range.lowerBound)
                    }
                    cursor = max(cursor, range.upperBound)
                }
                if cursor < target { self.recordGap(channel: channel, from: cursor, to: target) }
            }

            let fromStage = min(target - self.committed, self.stageFrames)
            if fromStage > 0, let stage = self.stage {
                output.append(UnsafeBufferPointer(start: stage, count: Int(fromStage) * self.channels))
            }
            // Beyond the staging area there is only silence: a run, not samples (a 10-minute gap costs nothing).
            output.appendSilence((target - self.committed - fromStage) * Int64(self.channels))

            if let stage = self.stage {
                let shift = Int(fromStage) * self.channels
                let total = Int(self.stageFrames) * self.channels
                if shift >= total {
                    stage.update(repeating: 0, count: total)
                } else if shift > 0 {
                    stage.update(from: stage + shift, count: total - shift)
                    (stage + (total - shift)).update(repeating: 0, count: shift)
                }
            }
            for channel in 0..<self.channels {
                var ranges = self.staged[channel]
                self.staged[channel] = []
                var keep = 0
                for range in ranges where range.upperBound > target {
                    ranges[keep] = max(range.lowerBound, target)..<range.upperBound
                    keep += 1
                }
                ranges.removeLast(ranges.count - keep)
                self.staged[channel] = ranges
            }
            self.committed = target
            self.highWater = max(self.highWater, target)
        }

        private mutating func recordGap(channel: Int, from start: Int64, to end: Int64) {
            let length = end - start
            guard length > 0 else { return }
            self.gapFramesTotal += length
            if let last = self.gaps.lastIndex(where: { $0.channel == channel }),
                self.gaps[last].start + self.gaps[last].length == start
            {
                self.gaps[last].length += length
                return
            }
            if self.gaps.count < Self.maxRecordedGaps {
                self.gaps.append(Gap(channel: channel, start: start, length: length))
            }
        }
    }
}
