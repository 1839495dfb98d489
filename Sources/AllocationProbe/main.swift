import ExotelKit
import Foundation
import Ingest
import Logging
import MallocInterposerSwift
import MediaStore

// Counts the allocations of the per-frame path: a WebSocket message's text handed to the stream
// session (parse, decode, the machine, the write to a real WAV through libsndfile), the flush
// queue's ticks and the header refresh. Single-threaded, no sockets. Run with
// LD_PRELOAD=<build>/libMallocInterposerSwift.so; prints one JSON line with the counts.
//
//     AllocationProbe [frames-per-stream] [--allocate-per-frame]
//
// The second argument adds a String per frame to the measured loop (to see the check fail).

final class ProbeConnection: StreamConnection {
    let id: UInt64
    let remoteAddress = "probe"
    private(set) var closed: CloseCode?
    init(id: UInt64) { self.id = id }
    func close(_ code: CloseCode, reason: String) { self.closed = code }
}

struct ProbeStream {
    var session: StreamSession
    /// Media messages in arrival order; `next` walks them in a loop (timestamps keep growing).
    var script: StreamScriptLite
}

/// Builds media messages with the platform's encoder (the test support target is not linked here).
struct StreamScriptLite {
    let streamSid: String
    let callSid: String
    let rate: Int
    let dual: Bool
    let encoder = StreamMessageEncoder()

    func start() -> [UInt8] {
        var start = StreamStart(
            streamSid: self.streamSid,
            callSid: self.callSid,
            accountSid: "acct1",
            from: "+919800000001",
            to: "+918000000001",
            customParameters: [:]
        )
        start.mediaFormat = MediaFormat(encoding: "audio/x-raw", sampleRate: self.rate, bitRate: "16")
        start.tracks = self.dual ? [.inbound, .outbound] : nil
        return self.encoder.start(start, sequenceNumber: 1)
    }

    func media(frame: Int, track: Track?) -> [UInt8] {
        let samples = (0..<(self.rate / 10)).map { Int16(truncatingIfNeeded: frame &* 31 &+ $0 &* 7) }
        return samples.withUnsafeBytes {
            self.encoder.media(
                streamSid: self.streamSid,
                sequenceNumber: Int64(frame + 2),
                chunk: Int64(frame + 1),
                timestampMs: Int64(frame * 100),
                track: track,
                pcm: $0
            )
        }
    }

    /// Frames `range` in an order with reordered and duplicated frames: every eighth pair swapped
    /// (mono only: with the default 100 ms window a dual stream's track that falls a frame behind is
    /// filled with silence, a gap, which is bad input rather than the steady state), every twelfth
    /// frame sent twice.
    func messages(_ range: Range<Int>) -> [[UInt8]] {
        var order: [Int] = []
        for frame in range {
            if !self.dual && frame % 8 == 1 && frame + 1 < range.upperBound {
                order.append(frame + 1)
            } else if !self.dual && frame % 8 == 2 && frame > range.lowerBound {
                order.append(frame - 1)
            } else {
                order.append(frame)
            }
            if frame % 12 == 5 { order.append(frame) }
        }
        return order.flatMap { frame in
            self.dual
                ? [self.media(frame: frame, track: .inbound), self.media(frame: frame, track: .outbound)]
                : [self.media(frame: frame, track: nil)]
        }
    }
}

let arguments = CommandLine.arguments
let measuredFrames = arguments.count > 1 ? Int(arguments[1]) ?? 2000 : 2000
let allocatePerFrame = arguments.contains("--allocate-per-frame")
let housekeeping = !arguments.contains("--no-housekeeping")
let warmupFrames = 300

let root = FileManager.default.temporaryDirectory.appendingPathComponent("alloc-probe-\(getpid())").path
try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: root) }

var configuration = IngestConfiguration()
configuration.storageRoot = root
// Sidecar rewrites (JSON, every 5 s when counters changed) are housekeeping, not the per-frame path:
// keep them out of the measured run.
configuration.recorder.sidecarUpdateIntervalMs = 1 << 40
// The streams send different numbers of messages (dual, duplicates): none may time out while the others go on.
configuration.idleTimeoutMs = 1 << 40
var logger = Logger(label: "probe")
logger.logLevel = .critical
let (events, continuation) = AsyncStream<IngestEvent>.makeStream()
_ = events
let shared = StreamShared(
    configuration: configuration,
    layout: StorageLayout(root: root),
    pauses: CallPauses(),
    finalizer: StreamFinalizer(logger: logger),
    events: continuation,
    logger: logger,
    version: "probe"
)

let scripts = [
    StreamScriptLite(streamSid: "mono8a", callSid: "CA1", rate: 8000, dual: false),
    StreamScriptLite(streamSid: "mono8b", callSid: "CA2", rate: 8000, dual: false),
    StreamScriptLite(streamSid: "mono24", callSid: "CA3", rate: 24000, dual: false),
    StreamScriptLite(streamSid: "dual16", callSid: "CA4", rate: 16000, dual: true),
]
let request = UpgradeRequest(path: "/v1/streams", query: [], authorization: nil, remoteAddress: "probe")
var now: Int64 = 1_000
var sessions: [StreamSession] = []
for (index, script) in scripts.enumerated() {
    let session = StreamSession(
        connection: ProbeConnection(id: UInt64(index)),
        request: request,
        shared: shared,
        now: now
    )
    script.start().withUnsafeBytes { session.received($0, isBinary: false, now: now) }
    sessions.append(session)
}
let warmup = scripts.map { $0.messages(0..<warmupFrames) }
let measured = scripts.map { $0.messages(warmupFrames..<(warmupFrames + measuredFrames)) }

/// One round: the next message of every stream, then the service thread's periodic work as the
/// server runs it (the flush queue every tick, housekeeping with the header refresh every second).
@MainActor func run(_ batches: [[[UInt8]]], longest: Int, measure: Bool) -> Int {
    var sink = 0
    for round in 0..<longest {
        for (session, messages) in zip(sessions, batches) where round < messages.count {
            messages[round].withUnsafeBytes { session.received($0, isBinary: false, now: now) }
        }
        if allocatePerFrame && measure {
            let text = "frame \(round) of \(longest)"
            sink &+= text.utf8.count
        }
        now += 25
        shared.flushDue(now: now, flushAfterMs: configuration.flushAfterMs)
        if round % 40 == 0 && housekeeping {
            for session in sessions { session.housekeeping(now: now) }
        }
    }
    return sink
}

_ = run(warmup, longest: warmup.map(\.count).max() ?? 0, measure: false)
let longest = measured.map(\.count).max() ?? 0
MallocInterposerSwift.initialize()
MallocInterposerSwift.hook()
let sink = run(measured, longest: longest, measure: true)
MallocInterposerSwift.unhook()
let stats = MallocInterposerSwift.getStatistics()
let messages = measured.map(\.count).reduce(0, +)
for session in sessions { session.disconnected() }
print(
    #"{"messages":\#(messages),"mallocCount":\#(stats.mallocCount),"mallocBytes":\#(stats.mallocBytesCount),"#
        + #""freeCount":\#(stats.freeCount),"sink":\#(sink)}"#
)
