import ExotelKit
import Synchronization

/// How a call's stream ended.
enum StreamEnd: Sendable, Hashable {
    /// The call ended and `stop` was sent.
    case callEnded
    /// The voice bot closed the connection at this platform time: that ends the call.
    case botHungUp(at: Duration)
}

/// One call's stream to the bot: `connected`, `start`, a `media` frame for every 100 ms of the call
/// (sent when that audio has been "spoken", i.e. paced to the call clock), then `stop` with reason
/// `callended` when the call ends.
///
/// A voice bot's stream is bidirectional: it carries the caller only (exotel-platform.md §1.6),
/// and what the bot sends back is played to the caller (`BotReplies`), its marks echoed in order.
struct StreamSession: Sendable {
    let target: StreamTarget
    let streamSid: String
    let callSid: String
    let accountSid: String
    let from: String
    let to: String?
    /// The instant the call was placed; every other time is an offset from it.
    let origin: ScaledClock.Instant
    let start: Duration
    let end: Duration
    let soundtrack: CallSoundtrack

    static let frameDuration = Duration.milliseconds(100)

    func run(
        connector: any StreamConnecting,
        clock: ScaledClock,
        encoder: StreamMessageEncoder = StreamMessageEncoder()
    )
        async throws -> StreamEnd
    {
        var headers: [String: String] = [:]
        if let authorization = self.target.authorization { headers["Authorization"] = authorization }
        let opened = Mutex(false)
        let ending = Mutex(StreamEnd.callEnded)
        do {
            try await connector.withConnection(url: self.target.url, headers: headers) { connection in
                opened.withLock { $0 = true }
                let end = try await self.converse(over: connection, clock: clock, encoder: encoder)
                ending.withLock { $0 = end }
            }
        } catch  where !opened.withLock({ $0 }) && !(error is CancellationError) {
            // The platform retries a failed handshake once (exotel-platform.md §1.1); frames due
            // meanwhile are sent on catching up, as their pacing is to absolute call times.
            try await connector.withConnection(url: self.target.url, headers: headers) { connection in
                let end = try await self.converse(over: connection, clock: clock, encoder: encoder)
                ending.withLock { $0 = end }
            }
        }
        return ending.withLock { $0 }
    }

    /// Set by the sending side just before it closes the socket at the call's end.
    private final class PlatformClose: Sendable {
        private let closed = Atomic(false)
        func mark() { self.closed.store(true, ordering: .releasing) }
        var isMarked: Bool { self.closed.load(ordering: .acquiring) }
    }

    private enum SideEnd: Sendable {
        case ended(StreamEnd)
        case sendFailed(any Error)
    }

    private func converse(
        over connection: any StreamConnection,
        clock: ScaledClock,
        encoder: StreamMessageEncoder
    )
        async throws -> StreamEnd
    {
        guard let bot = self.soundtrack.bot else {
            // A one-way stream: whatever the receiver sends back is not read.
            try await self.send(to: connection, clock: clock, encoder: encoder)
            return .callEnded
        }
        let platformClosed = PlatformClose()
        return try await withThrowingTaskGroup(of: SideEnd.self) { group in
            group.addTask {
                do {
                    try await self.send(to: connection, clock: clock, encoder: encoder)
                    platformClosed.mark()
                    try? await connection.close()
                    return .ended(.callEnded)
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    return .sendFailed(error)
                }
            }
            group.addTask {
                let closedAt = try await connection.receive(on: clock) { incoming, arrivedAt in
                    bot.handle(incoming, at: self.origin.duration(to: arrivedAt))
                }
                // The platform's own close ends the receiving too; only a close it did not make is
                // the bot hanging up, whichever side's result the group hands over first.
                if platformClosed.isMarked { return .ended(.callEnded) }
                return .ended(.botHungUp(at: self.origin.duration(to: closedAt)))
            }
            defer { group.cancelAll() }
            switch try await group.next() {
            case .ended(let end):
                if case .botHungUp = end { bot.noteClosedByBot() }
                return end
            case .sendFailed(let error):
                // A bot that closes the socket makes the next send fail: that is its hang-up.
                if case .ended(.botHungUp(let at)) = try await group.next() {
                    bot.noteClosedByBot()
                    return .botHungUp(at: at)
                }
                throw error
            case nil:
                return .callEnded
            }
        }
    }

    private func send(
        to connection: any StreamConnection,
        clock: ScaledClock,
        encoder: StreamMessageEncoder
    ) async throws {
        let rate = self.target.sampleRate
        try await connection.send(text: Self.text(encoder.connected()))
        let start = StreamStart(
            streamSid: self.streamSid,
            callSid: self.callSid,
            accountSid: self.accountSid,
            from: self.from,
            to: self.to,
            customParameters: self.target.customParameters,
            mediaFormat: MediaFormat(encoding: "audio/x-raw", sampleRate: rate, bitRate: "16"),
            tracks: self.target.bothTracks ? [.inbound, .outbound] : nil
        )
        var sequence: Int64 = 1
        try await connection.send(text: Self.text(encoder.start(start, sequenceNumber: sequence)))
        let samplesPerFrame = rate / 10
        var chunk: Int64 = 1
        var frameStart = self.start
        while frameStart + Self.frameDuration <= self.end {
            let frameEnd = frameStart + Self.frameDuration
            try await clock.sleep(until: self.origin.advanced(by: frameEnd), tolerance: nil)
            try await self.echoMarks(due: frameEnd, to: connection, sequence: &sequence, encoder: encoder)
            let timestamp = Int64(LegAudio.sampleIndex(frameStart - self.start, sampleRate: 1000))
            for (track, samples) in await self.frames(from: frameStart, count: samplesPerFrame) {
                sequence += 1
                let message = samples.map { $0.littleEndian }.withUnsafeBytes { pcm in
                    encoder.media(
                        streamSid: self.streamSid,
                        sequenceNumber: sequence,
                        chunk: chunk,
                        timestampMs: timestamp,
                        track: track,
                        pcm: pcm
                    )
                }
                try await connection.send(text: Self.text(message))
            }
            chunk += 1
            frameStart = frameEnd
        }
        try await clock.sleep(until: self.origin.advanced(by: self.end), tolerance: nil)
        try await self.echoMarks(due: self.end, to: connection, sequence: &sequence, encoder: encoder)
        sequence += 1
        try await connection.send(
            text: Self.text(
                encoder.stop(
                    streamSid: self.streamSid,
                    sequenceNumber: sequence,
                    callSid: self.callSid,
                    accountSid: self.accountSid,
                    reason: "callended"
                )
            )
        )
    }

    /// The media of one 100 ms frame: one mixed frame, one leg's (`track=inbound|outbound`), or an
    /// `inbound` and an `outbound` one. A voice bot hears the caller only, never itself.
    private func frames(from start: Duration, count: Int) async -> [(Track?, [Int16])] {
        let rate = self.target.sampleRate
        if self.target.tracks == .outbound {
            return [(nil, await self.soundtrack.render(.leg2, from: start, count: count, sampleRate: rate))]
        }
        let leg1 = await self.soundtrack.render(.leg1, from: start, count: count, sampleRate: rate)
        if self.target.tracks == .inbound { return [(nil, leg1)] }
        if self.soundtrack.bot != nil && !self.target.bothTracks { return [(nil, leg1)] }
        let leg2 = await self.soundtrack.render(.leg2, from: start, count: count, sampleRate: rate)
        return self.target.bothTracks ? [(.inbound, leg1), (.outbound, leg2)] : [(nil, LegAudio.mix(leg1, leg2))]
    }

    private func echoMarks(
        due time: Duration,
        to connection: any StreamConnection,
        sequence: inout Int64,
        encoder: StreamMessageEncoder
    ) async throws {
        guard let bot = self.soundtrack.bot else { return }
        for name in bot.dueMarks(by: time) {
            sequence += 1
            try await connection.send(
                text: Self.text(encoder.mark(streamSid: self.streamSid, sequenceNumber: sequence, name: name))
            )
        }
    }

    private static func text(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}
