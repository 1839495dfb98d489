import ExotelKit
import MediaStore

@testable import Ingest

/// A tiny in-memory performer for ``StreamMachine``: feeds it the messages a client would send (parsed
/// and decoded as the shell does) and performs its actions into memory: the samples it writes, the
/// sidecar it would write and finalize, the close it asks for, what it logs. No socket, no file, no clock.
final class MachineHarness {
    var machine: StreamMachine
    let parser = StreamMessageParser()
    /// Every sample handed to "the file", in order.
    private(set) var written: [Int16] = []
    private(set) var writes = 0
    private(set) var created: StreamMachine.Creation?
    private(set) var channels: Int?
    private(set) var closes: [StreamMachine.Close] = []
    private(set) var reports: [StreamMachine.Report] = []
    private(set) var errors: [String: Int] = [:]
    private(set) var placements: [StreamMachine.Timeline.Placement] = []
    private(set) var startedPublished = 0
    private(set) var sidecarWrites = 0
    private(set) var headerRefreshes = 0
    private(set) var queuedForFlush = 0
    private(set) var pauseLogs: [Bool] = []
    /// The sidecar handed to the finalizer, once the stream ended with a recording.
    private(set) var finished: StreamSidecar?
    private(set) var ended = false
    /// Make the next storage step fail.
    var failCreate: MediaError?
    var failWrites: MediaError?
    var now: Int64 = 0
    /// The pause registry, consulted as the shell does (at start, before each frame and dtmf).
    var pauses: CallPauses?
    private var pauseCallSid: String?
    /// Messages the shell would refuse as too large (it never parses them).
    var maxMessageBytes = 1 << 20
    private var decodeBuffer = [UInt8](repeating: 0, count: 1 << 20)

    init(_ configuration: StreamMachine.Configuration = .init(), now: Int64 = 0) {
        self.now = now
        self.machine = StreamMachine(configuration: configuration, now: now)
    }

    var sidecar: StreamSidecar? { self.machine.sidecar }
    var closeCode: UInt16? { self.closes.first.map { $0.code.rawValue } }
    var reportedKinds: [String] { self.reports.map(\.kind) }

    // MARK: - Driving

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        if bytes.count > self.maxMessageBytes { return self.tooLarge() }
        self.machine.activity(now: self.now)
        guard self.machine.phase != .finished else { return }
        bytes.withUnsafeBytes { message in
            let parsed: StreamMessage
            do throws(StreamProtocolError) {
                parsed = try self.parser.parse(message)
            } catch {
                return self.perform(self.machine.rejected(error))
            }
            switch parsed {
            case .media(let frame):
                guard self.machine.phase == .recording else { return self.perform(self.machine.mediaBeforeStart()) }
                self.syncPause()
                self.decodeBuffer.withUnsafeMutableBytes { raw in
                    let samples: UnsafeMutableBufferPointer<Int16>
                    do throws(StreamProtocolError) {
                        samples = try self.decode(frame, message, raw)
                    } catch {
                        return self.perform(self.machine.rejected(error))
                    }
                    let actions = self.machine.media(frame, samples: samples, now: self.now)
                    if let placement = actions.placement { self.placements.append(placement) }
                    self.perform(actions)
                }
            case .start(let start):
                self.perform(self.machine.start(start, at: Timestamp(millisecondsSinceEpoch: 1_700_000_000_000)))
            case .stop(let stop):
                self.perform(self.machine.stop(reason: stop.reason))
            case .dtmf(let dtmf):
                self.syncPause()
                self.machine.dtmf(
                    digit: dtmf.digit,
                    durationMs: dtmf.durationMs,
                    at: .init(millisecondsSinceEpoch: 1_700_000_000_000)
                )
            case .mark:
                self.machine.mark()
            case .connected:
                break
            case .unknown(let event):
                self.perform(self.machine.unknownEvent(event))
            }
        }
    }

    private func decode(
        _ frame: MediaFrame,
        _ message: UnsafeRawBufferPointer,
        _ raw: UnsafeMutableRawBufferPointer
    ) throws(StreamProtocolError) -> UnsafeMutableBufferPointer<Int16> {
        let samples = raw.baseAddress!.assumingMemoryBound(to: Int16.self)
        let encoding = self.machine.encoding
        guard encoding != .pcm16 else {
            let bytes = try self.parser.decodePayload(of: frame, in: message, into: raw)
            return UnsafeMutableBufferPointer(start: samples, count: bytes / 2)
        }
        let half = UnsafeMutableRawBufferPointer(rebasing: raw[(raw.count / 2)...])
        let bytes = try self.parser.decodePayloadBytes(of: frame, in: message, into: half)
        G711.expand(UnsafeRawBufferPointer(rebasing: half[0..<bytes]), encoding: encoding, into: samples)
        return UnsafeMutableBufferPointer(start: samples, count: bytes)
    }

    func sendBinary() {
        self.machine.activity(now: self.now)
        self.perform(self.machine.binaryMessage())
    }

    func tooLarge() { self.perform(self.machine.messageTooLarge(limitBytes: self.maxMessageBytes)) }
    func disconnect() { self.perform(self.machine.disconnected()) }
    func shutdown() { self.perform(self.machine.shutdown()) }

    /// A tick of the flush queue (the shell writes when the machine says the buffer is old enough).
    func tick(advanceMs: Int64) {
        self.now += advanceMs
        if self.machine.flushDue(now: self.now) { self.drain() }
    }

    func housekeeping(advanceMs: Int64 = 0) {
        self.now += advanceMs
        self.perform(self.machine.housekeeping(now: self.now, at: .init(millisecondsSinceEpoch: 1_700_000_000_000)))
    }

    func applyPause(_ entry: CallPauses.Entry?, generation: UInt64) {
        self.perform(
            self.machine.applyPause(entry, generation: generation, at: .init(millisecondsSinceEpoch: 1_700_000_000_000))
        )
    }

    private func syncPause() {
        guard let pauses, let callSid = self.pauseCallSid, pauses.generation != self.machine.pauseGeneration else {
            return
        }
        self.applyPause(pauses.pause(of: callSid), generation: pauses.generation)
    }

    // MARK: - Performing

    func perform(_ actions: StreamMachine.Actions) {
        if let error = actions.error { self.errors[error, default: 0] += 1 }
        if let report = actions.report { self.reports.append(report) }
        if let creation = actions.create {
            self.created = creation
            if let failure = self.failCreate { return self.perform(self.machine.storageFailed(failure)) }
            self.sidecarWrites += 1
            return self.perform(self.machine.created(fileName: "\(creation.identity.streamSid.value).wav"))
        }
        if let channels = actions.openAudio {
            self.channels = channels
            self.sidecarWrites += 1
        } else if actions.rewriteSidecar {
            self.sidecarWrites += 1
        }
        if let paused = actions.paused { self.pauseLogs.append(paused) }
        if actions.publishStarted {
            self.startedPublished += 1
            if let pauses, let callSid = self.machine.identity?.callSid?.value {
                self.pauseCallSid = callSid
                let generation = pauses.generation
                let entry = pauses.streamStarted(callSid: callSid)
                self.applyPause(entry, generation: generation)
            }
        }
        if actions.queueFlush { self.queuedForFlush += 1 }
        if actions.write { self.drain() }
        if actions.refreshHeader, self.machine.takeHeaderDirty() { self.headerRefreshes += 1 }
        if actions.finish != nil {
            self.machine.endPause(at: .init(millisecondsSinceEpoch: 1_700_000_000_000))
            self.finished = self.machine.finalSidecar(endedAt: .init(millisecondsSinceEpoch: 1_700_000_000_000))
        }
        if actions.ended {
            self.ended = true
            if let pauses, let callSid = self.pauseCallSid { pauses.streamEnded(callSid: callSid) }
            self.pauseCallSid = nil
        }
        if let close = actions.close { self.closes.append(close) }
    }

    private func drain() {
        guard self.channels != nil else { return }
        while let chunk = self.machine.nextWrite() {
            if let failure = self.failWrites {
                return self.perform(self.machine.writeFailed(failure, unwritten: chunk.count))
            }
            self.writes += 1
            self.written += Array(chunk)
        }
    }
}
