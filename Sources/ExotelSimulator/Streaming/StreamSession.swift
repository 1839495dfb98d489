import ExotelKit
import Synchronization

/// One call's stream to the bot: `connected`, `start`, a `media` frame for every 100 ms of the call
/// (sent when that audio has been "spoken", i.e. paced to the call clock), then `stop` with reason
/// `callended` when the call ends.
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
    let leg1Active: Range<Duration>?
    let leg2Active: Range<Duration>?

    static let frameDuration = Duration.milliseconds(100)

    func run(connector: any StreamConnecting, clock: ScaledClock, encoder: StreamMessageEncoder = StreamMessageEncoder()) async throws {
        var headers: [String: String] = [:]
        if let authorization = self.target.authorization { headers["Authorization"] = authorization }
        let opened = ConnectionFlag()
        do {
            try await connector.withConnection(url: self.target.url, headers: headers) { sender in
                opened.set()
                try await self.send(to: sender, clock: clock, encoder: encoder)
            }
        } catch where !opened.isSet && !(error is CancellationError) {
            // The platform retries a failed handshake once (exotel-platform.md §1.1); frames due
            // meanwhile are sent on catching up, as their pacing is to absolute call times.
            try await connector.withConnection(url: self.target.url, headers: headers) { sender in
                try await self.send(to: sender, clock: clock, encoder: encoder)
            }
        }
    }

    private func send(to sender: any StreamSending, clock: ScaledClock, encoder: StreamMessageEncoder) async throws {
        let rate = self.target.sampleRate
        try await sender.send(text: Self.text(encoder.connected()))
        let start = StreamStart(
            streamSid: self.streamSid, callSid: self.callSid, accountSid: self.accountSid, from: self.from, to: self.to,
            customParameters: self.target.customParameters,
            mediaFormat: MediaFormat(encoding: "audio/x-raw", sampleRate: rate, bitRate: "16"),
            tracks: self.target.bothTracks ? [.inbound, .outbound] : nil)
        var sequence: Int64 = 1
        try await sender.send(text: Self.text(encoder.start(start, sequenceNumber: sequence)))
        let samplesPerFrame = rate / 10
        var chunk: Int64 = 1
        var frameStart = self.start
        while frameStart + Self.frameDuration <= self.end {
            try await clock.sleep(until: self.origin.advanced(by: frameStart + Self.frameDuration), tolerance: nil)
            let leg1 = self.render(.leg1, active: self.leg1Active, from: frameStart, count: samplesPerFrame)
            let leg2 = self.render(.leg2, active: self.leg2Active, from: frameStart, count: samplesPerFrame)
            let timestamp = Int64(LegAudio.sampleIndex(frameStart - self.start, sampleRate: 1000))
            let frames: [(Track?, [Int16])] =
                self.target.bothTracks ? [(.inbound, leg1), (.outbound, leg2)] : [(nil, LegAudio.mix(leg1, leg2))]
            for (track, samples) in frames {
                sequence += 1
                let message = samples.map { $0.littleEndian }.withUnsafeBytes { pcm in
                    encoder.media(
                        streamSid: self.streamSid, sequenceNumber: sequence, chunk: chunk, timestampMs: timestamp,
                        track: track, pcm: pcm)
                }
                try await sender.send(text: Self.text(message))
            }
            chunk += 1
            frameStart += Self.frameDuration
        }
        try await clock.sleep(until: self.origin.advanced(by: self.end), tolerance: nil)
        sequence += 1
        try await sender.send(
            text: Self.text(
                encoder.stop(
                    streamSid: self.streamSid, sequenceNumber: sequence, callSid: self.callSid, accountSid: self.accountSid,
                    reason: "callended")))
    }

    private func render(_ leg: LegAudio.Leg, active: Range<Duration>?, from: Duration, count: Int) -> [Int16] {
        guard let active else { return [Int16](repeating: 0, count: count) }
        return LegAudio.render(leg, start: from, count: count, sampleRate: self.target.sampleRate, active: active)
    }

    private static func text(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}

/// Whether a connection got as far as the session (set from the connection's task, read after it).
private final class ConnectionFlag: Sendable {
    private let value = Mutex(false)
    func set() { self.value.withLock { $0 = true } }
    var isSet: Bool { self.value.withLock { $0 } }
}
