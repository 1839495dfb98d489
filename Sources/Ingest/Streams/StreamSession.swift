import ExotelKit
import Logging
import MediaStore

/// One WebSocket's stream: applies the platform's protocol rules to each message and feeds the
/// recorder. Lives on the service thread, attached to its `WebSocketConnection`.
///
/// Bad input never ends the stream unless the stream cannot go on (see `docs/INGEST.md`): a
/// malformed message is dropped and counted, and the hole it leaves becomes a recorded gap.
final class StreamSession {
    let connection: WebSocketConnection
    let queryParameters: [String: String]
    /// The rate the StreamUrl asked for (`sample-rate` or `sample_rate`), if any.
    let requestedRate: Int?
    /// `unowned(unsafe)`: the ingest owns every session and outlives it (sessions end in `closed`,
    /// before the server lets go of the ingest), and a checked `unowned` would cost an atomic
    /// reference-count check on each of the several uses per media frame.
    unowned(unsafe) let ingest: StreamIngest
    private(set) var recorder: StreamRecorder?
    private(set) var finished = false
    /// What the media payloads are, from the start event (PCM until then).
    private var encoding: StreamEncoding = .pcm16
    private(set) var logger: Logger
    private var reported: Set<String> = []
    var lastActivityMs: Int64
    /// On the ingest's flush list already.
    var queuedForFlush = false
    /// Frames on disk at the last progress report.
    private var reportedFrames: Int64 = 0
    /// The call's PCI pause as this stream applies it (`StreamSession+Pause.swift`).
    var pause = StreamPauseTracker()
    /// The CallSid this stream counts as live in `ingest.pauses`, once started.
    var pauseCallSid: String?

    init(connection: WebSocketConnection, request: UpgradeRequest, ingest: StreamIngest, now: Int64) {
        self.connection = connection
        self.ingest = ingest
        self.lastActivityMs = now
        var query: [String: String] = [:]
        for (name, value) in request.query { query[name] = value }
        self.queryParameters = query
        self.requestedRate = StreamIngest.requestedSampleRate(in: request).flatMap { try? $0.get() }
        self.logger = ingest.logger
        self.logger[metadataKey: "connection"] = "\(connection.id)"
        self.logger[metadataKey: "remote"] = "\(connection.remoteAddress)"
    }

    // MARK: - Messages

    func received(_ message: UnsafeRawBufferPointer, isBinary: Bool, now: Int64) {
        self.lastActivityMs = now
        guard !self.finished else { return }
        if isBinary {
            self.fail(
                "binary-message",
                closeCode: .unsupportedData,
                reason: "binary messages are not part of the stream protocol; send JSON text"
            )
            return
        }
        let parsed: StreamMessage
        do {
            parsed = try self.ingest.parser.parse(message)
        } catch {
            self.reject(message: error)
            return
        }
        switch parsed {
        case .media(let frame):
            self.media(frame, in: message)
        case .start(let start):
            self.start(start)
        case .stop(let stop):
            self.finish(
                reason: "stop:\(stop.reason ?? "unspecified")",
                closeCode: .normal,
                closeReason: "stream stopped"
            )
        case .dtmf(let dtmf):
            // Digits pressed while the call is paused (a card number) are dropped, never stored.
            if self.pausedNow() { return }
            self.recorder?.recordDTMF(digit: dtmf.digit, durationMs: dtmf.durationMs, at: .now())
        case .mark:
            self.recorder?.recordMark()
        case .connected:
            break
        case .unknown(let event):
            self.ingest.metrics.unknownEvents += 1
            self.recorder?.recordUnknownEvent()
            self.reportOnce("unknown-event", level: .info, "ignoring unknown event", ["event": "\(event.prefix(64))"])
        }
    }

    private func media(_ frame: MediaFrame, in message: UnsafeRawBufferPointer) {
        guard let recorder else {
            self.count(invalid: "media-before-start", "media before start: frame dropped")
            return
        }
        let samples: UnsafeBufferPointer<Int16>
        do {
            samples = try self.ingest.decode(frame, in: message, encoding: self.encoding)
        } catch {
            self.reject(message: error)
            return
        }
        if recorder.channels == nil {
            self.setChannels(frame.track == nil ? 1 : 2)
            guard !self.finished else { return }
        }
        let channel: Int
        if recorder.channels == 2 {
            guard let track = frame.track else {
                self.count(invalid: "missing-track", "media without a track in a dual-channel stream: frame dropped")
                return
            }
            channel = track.channel
        } else {
            if frame.track == .outbound {
                self.count(invalid: "unexpected-track", "outbound media in a mono stream: frame dropped")
                return
            }
            channel = 0
        }
        self.ingest.metrics.mediaFrames += 1
        self.ingest.metrics.audioBytes += samples.count * self.encoding.bytesPerSample
        if self.pausedNow() { Self.silence(samples) }
        let placement = recorder.append(
            channel: channel,
            timestampMs: frame.timestampMs,
            chunk: frame.chunk,
            samples: samples
        )
        switch placement {
        case .placed, .reordered:
            break
        case .duplicate:
            self.ingest.metrics.duplicates += 1
        case .late:
            self.ingest.metrics.lateFrames += 1
        case .gapTooLarge:
            // The sidecar keeps the reason too: which number, and what it was.
            self.fail(
                "gap-too-large",
                closeCode: .policyViolation,
                reason:
                    "\(Self.position(of: frame)) lies more than \(self.ingest.configuration.recorder.maxGapMs / 1000) s ahead",
                explained: true
            )
            return
        case .beyondMaxDuration:
            self.fail(
                "too-long",
                closeCode: .policyViolation,
                reason:
                    "\(Self.position(of: frame)) ends past the longest stream kept (\(self.ingest.configuration.recorder.maxDurationMs / 1000) s)",
                explained: true
            )
            return
        }
        if !self.queuedForFlush && recorder.hasBufferedAudio { self.ingest.queueFlush(self, now: self.lastActivityMs) }
        if let error = recorder.writeError {
            self.fail(
                "write-failed",
                closeCode: .internalError,
                reason: "cannot store audio: \(error.code)",
                detail: "\(error)"
            )
        }
    }

    private func start(_ start: StreamStart) {
        if self.recorder != nil {
            self.count(invalid: "duplicate-start", "second start event ignored")
            return
        }
        guard let encoding = StreamEncoding(mediaFormatEncoding: start.mediaFormat?.encoding) else {
            // Nothing is written: audio read as the wrong encoding would be stored noise.
            self.fail(
                "unsupported-encoding",
                closeCode: .unsupportedData,
                reason:
                    "media_format.encoding \"\(LogText.escaped(start.mediaFormat?.encoding ?? "", limit: 40))\" is not PCM, mu-law or A-law"
            )
            return
        }
        // A rate the URL gives wins over the start's, so only then is a broken one in the start harmless.
        let format = start.mediaFormat
        if let invalid = (self.requestedRate == nil ? format?.sampleRateProblem : nil) ?? format?.bitRateProblem {
            self.fail("invalid-media-format", closeCode: .unsupportedData, reason: invalid)
            return
        }
        let identity: StreamRecorder.Identity
        do throws(MediaError) {
            identity = try StreamStartIdentity.identity(
                of: start,
                encoding: encoding,
                queryParameters: self.queryParameters
            )
        } catch {
            self.fail("invalid-identifier", closeCode: .policyViolation, reason: error.description)
            return
        }
        if let callSid = identity.callSid {
            self.logger[metadataKey: "call_sid"] = "\(LogText.escaped(callSid.value))"
        }
        self.logger[metadataKey: "stream_sid"] = "\(LogText.escaped(identity.streamSid.value))"
        self.encoding = encoding

        let rate: Int
        if let requested = self.requestedRate {
            rate = requested
        } else if let announced = start.mediaFormat?.sampleRate {
            guard StreamIngest.supportedRates.contains(announced) else {
                self.fail(
                    "unsupported-sample-rate",
                    closeCode: .unsupportedData,
                    reason: "sample rate \(announced) is not 8000, 16000 or 24000"
                )
                return
            }
            rate = announced
        } else {
            rate = 8000  // the platform's default (exotel-platform.md §1.2)
        }

        do {
            self.recorder = try StreamRecorder(
                layout: self.ingest.layout,
                identity: identity,
                sampleRate: rate,
                startedAt: .now(),
                configuration: self.ingest.configuration.recorder,
                exorecVersion: StreamIngest.version
            )
        } catch {
            self.fail(
                "cannot-create",
                closeCode: .internalError,
                reason: "cannot store this stream: \(error.code)",
                detail: error.description
            )
            return
        }
        if let tracks = start.tracks, !tracks.isEmpty {
            self.setChannels(Set(tracks).count == 2 ? 2 : 1)
        }
        if let callSid = identity.callSid { self.startPause(callSid: callSid.value) }
        self.ingest.metrics.streamsStarted += 1
        self.ingest.metrics.activeStreams += 1
        var started: Logger.Metadata = [
            "sample_rate": "\(rate)", "encoding": "\(encoding.rawValue)", "path": "\(self.recorder!.wavPath)",
        ]
        if identity.callSid == nil { started["unattached"] = "true" }
        if identity.streamSidGenerated { started["stream_sid_generated"] = "true" }
        self.logger.info("stream started", metadata: started)
        self.ingest.publish(.streamStarted(self.recorder!.sidecar, wavPath: self.recorder!.wavPath))
    }

    private func setChannels(_ channels: Int) {
        do {
            try self.recorder?.setChannels(channels)
        } catch {
            self.fail(
                "cannot-create",
                closeCode: .internalError,
                reason: "cannot store this stream: \(error.code)",
                detail: error.description
            )
        }
    }

    // MARK: - Ending

    /// Finishes the recording (if any) and hands it to the finalizer. Idempotent.
    func finish(reason: String, closeCode: CloseCode?, closeReason: String) {
        if !self.finished {
            self.finished = true
            self.endPause()
            if let recorder {
                let sidecar = recorder.finish(closeReason: reason, endedAt: .now())
                self.ingest.metrics.activeStreams -= 1
                self.ingest.finalize(sidecar, wavPath: recorder.wavPath, sidecarPath: recorder.sidecarPath)
                self.logger.info(
                    "stream finished",
                    metadata: [
                        "reason": "\(LogText.escaped(reason))", "frames": "\(sidecar.frames)",
                        "gaps": "\(sidecar.gaps.count)",
                        "duplicates": "\(sidecar.duplicates)", "late_frames": "\(sidecar.lateFrames)",
                        "invalid_messages": "\(sidecar.invalidMessages.values.reduce(0, +))",
                    ]
                )
            }
        }
        if let closeCode { self.connection.close(closeCode, reason: closeReason) }
    }

    /// The field that placed `frame`, and its value, for a close reason.
    private static func position(of frame: MediaFrame) -> String {
        frame.timestampMs.map { "media.timestamp \($0)" } ?? frame.chunk.map { "media.chunk \($0)" } ?? "media position"
    }

    /// Ends the stream because of bad input it cannot recover from.
    ///
    /// - Parameter explained: the sidecar's close reason is `kind; reason` rather than `kind`
    ///   (for values from outside, so that the file says which value ended it).
    private func fail(
        _ kind: String,
        closeCode: CloseCode,
        reason: String,
        detail: String? = nil,
        explained: Bool = false
    ) {
        self.ingest.metrics.errors[kind, default: 0] += 1
        self.recorder?.recordInvalidMessage(code: kind)
        self.reportOnce(kind, level: .warning, "closing stream: \(reason)", detail.map { ["detail": "\($0)"] } ?? [:])
        self.finish(reason: explained ? "\(kind); \(reason)" : kind, closeCode: closeCode, closeReason: reason)
    }

    // MARK: - Counting bad input

    private func reject(message error: StreamProtocolError) {
        self.count(invalid: error.code, "dropping invalid message: \(error.description)")
    }

    private func count(invalid kind: String, _ message: String) {
        self.ingest.metrics.errors[kind, default: 0] += 1
        self.recorder?.recordInvalidMessage(code: kind)
        self.reportOnce(kind, level: .warning, "\(message)", [:])
    }

    /// Logs the first occurrence of each kind of problem per stream; later ones are only counted
    /// (the sidecar and the finish log line carry the totals). Messages and values carry outside text (an
    /// event name, a stream_sid that failed its check): escaped (``LogText``), so they cannot forge a line.
    private func reportOnce(_ kind: String, level: Logger.Level, _ message: String, _ metadata: Logger.Metadata) {
        guard self.reported.insert(kind).inserted else { return }
        var metadata = metadata.mapValues { Logger.MetadataValue.string(LogText.escaped("\($0)", limit: 1024)) }
        metadata["kind"] = "\(LogText.escaped(kind))"
        self.logger.log(level: level, "\(LogText.escaped(message, limit: 1024))", metadata: metadata)
    }
}

extension StreamSession {
    /// How far the file grew since the last report, or nil if it did not (housekeeping only: after
    /// the recorder's tick, so the header already covers these frames).
    func growthSinceLastReport() -> StreamProgress? {
        guard let recorder, let channels = recorder.channels, recorder.framesWritten > self.reportedFrames else {
            return nil
        }
        self.reportedFrames = recorder.framesWritten
        // The canonical 44-byte header, then 16-bit samples; the size on disk when stat fails.
        let bytes = (try? FileSystem.size(of: recorder.wavPath)) ?? (44 + recorder.framesWritten * Int64(channels) * 2)
        return StreamProgress(
            streamSid: recorder.sidecar.streamSid,
            callSid: recorder.sidecar.catalogCallSid,
            path: recorder.wavPath,
            sampleRate: recorder.sampleRate,
            channels: channels,
            frames: recorder.framesWritten,
            durationSeconds: Double(recorder.framesWritten) / Double(recorder.sampleRate),
            bytes: bytes,
            at: .now()
        )
    }
}
