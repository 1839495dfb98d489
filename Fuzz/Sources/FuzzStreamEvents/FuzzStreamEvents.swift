import ExotelKit
import Glibc
import Ingest
import MediaStore

// One stream's whole life, driven by random events: the input is a little program of 4-byte
// start/media/dtmf/mark/stop/tick/odd-message events, with random chunk and timestamp values (small
// steps, jumps, and values at the Int64 limits), tracks and payload sizes. Each message is rendered
// as the platform's JSON, parsed by `StreamMessageParser`, and applied to a `StreamRecorder` (the
// machine's `StreamMachine.Timeline` and `WriteBuffer` over a `SoundFile`) with the rules `StreamSession`
// applies (which needs a socket; this is the layer below it). Checked after every event and at the end:
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

/// A chunk or timestamp for `kind` (0-15) and the event's spare byte `q`: mostly the next in
/// sequence, sometimes a step back or a jump, sometimes a value at the Int64 limits (including
/// one whose index × samples lands just below it), or one the parser must refuse.
private func position(kind: UInt8, q: UInt8, previous: Int64, step: Int64, samples: Int) -> String {
    switch kind % 16 {
    case 0..<8: return "\(previous &+ step)"
    case 8: return "\(previous &- step * Int64(q % 4))"
    case 9: return "\(previous &+ step * Int64(q))"
    case 10: return "\(Int64.max &- Int64(q))"
    case 11: return "\(Int64.max / Int64(max(samples, 1)) &- Int64(q))"
    case 12: return "\(Int64.min &+ Int64(q))"  // negative: refused by the parser
    case 13: return "0"
    case 14: return "\(UInt64.max &- UInt64(q))"  // past Int64: refused by the parser
    default: return "\(previous &+ Int64(q) * 1000)"
    }
}

/// Messages that are not the platform's, for the raw event.
private let oddMessages = [
    "", "{", "{}", "[]", "null", #"{"event":"media"}"#, #"{"event":"media","media":{"payload":"AA=="}}"#,
    #"{"event":"media","media":{"payload":"!!!!"}}"#, #"{"event":"start"}"#,
    #"{"event":"media","media":{"chunk":"x","payload":""}}"#,
    #"{"event":"media","media":{"chunk":-1,"timestamp":1.5,"payload":"AAAA"}}"#, #"{"event":"clear"}"#,
    #"{"event":"media","media":{"track":"sideways","payload":"AAAA"}}"#,
    #"{"event":"media","media":{"payload":"AAAA"},"track":"outbound"}"#,
]

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
                let stream = try? PathSafeIdentifier(start.streamSid ?? "", field: "stream")
            else {
                self.finished = true
                return
            }
            var configuration = StreamRecorder.Configuration()
            configuration.maxGapMs = 3000  // larger gaps only cost time: each is written as silence
            configuration.maxDataBytes = 2_000_000
            configuration.writeBufferSamples = 4096
            let identity = StreamIdentity(
                account: account,
                callSid: call,
                streamSid: stream,
                from: start.from,
                to: start.to,
                customParameters: start.customParameters,
                queryParameters: [:]
            )
            let recorder = try! StreamRecorder(
                layout: StorageLayout(root: directory),
                identity: identity,
                sampleRate: rate,
                startedAt: Timestamp(millisecondsSinceEpoch: 1_700_000_000_000),
                configuration: configuration,
                exorecVersion: "fuzz"
            )
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
            let samples = UnsafeBufferPointer(
                start: self.decodeBuffer.baseAddress!.assumingMemoryBound(to: Int16.self),
                count: bytes / 2
            )
            let placement = recorder.append(
                channel: channel,
                timestampMs: frame.timestampMs,
                chunk: frame.chunk,
                samples: samples
            )
            self.check(recorder)
            if placement == .gapTooLarge || placement == .beyondMaxDuration || recorder.writeError != nil {
                self.finish()
            }
        case .dtmf(let dtmf):
            self.recorder?.recordDTMF(
                digit: dtmf.digit,
                durationMs: dtmf.durationMs,
                at: Timestamp(millisecondsSinceEpoch: 0)
            )
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
            precondition(
                Int64(st.st_size) == 44 + recorder.framesWritten * Int64(channels) * 2,
                "file \(st.st_size) bytes, \(recorder.framesWritten) frames written"
            )
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
        let sidecar = recorder.finish(
            closeReason: "fuzz",
            endedAt: Timestamp(millisecondsSinceEpoch: 1_700_000_001_000)
        )
        self.check(recorder)
        let channels = Int64(recorder.channels ?? 1)
        if recorder.writeError == nil {
            precondition(
                sidecar.frames == recorder.committedFrames,
                "sidecar \(sidecar.frames) frames, timeline \(recorder.committedFrames)"
            )
        } else {
            precondition(sidecar.frames <= recorder.committedFrames)
        }
        var st = stat()
        precondition(stat(recorder.wavPath, &st) == 0)
        precondition(
            Int64(st.st_size) == 44 + sidecar.frames * channels * 2,
            "file \(st.st_size) bytes for \(sidecar.frames) frames × \(channels)"
        )
        let file = try! SoundFile.open(readingFrom: recorder.wavPath)
        precondition(
            file.info.frames == sidecar.frames && Int64(file.info.channels) == channels,
            "libsndfile reads \(file.info), sidecar \(sidecar.frames)"
        )
        try? file.close()
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStreamEvents(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    iteration += 1
    let sid = "MZfuzz\(iteration)"
    let run = Run(streamSid: sid)
    // The program: 4-byte events [op, flags, p, q], so that mutations keep events aligned.
    var now: Int64 = 0
    var offset = 0
    var events = 0
    while offset + 4 <= size && events < 256 {
        let (op, flags, p, q) = (data[offset], data[offset + 1], data[offset + 2], data[offset + 3])
        offset += 4
        events += 1
        switch op % 10 {
        case 0:
            var start = StreamStart(streamSid: sid, callSid: "CAfuzz", accountSid: "acfuzz", customParameters: [:])
            let rates = [8000, 16000, 24000, 8000, 44100, 0]
            if flags & 1 != 0 {
                start.mediaFormat = MediaFormat(
                    encoding: "base64",
                    sampleRate: rates[Int(flags >> 1) % rates.count],
                    bitRate: "128kbps"
                )
            }
            switch (flags >> 4) % 4 {
            case 1: start.tracks = [.inbound]
            case 2: start.tracks = [.inbound, .outbound]
            case 3: start.tracks = [.outbound, .outbound]
            default: break
            }
            run.apply(String(decoding: encoder.start(start, sequenceNumber: 1), as: UTF8.self))
        case 1, 2, 3, 4:
            // flags: bits 0-2 samples (a platform frame, 200/300 ms, one, none, 20 ms, or q × 3),
            // 0x08 chunk (kind p & 15), 0x10 timestamp (kind p >> 4), 0x20 track (op's top bit:
            // outbound), 0x40 numbers as strings, 0x80 an odd PCM byte.
            let samples = flags % 8 == 7 ? Int(q) * 3 : [800, 800, 1600, 2400, 1, 0, 160][Int(flags % 8)]
            var members: [String] = []
            if flags & 0x08 != 0 {
                let value = position(kind: p & 0x0f, q: q, previous: run.chunk, step: 1, samples: samples)
                if let parsed = Int64(value) { run.chunk = parsed }
                members.append(flags & 0x40 != 0 ? #""chunk":"\#(value)""# : #""chunk":\#(value)"#)
            }
            if flags & 0x10 != 0 {
                let value = position(kind: p >> 4, q: q, previous: run.timestamp, step: 100, samples: samples)
                if let parsed = Int64(value) { run.timestamp = parsed }
                members.append(flags & 0x40 != 0 ? #""timestamp":"\#(value)""# : #""timestamp":\#(value)"#)
            }
            if flags & 0x20 != 0 { members.append(op & 0x80 != 0 ? #""track":"outbound""# : #""track":"inbound""#) }
            let byteCount = samples * 2 + (flags & 0x80 != 0 ? 1 : 0)
            let pcm = (0..<byteCount).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(q)) }
            let payload = pcm.withUnsafeBytes { String(decoding: Base64.encode($0), as: UTF8.self) }
            members.append(#""payload":"\#(payload)""#)
            run.apply(
                #"{"event":"media","sequence_number":"\#(events)","stream_sid":"\#(sid)","media":{\#(members.joined(separator: ","))}}"#
            )
        case 5:
            let digit = String(UnicodeScalar(p % 95 + 32))
            run.apply(
                String(
                    decoding: encoder.dtmf(
                        streamSid: sid,
                        sequenceNumber: 3,
                        digit: digit,
                        durationMs: Int64(q) << (flags % 64)
                    ),
                    as: UTF8.self
                )
            )
        case 6:
            run.apply(String(decoding: encoder.mark(streamSid: sid, sequenceNumber: 3, name: "m"), as: UTF8.self))
        case 7:
            now += Int64(p) * 100
            run.tick(now)
        case 8:
            run.apply(oddMessages[Int(p) % oddMessages.count])
        default:
            if op >> 4 == 0xf {
                run.apply(
                    String(
                        decoding: encoder.stop(
                            streamSid: sid,
                            sequenceNumber: 9,
                            callSid: "CAfuzz",
                            accountSid: "acfuzz",
                            reason: "callended"
                        ),
                        as: UTF8.self
                    )
                )
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
