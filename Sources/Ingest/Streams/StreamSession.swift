import ExotelKit
import Logging
import MediaStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One WebSocket's stream: the I/O shell around its ``StreamMachine``. Lives on the service thread,
/// attached to its `WebSocketConnection`.
///
/// The shell parses and decodes each message (ExotelKit's parser, into the shared scratch buffer),
/// hands the machine an event, and performs the actions it returns: reserve the files, create the WAV
/// (`SoundFile`), write audio pulled from the machine (`sf_write_raw`), refresh the header, rewrite the
/// sidecar, publish, log, close the socket. Every rule is the machine's (see `docs/INGEST.md`, "A
/// frame's path"); nothing here decides what a message means.
package final class StreamSession {
    let connection: any StreamConnection
    let shared: StreamShared
    private(set) var machine: StreamMachine
    private var file: SoundFile?
    /// The reserved WAV's descriptor until the channel layout is known and the file is created.
    private var descriptor: Int32 = -1
    private(set) var wavPath = ""
    private var sidecarPath = ""
    private(set) var logger: Logger
    /// On the flush queue already.
    var queuedForFlush = false
    /// Frames on disk at the last progress report.
    private var reportedFrames: Int64 = 0
    /// The CallSid this stream counts as live in `shared.pauses`, once started.
    private var pauseCallSid: String?

    var finished: Bool { self.machine.phase == .finished }
    var lastActivityMs: Int64 { self.machine.lastActivityMs }

    package init(connection: any StreamConnection, request: UpgradeRequest, shared: StreamShared, now: Int64) {
        self.connection = connection
        self.shared = shared
        var query: [String: String] = [:]
        for (name, value) in request.query { query[name] = value }
        var configuration = shared.machineConfiguration
        configuration.queryParameters = query
        configuration.requestedRate = StreamIngest.requestedSampleRate(in: request).flatMap { try? $0.get() }
        self.machine = StreamMachine(configuration: configuration, now: now)
        self.logger = shared.logger
        self.logger[metadataKey: "connection"] = "\(connection.id)"
        self.logger[metadataKey: "remote"] = "\(connection.remoteAddress)"
    }

    deinit {
        if self.descriptor >= 0 { close(self.descriptor) }
        if let file { try? file.close() }
    }

    // MARK: - Messages

    package func received(_ message: UnsafeRawBufferPointer, isBinary: Bool, now: Int64) {
        self.machine.activity(now: now)
        guard !self.finished else { return }
        if isBinary { return self.perform(self.machine.binaryMessage()) }
        let parsed: StreamMessage
        do {
            parsed = try self.shared.parser.parse(message)
        } catch {
            return self.perform(self.machine.rejected(error))
        }
        switch parsed {
        case .media(let frame):
            self.media(frame, in: message, now: now)
        case .start(let start):
            self.perform(self.machine.start(start, at: .now()))
        case .stop(let stop):
            self.perform(self.machine.stop(reason: stop.reason))
        case .dtmf(let dtmf):
            self.syncPause()
            self.machine.dtmf(digit: dtmf.digit, durationMs: dtmf.durationMs, at: .now())
        case .mark:
            self.machine.mark()
        case .connected:
            break
        case .unknown(let event):
            self.shared.metrics.unknownEvents += 1
            self.perform(self.machine.unknownEvent(event))
        }
    }

    private func media(_ frame: MediaFrame, in message: UnsafeRawBufferPointer, now: Int64) {
        guard self.machine.phase == .recording else { return self.perform(self.machine.mediaBeforeStart()) }
        let samples: UnsafeMutableBufferPointer<Int16>
        do {
            samples = try self.shared.decode(frame, in: message, encoding: self.machine.encoding)
        } catch {
            return self.perform(self.machine.rejected(error))
        }
        self.syncPause()
        let actions = self.machine.media(frame, samples: samples, now: now)
        if let placement = actions.placement {
            self.shared.metrics.mediaFrames += 1
            self.shared.metrics.audioBytes += samples.count * self.machine.encoding.bytesPerSample
            if placement == .duplicate { self.shared.metrics.duplicates += 1 }
            if placement == .late { self.shared.metrics.lateFrames += 1 }
        }
        self.perform(actions)
    }

    func messageTooLarge() {
        self.perform(self.machine.messageTooLarge(limitBytes: self.shared.maxMessageBytes))
    }

    package func disconnected() { self.perform(self.machine.disconnected()) }
    func shutdown() { self.perform(self.machine.shutdown()) }

    // MARK: - Time

    /// The flush queue's tick: the buffered audio is `flushAfterMs` old.
    func flush() { self.drain() }

    package func housekeeping(now: Int64) {
        self.syncPause()
        self.perform(self.machine.housekeeping(now: now, at: .now()))
    }

    // MARK: - Performing actions

    private func perform(_ actions: StreamMachine.Actions) {
        if let error = actions.error { self.shared.metrics.errors[error, default: 0] += 1 }
        if let report = actions.report { self.log(report) }
        if let creation = actions.create { return self.create(creation) }
        if let channels = actions.openAudio {
            do throws(MediaError) {
                let fd = self.descriptor
                self.descriptor = -1
                self.file = try SoundFile.create(
                    path: self.wavPath,
                    descriptor: fd,
                    format: .wav16,
                    sampleRate: self.machine.sampleRate,
                    channels: channels
                )
                try self.writeSidecar()
            } catch {
                return self.perform(self.machine.storageFailed(error))
            }
        } else if actions.rewriteSidecar {
            try? self.writeSidecar()
        }
        if let paused = actions.paused { self.logPause(paused) }
        if actions.publishStarted { self.started() }
        if actions.queueFlush && !self.queuedForFlush { self.shared.queueFlush(self, now: self.machine.lastActivityMs) }
        if actions.write { self.drain() }
        if actions.refreshHeader, self.machine.takeHeaderDirty() { self.file?.updateHeader() }
        if let reason = actions.finish { self.finishRecording(reason: reason) }
        if actions.ended { self.endPause() }
        if let close = actions.close { self.connection.close(close.code, reason: close.reason) }
    }

    /// Writes what the machine has buffered, chunk by chunk (`sf_write_raw`).
    private func drain() {
        guard let file = self.file else { return }
        while let chunk = self.machine.nextWrite() {
            do {
                try file.write(chunk)
            } catch {
                return self.perform(self.machine.writeFailed(error, unwritten: chunk.count))
            }
        }
    }

    private func writeSidecar() throws(MediaError) {
        try self.machine.sidecar?.write(to: self.sidecarPath, durable: false)
    }

    private func create(_ creation: StreamMachine.Creation) {
        let directory = creation.identity.directory(in: self.shared.layout, startedAt: creation.startedAt)
        do throws(MediaError) {
            let reserved = try self.shared.layout.reserveStreamFile(
                in: directory,
                streamSid: creation.identity.streamSid
            )
            self.wavPath = reserved.wavPath
            self.sidecarPath = reserved.sidecarPath
            self.descriptor = reserved.descriptor
            let name = String(reserved.wavPath.split(separator: "/").last ?? "")
            var actions = self.machine.created(fileName: name)
            // The sidecar exists before any audio, so start-up repair can always find an open file.
            try self.writeSidecar()
            actions.rewriteSidecar = false
            self.perform(actions)
        } catch {
            self.perform(self.machine.storageFailed(error))
        }
    }

    private func started() {
        guard let identity = self.machine.identity, let sidecar = self.machine.sidecar else { return }
        if let callSid = identity.callSid {
            self.logger[metadataKey: "call_sid"] = "\(LogText.escaped(callSid.value))"
            self.pauseCallSid = callSid.value
            let generation = self.shared.pauses.generation
            let entry = self.shared.pauses.streamStarted(callSid: callSid.value)
            self.perform(self.machine.applyPause(entry, generation: generation, at: .now()))
        }
        self.logger[metadataKey: "stream_sid"] = "\(LogText.escaped(identity.streamSid.value))"
        self.shared.metrics.streamsStarted += 1
        self.shared.metrics.activeStreams += 1
        var metadata: Logger.Metadata = [
            "sample_rate": "\(self.machine.sampleRate)", "encoding": "\(self.machine.encoding.rawValue)",
            "path": "\(self.wavPath)",
        ]
        if identity.callSid == nil { metadata["unattached"] = "true" }
        if identity.streamSidGenerated { metadata["stream_sid_generated"] = "true" }
        self.logger.info("stream started", metadata: metadata)
        self.shared.publish(.streamStarted(sidecar, wavPath: self.wavPath))
    }

    /// The last audio is written (by `perform`, before this); closes the file and hands the sidecar on.
    private func finishRecording(reason: String) {
        self.machine.endPause(at: .now())
        if let file {
            do { try file.close() } catch { self.machine.closeFailed(error) }
            self.file = nil
        }
        guard let sidecar = self.machine.finalSidecar(endedAt: .now()) else { return }
        self.shared.metrics.activeStreams -= 1
        self.shared.finalize(sidecar, wavPath: self.wavPath, sidecarPath: self.sidecarPath)
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

    // MARK: - PCI pause

    /// Applies a pause or resume of the call when the registry changed since this stream last looked
    /// (one atomic load per frame).
    @inline(__always)
    private func syncPause() {
        let generation = self.shared.pauses.generation
        guard generation != self.machine.pauseGeneration, let callSid = self.pauseCallSid else { return }
        self.perform(self.machine.applyPause(self.shared.pauses.pause(of: callSid), generation: generation, at: .now()))
    }

    private func endPause() {
        guard let callSid = self.pauseCallSid else { return }
        self.pauseCallSid = nil
        self.shared.pauses.streamEnded(callSid: callSid)
    }

    // MARK: - Logging

    /// Messages and values carry outside text (an event name, a stream_sid that failed its check):
    /// escaped (``LogText``), so they cannot forge a line.
    private func log(_ report: StreamMachine.Report) {
        var metadata: Logger.Metadata = [:]
        for (key, value) in report.metadata { metadata[key] = .string(LogText.escaped(value, limit: 1024)) }
        metadata["kind"] = "\(LogText.escaped(report.kind))"
        self.logger.log(level: report.level, "\(LogText.escaped(report.message, limit: 1024))", metadata: metadata)
    }

    private func logPause(_ paused: Bool) {
        self.logger.info(
            paused
                ? "call paused: this stream writes silence and drops dtmf" : "call resumed: this stream records again",
            metadata: ["sample_frame": "\(self.machine.timelineEnd)"]
        )
    }
}

/// What a session needs of its socket: who it is (for the log) and a way to close it. The server's
/// `WebSocketConnection` is one; the allocation probe brings its own.
package protocol StreamConnection: AnyObject {
    var id: UInt64 { get }
    var remoteAddress: String { get }
    func close(_ code: CloseCode, reason: String)
}

extension WebSocketConnection: StreamConnection {}

extension StreamSession {
    /// How far the file grew since the last report, or nil if it did not (housekeeping only: after
    /// the machine's housekeeping, so the header already covers these frames).
    func growthSinceLastReport() -> StreamProgress? {
        let channels = self.machine.channels
        let frames = self.machine.framesWritten
        guard channels > 0, frames > self.reportedFrames, let sidecar = self.machine.sidecar else { return nil }
        self.reportedFrames = frames
        // The canonical 44-byte header, then 16-bit samples; the size on disk when stat fails.
        let bytes = (try? FileSystem.size(of: self.wavPath)) ?? (44 + frames * Int64(channels) * 2)
        let rate = self.machine.sampleRate
        return StreamProgress(
            streamSid: sidecar.streamSid,
            callSid: sidecar.catalogCallSid,
            path: self.wavPath,
            sampleRate: rate,
            channels: channels,
            frames: frames,
            durationSeconds: Double(frames) / Double(rate),
            bytes: bytes,
            at: .now()
        )
    }
}

/// What every session of one ingest shares, handed over at creation instead of a reference to the
/// ingest: the parser, one decode scratch buffer, the pause registry, the configuration, the counters,
/// the flush queue and the way out (events, finalizer). Service thread only.
package final class StreamShared {
    let parser = StreamMessageParser()
    let layout: StorageLayout
    let logger: Logger
    let pauses: CallPauses
    let machineConfiguration: StreamMachine.Configuration
    let maxMessageBytes: Int
    /// The ingest's counters: plain integers on the service thread (the ingest publishes copies).
    var metrics = IngestMetrics()
    /// Sessions with audio in their write buffer, oldest first: the only ones a tick visits.
    private(set) var flushQueue: [(session: StreamSession, since: Int64)] = []
    private var flushQueueHead = 0
    private var decodeBuffer: UnsafeMutableRawBufferPointer
    private let finalizer: StreamFinalizer
    private let events: AsyncStream<IngestEvent>.Continuation
    let finalizeFailures = FinalizeFailureCounter()

    package init(
        configuration: IngestConfiguration,
        layout: StorageLayout,
        pauses: CallPauses,
        finalizer: StreamFinalizer,
        events: AsyncStream<IngestEvent>.Continuation,
        logger: Logger,
        version: String
    ) {
        self.layout = layout
        self.logger = logger
        self.pauses = pauses
        self.finalizer = finalizer
        self.events = events
        self.maxMessageBytes = configuration.server.maxMessageBytes
        self.machineConfiguration = StreamMachine.Configuration(
            recorder: configuration.recorder,
            flushAfterMs: configuration.flushAfterMs,
            idleTimeoutMs: configuration.idleTimeoutMs,
            exorecVersion: version,
            node: configuration.node
        )
        // At its largest once: a message's payload decodes to at most 3/4 of its bytes, and G.711 needs three
        // times that (decoded bytes in the upper third, expanded samples below).
        self.decodeBuffer = .allocate(byteCount: configuration.server.maxMessageBytes / 4 * 9 + 64, alignment: 16)
        self.flushQueue.reserveCapacity(1024)
    }

    deinit { self.decodeBuffer.deallocate() }

    /// Decodes a frame's payload into the shared scratch buffer (valid until the next decode) as 16-bit
    /// samples: PCM as it is, G.711 expanded through its table (`G711`).
    func decode(
        _ frame: MediaFrame,
        in message: UnsafeRawBufferPointer,
        encoding: StreamEncoding
    ) throws(StreamProtocolError) -> UnsafeMutableBufferPointer<Int16> {
        let encoded = StreamMessageParser.maxDecodedSize(of: frame)
        // G.711 is decoded into the upper part and expanded, two bytes per byte, into the lower.
        let needed = encoding == .pcm16 ? encoded : encoded * 3
        if needed > self.decodeBuffer.count {
            // Only if a caller passes a message beyond maxMessageBytes.
            self.decodeBuffer.deallocate()
            self.decodeBuffer = .allocate(byteCount: max(needed, self.decodeBuffer.count * 2), alignment: 16)
        }
        let samples = self.decodeBuffer.baseAddress!.assumingMemoryBound(to: Int16.self)
        guard encoding != .pcm16 else {
            let bytes = try self.parser.decodePayload(of: frame, in: message, into: self.decodeBuffer)
            // The wire is little-endian PCM16, the byte order of every machine exorec builds for.
            return UnsafeMutableBufferPointer(start: samples, count: bytes / 2)
        }
        let scratch = UnsafeMutableRawBufferPointer(rebasing: self.decodeBuffer[(encoded * 2)..<(encoded * 3)])
        let bytes = try self.parser.decodePayloadBytes(of: frame, in: message, into: scratch)
        G711.expand(UnsafeRawBufferPointer(rebasing: scratch[0..<bytes]), encoding: encoding, into: samples)
        return UnsafeMutableBufferPointer(start: samples, count: bytes)
    }

    /// Puts a session with newly buffered audio at the end of the flush queue.
    func queueFlush(_ session: StreamSession, now: Int64) {
        session.queuedForFlush = true
        self.flushQueue.append((session, now))
    }

    /// Writes out every queued stream whose buffered audio is `flushAfterMs` old.
    package func flushDue(now: Int64, flushAfterMs: Int64) {
        while self.flushQueueHead < self.flushQueue.count {
            let (session, since) = self.flushQueue[self.flushQueueHead]
            guard now - since >= flushAfterMs else { break }
            self.flushQueueHead += 1
            session.queuedForFlush = false
            // The entry's age is its first buffered audio's (or older): write whatever is buffered now.
            if !session.finished { session.flush() }
        }
        if self.flushQueueHead == self.flushQueue.count || self.flushQueueHead > 4096 {
            self.flushQueue.removeFirst(self.flushQueueHead)
            self.flushQueueHead = 0
        }
    }

    func publish(_ event: IngestEvent) {
        self.events.yield(event)
    }

    func finalize(_ sidecar: StreamSidecar, wavPath: String, sidecarPath: String) {
        let key = sidecar.closeReason?.split(separator: ";").first.map(String.init) ?? "unknown"
        self.metrics.streamsFinished[key.hasPrefix("stop:") ? "stop" : key, default: 0] += 1
        self.metrics.gaps += sidecar.gaps.count
        self.metrics.gapMilliseconds += Int(sidecar.gapMsTotal)
        let events = self.events
        let failures = self.finalizeFailures
        self.finalizer.submit(sidecar, wavPath: wavPath, sidecarPath: sidecarPath) { result in
            switch result {
            case .success(let done):
                events.yield(.streamFinished(done, wavPath: wavPath))
            case .failure(let error):
                failures.increment()
                events.yield(.streamFinalizeFailed(sidecar, wavPath: wavPath, error: error.description))
            }
        }
    }
}
