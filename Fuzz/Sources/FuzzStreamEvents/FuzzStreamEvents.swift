import ExotelKit
import Glibc
import MediaStore

// One stream's whole life, driven by random events: the input is a little program of
// start/media/dtmf/mark/stop/tick/raw messages, with random chunk and timestamp values (small
// steps, jumps, and values at the Int64 limits), tracks and payload sizes. Each message is rendered
// as the platform's JSON, parsed by `StreamMessageParser`, and applied to a `StreamRecorder` (its
// `StreamTimeline`) with the rules `StreamSession` applies (which needs a socket; this is the layer
// below it). Checked after every event and at the end:
// - nothing traps (the reported crash needed three frames in this order);
// - the committed frame count never goes back, and what is on disk never exceeds it;
// - after `finish`, the sidecar's frames equal the timeline's, the WAV's length is its 44-byte
//   header plus exactly those frames, and libsndfile reads that many frames back.

private let directory: String = {
    let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
    var template = Array("\(base)/exorec-fuzz-stream-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { fatalError("mkdtemp failed") }
    return String(cString: made)
}()
private let parser = StreamMessageParser()
private let encoder = StreamMessageEncoder()
private nonisolated(unsafe) var iteration = 0

/// Reads the program; returns zeros once the input is used up.
private struct Program {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    var atEnd: Bool { self.index >= self.bytes.count }

    mutating func byte() -> UInt8 {
        guard self.index < self.bytes.count else { return 0 }
        defer { self.index += 1 }
        return self.bytes[self.index]
    }

    mutating func u64() -> UInt64 {
        var value: UInt64 = 0
        for _ in 0..<8 { value = value << 8 | UInt64(self.byte()) }
        return value
    }

    /// A chunk or timestamp: mostly the next in sequence, sometimes a step or jump, sometimes a
    /// value at or near the limits, sometimes raw 64 bits (possibly "negative" as text).
    mutating func position(previous: Int64, step: Int64) -> String {
        let kind = self.byte()
        switch kind % 16 {
        case 0..<8: return "\(previous &+ step)"
        case 8: return "\(previous &- step * Int64(self.byte() % 4))"
        case 9: return "\(previous &+ step * Int64(self.byte()))"
        case 10: return "\(Int64.max &- Int64(self.byte()))"
        case 11: return "\(Int64.max / Int64(max(self.byte(), 1)))"
        case 12: return "\(Int64(bitPattern: self.u64()))"
        case 13: return "0"
        case 14: return "\(UInt64.max &- UInt64(self.byte()))"  // past Int64: refused by the parser
        default: return "\(previous &+ Int64(self.byte()) * 1000)"
        }
    }
}

private final class Run {
    var recorder: StreamRecorder?
    var finished = false
    var lastCommitted: Int64 = 0
    var chunk: Int64 = 0
    var timestamp: Int64 = 0
    let decodeBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
    let streamSid: String

    init(streamSid: String) { self.streamSid = streamSid }
    deinit { self.decodeBuffer.deallocate() }

    func apply(_ text: String) {
        var text = text
        text.withUTF8 { self.apply(message: UnsafeRawBufferPointer($0)) }
    }

    func apply(message: UnsafeRawBufferPointer) {
        guard !self.finished, let parsed = try? parser.parse(message) else { return }
        switch parsed {
        case .start(let start):
            guard self.recorder == nil else { return }
            let rate = start.mediaFormat?.sampleRate ?? 8000
            guard [8000, 16000, 24000].contains(rate),
                let account = try? PathSafeIdentifier(start.accountSid ?? "", field: "account"),
                let call = try? PathSafeIdentifier(start.callSid ?? "", field: "call"),
                let stream = try? PathSafeIdentifier(start.streamSid, field: "stream")
            else {
                self.finished = true
                return
            }
            var configuration = StreamRecorder.Configuration()
            configuration.maxGapMs = 3000  // larger gaps only cost time: each is written as silence
            configuration.maxDataBytes = 2_000_000
            configuration.writeBufferSamples = 4096
            let identity = StreamRecorder.Identity(
                account: account, callSid: call, streamSid: stream, from: start.from, to: start.to,
                customParameters: start.customParameters, queryParameters: [:])
            let recorder = try! StreamRecorder(
                layout: StorageLayout(root: directory), identity: identity, sampleRate: rate,
                startedAt: Timestamp(millisecondsSinceEpoch: 1_700_000_000_000), configuration: configuration,
                exorecVersion: "fuzz")
            self.recorder = recorder
            if let tracks = start.tracks, !tracks.isEmpty { try! recorder.setChannels(Set(tracks).count == 2 ? 2 : 1) }
        case .media(let frame):
            guard let recorder else { return }
            let capacity = StreamMessageParser.maxDecodedSize(of: frame)
            guard capacity <= self.decodeBuffer.count,
                let bytes = try? parser.decodePayload(of: frame, in: message, into: self.decodeBuffer)
            else { return }
            if recorder.channels == nil { try! recorder.setChannels(frame.track == nil ? 1 : 2) }
            let channel: Int
            if recorder.channels == 2 {
                guard let track = frame.track else { return }
                channel = track.channel
            } else {
                guard frame.track != .outbound else { return }
                channel = 0
            }
            let samples = UnsafeBufferPointer(start: self.decodeBuffer.baseAddress!.assumingMemoryBound(to: Int16.self), count: bytes / 2)
            let placement = recorder.append(channel: channel, timestampMs: frame.timestampMs, chunk: frame.chunk, samples: samples)
            self.check(recorder)
            if placement == .gapTooLarge || recorder.writeError != nil { self.finish() }
        case .dtmf(let dtmf):
            self.recorder?.recordDTMF(digit: dtmf.digit, durationMs: dtmf.durationMs, at: Timestamp(millisecondsSinceEpoch: 0))
        case .mark:
            self.recorder?.recordMark()
        case .stop:
            self.finish()
        case .connected, .unknown:
            break
        }
    }

    func tick(_ now: Int64) {
        guard let recorder, !self.finished else { return }
        recorder.tick(monotonicMs: now)
        self.check(recorder)
        // After a tick everything written is in the file and its header is current.
        if let channels = recorder.channels, recorder.writeError == nil {
            var st = stat()
            precondition(stat(recorder.wavPath, &st) == 0)
            precondition(Int64(st.st_size) == 44 + recorder.framesWritten * Int64(channels) * 2, "file \(st.st_size) bytes, \(recorder.framesWritten) frames written")
        }
    }

    func check(_ recorder: StreamRecorder) {
        let committed = recorder.committedFrames
        precondition(committed >= self.lastCommitted, "committed went back from \(self.lastCommitted) to \(committed)")
        precondition(recorder.framesWritten <= committed, "\(recorder.framesWritten) written of \(committed) committed")
        self.lastCommitted = committed
    }

    func finish() {
        guard !self.finished else { return }
        self.finished = true
        guard let recorder else { return }
        let sidecar = recorder.finish(closeReason: "fuzz", endedAt: Timestamp(millisecondsSinceEpoch: 1_700_000_001_000))
        self.check(recorder)
        let channels = Int64(recorder.channels ?? 1)
        if recorder.writeError == nil {
            precondition(sidecar.frames == recorder.committedFrames, "sidecar \(sidecar.frames) frames, timeline \(recorder.committedFrames)")
        } else {
            precondition(sidecar.frames <= recorder.committedFrames)
        }
        var st = stat()
        precondition(stat(recorder.wavPath, &st) == 0)
        precondition(Int64(st.st_size) == 44 + sidecar.frames * channels * 2, "file \(st.st_size) bytes for \(sidecar.frames) frames × \(channels)")
        let file = try! SoundFile.open(readingFrom: recorder.wavPath)
        precondition(file.info.frames == sidecar.frames && Int64(file.info.channels) == channels, "libsndfile reads \(file.info), sidecar \(sidecar.frames)")
        try? file.close()
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStreamEvents(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    iteration += 1
    let sid = "MZfuzz\(iteration)"
    let run = Run(streamSid: sid)
    var program = Program(bytes: UnsafeBufferPointer(start: data, count: size))
    var now: Int64 = 0
    var events = 0
    while !program.atEnd && events < 256 {
        events += 1
        let op = program.byte()
        switch op % 10 {
        case 0:
            let flags = program.byte()
            var start = StreamStart(streamSid: sid, callSid: "CAfuzz", accountSid: "acfuzz", customParameters: [:])
            let rates = [8000, 16000, 24000, 8000, 44100, 0]
            if flags & 1 != 0 { start.mediaFormat = MediaFormat(encoding: "base64", sampleRate: rates[Int(flags >> 1) % rates.count], bitRate: "128kbps") }
            switch (flags >> 4) % 4 {
            case 1: start.tracks = [.inbound]
            case 2: start.tracks = [.inbound, .outbound]
            case 3: start.tracks = [.outbound, .outbound]
            default: break
            }
            run.apply(String(decoding: encoder.start(start, sequenceNumber: 1), as: UTF8.self))
        case 1, 2, 3, 4:
            let flags = program.byte()
            // Samples: a platform frame (100 ms at 8 kHz), 200/300 ms, one, none, 20 ms, or any.
            let samples = flags % 8 == 7 ? Int(program.byte()) * 3 : [800, 800, 1600, 2400, 1, 0, 160][Int(flags % 8)]
            var members: [String] = []
            if flags & 0x08 != 0 {
                let value = program.position(previous: run.chunk, step: 1)
                if let parsed = Int64(value) { run.chunk = parsed }
                members.append(flags & 0x40 != 0 ? #""chunk":"\#(value)""# : #""chunk":\#(value)"#)
            }
            if flags & 0x10 != 0 {
                let value = program.position(previous: run.timestamp, step: 100)
                if let parsed = Int64(value) { run.timestamp = parsed }
                members.append(flags & 0x40 != 0 ? #""timestamp":"\#(value)""# : #""timestamp":\#(value)"#)
            }
            if flags & 0x20 != 0 { members.append(op & 0x80 != 0 ? #""track":"outbound""# : #""track":"inbound""#) }
            // PCM bytes: an even count is whole samples; flags' top bit adds an odd byte.
            let byteCount = samples * 2 + (flags & 0x80 != 0 && samples == 1 ? 1 : 0)
            let fill = program.byte()
            let pcm = (0..<byteCount).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(fill)) }
            let payload = pcm.withUnsafeBytes { String(decoding: Base64.encode($0), as: UTF8.self) }
            members.append(#""payload":"\#(payload)""#)
            run.apply(#"{"event":"media","sequence_number":"\#(events)","stream_sid":"\#(sid)","media":{\#(members.joined(separator: ","))}}"#)
        case 5:
            run.apply(String(decoding: encoder.dtmf(streamSid: sid, sequenceNumber: 3, digit: String(UnicodeScalar(program.byte() % 95 + 32)), durationMs: Int64(bitPattern: program.u64())), as: UTF8.self))
        case 6:
            run.apply(String(decoding: encoder.mark(streamSid: sid, sequenceNumber: 3, name: "m"), as: UTF8.self))
        case 7:
            now += Int64(program.byte()) * 100
            run.tick(now)
        case 8:
            // A raw message: the next n bytes as they are.
            let n = Int(program.byte())
            let start = program.index
            let end = min(start + n, size)
            program.index = end
            run.apply(message: UnsafeRawBufferPointer(start: data + start, count: end - start))
        default:
            if op & 0xf0 == 0xf0 {
                run.apply(String(decoding: encoder.stop(streamSid: sid, sequenceNumber: 9, callSid: "CAfuzz", accountSid: "acfuzz", reason: "callended"), as: UTF8.self))
            }
        }
    }
    run.finish()
    if let recorder = run.recorder {
        unlink(recorder.wavPath)
        unlink(recorder.sidecarPath)
    }
    return 0
}
