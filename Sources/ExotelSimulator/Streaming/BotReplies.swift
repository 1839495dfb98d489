import Foundation
import Logging
import Synchronization

/// What a voice bot (bidirectional stream) sent back over one call's stream, as counted by the platform.
public struct BotStreamReport: Sendable, Hashable {
    public var mediaMessages = 0
    public var audioBytes = 0
    public var marksReceived = 0
    public var marksEchoed = 0
    public var clears = 0
    /// Messages not acted on, by reason ("not JSON", "odd payload length", "unknown event 'x'", …).
    public var rejected: [String: Int] = [:]
    /// Media played but outside the documented chunking (exotel-platform.md §1.6): "under 3200
    /// bytes", "not a multiple of 320 bytes", "over 100000 bytes".
    public var flagged: [String: Int] = [:]
    /// True when the bot closed the connection, which ends the call.
    public var closedByBot = false

    public init() {}
}

/// A voice bot's side of the call: its audio queued and played to the caller at real time from
/// when it arrives, its `mark`s echoed back once the audio sent before them has played, and
/// `clear` dropping queued audio that has not started (exotel-platform.md §1.4).
///
/// Pending marks are echoed at once on `clear` (the platform documents nothing here; this is what
/// Twilio-style bots expect, and it never leaves a bot waiting for a mark that cannot come).
final class BotReplies: Sendable {
    private struct Segment {
        var start: Duration
        var clip: AudioClip
        var end: Duration { self.start + self.clip.duration }
    }

    private struct State {
        var segments: [Segment] = []
        /// When everything queued so far will have played.
        var cursor: Duration = .zero
        var pendingMarks: [(name: String, due: Duration)] = []
        var report = BotStreamReport()
    }

    /// Documented bot → platform chunking (exotel-platform.md §1.6).
    static let smallestChunk = 3200
    static let chunkMultiple = 320
    static let largestChunk = 100_000

    let sampleRate: Int
    private let state = Mutex(State())
    private let logger: Logger

    init(sampleRate: Int, logger: Logger) {
        self.sampleRate = sampleRate
        self.logger = logger
    }

    var report: BotStreamReport { self.state.withLock { $0.report } }

    func noteClosedByBot() {
        self.state.withLock { $0.report.closedByBot = true }
    }

    /// Acts on one message from the bot, received at platform time `now`.
    func handle(_ incoming: StreamIncoming, at now: Duration) {
        switch incoming {
        case .text(let text): self.handle(text, at: now)
        case .binary: self.reject("binary frame (the protocol is JSON text)")
        }
    }

    private func handle(_ text: String, at now: Duration) {
        guard let message = try? JSONDecoder().decode(BotMessage.self, from: Data(text.utf8)) else {
            return self.reject("not a JSON event")
        }
        switch message.event {
        case "media":
            guard let payload = message.media?.payload else { return self.reject("media without media.payload") }
            guard let bytes = Data(base64Encoded: payload) else { return self.reject("media payload is not base64") }
            guard bytes.count % 2 == 0 else { return self.reject("media payload of an odd number of bytes") }
            self.play(Array(bytes), at: now)
        case "mark":
            guard let name = message.mark?.name else { return self.reject("mark without mark.name") }
            self.state.withLock { state in
                state.report.marksReceived += 1
                state.pendingMarks.append((name, max(state.cursor, now)))
            }
        case "clear":
            self.state.withLock { state in
                state.report.clears += 1
                // Audio already playing finishes; queued audio that has not started is dropped.
                state.segments.removeAll { $0.start > now }
                state.cursor = max(now, state.segments.last?.end ?? now)
                for index in state.pendingMarks.indices where state.pendingMarks[index].due > now {
                    state.pendingMarks[index].due = now
                }
            }
        default:
            self.reject("unknown event '\(message.event.prefix(32))'")
        }
    }

    /// Marks whose audio has played by platform time `time`, in the order they were sent.
    func dueMarks(by time: Duration) -> [String] {
        self.state.withLock { state in
            var due: [String] = []
            state.pendingMarks.removeAll { mark in
                guard mark.due <= time else { return false }
                due.append(mark.name)
                return true
            }
            state.report.marksEchoed += due.count
            return due
        }
    }

    /// Adds the bot's audio that sounds within the output range.
    func add(into output: inout [Int16], outputStart: Duration, outputRate: Int) {
        let outputEnd = outputStart + .nanoseconds(Int64(output.count) * 1_000_000_000 / Int64(outputRate))
        self.state.withLock { state in
            for segment in state.segments where segment.start < outputEnd && segment.end > outputStart {
                segment.clip.add(
                    into: &output,
                    outputStart: outputStart,
                    outputRate: outputRate,
                    clipStart: segment.start,
                    window: segment.start..<segment.end,
                    looping: false
                )
            }
        }
    }

    private func play(_ bytes: [UInt8], at now: Duration) {
        let samples = stride(from: 0, to: bytes.count, by: 2).map {
            Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8)
        }
        var flags: [String] = []
        if bytes.count < Self.smallestChunk { flags.append("under \(Self.smallestChunk) bytes") }
        if bytes.count % Self.chunkMultiple != 0 { flags.append("not a multiple of \(Self.chunkMultiple) bytes") }
        if bytes.count > Self.largestChunk { flags.append("over \(Self.largestChunk) bytes") }
        let firstTime = self.state.withLock { state in
            state.report.mediaMessages += 1
            state.report.audioBytes += bytes.count
            let start = max(state.cursor, now)
            let segment = Segment(start: start, clip: AudioClip(samples: samples, sampleRate: self.sampleRate))
            state.segments.append(segment)
            state.cursor = segment.end
            return flags.filter { flag in
                state.report.flagged[flag, default: 0] += 1
                return state.report.flagged[flag] == 1
            }
        }
        for flag in firstTime {
            self.logger.notice(
                "bot media outside the documented chunking (played anyway)",
                metadata: ["chunk": "\(flag)"]
            )
        }
    }

    private func reject(_ reason: String) {
        let first = self.state.withLock { state in
            state.report.rejected[reason, default: 0] += 1
            return state.report.rejected[reason] == 1
        }
        if first { self.logger.warning("bot message ignored", metadata: ["reason": "\(reason)"]) }
    }
}

/// The bot → platform events (exotel-platform.md §1.4); unknown fields are ignored, and the
/// `stream_sid` / `streamSid` key is optional as it is on the platform.
private struct BotMessage: Decodable {
    struct Media: Decodable { var payload: String? }
    struct Mark: Decodable { var name: String? }
    var event: String
    var media: Media?
    var mark: Mark?
}
