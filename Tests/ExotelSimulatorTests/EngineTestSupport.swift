import ExotelKit
import Foundation
import Logging
import MediaStore
import Synchronization

@testable import ExotelSimulator

/// Audio served from a mutable table, counting fetches: the "file behind the URL" can change.
final class FakeAudioFetcher: AudioFetching {
    private let files: Mutex<[String: [UInt8]]>
    private let fetches = Mutex<[String]>([])

    init(_ files: [String: [UInt8]] = [:]) {
        self.files = Mutex(files)
    }

    func set(_ url: String, _ bytes: [UInt8]) {
        self.files.withLock { $0[url] = bytes }
    }

    var fetched: [String] { self.fetches.withLock { $0 } }

    func fetch(url: String) async throws -> [UInt8] {
        self.fetches.withLock { $0.append(url) }
        guard let bytes = self.files.withLock({ $0[url] }) else {
            throw AudioFetchError(url: url, message: "404")
        }
        return bytes
    }
}

/// Captures every stream connection: its URL, headers and the text frames with the clock time they were sent.
final class FakeStreamConnector: StreamConnecting {
    struct Connection: Sendable {
        var url: String
        var headers: [String: String]
        /// When the connection opened; a bot script's times count from here.
        var opened: ScaledClock.Instant
        var messages: [(instant: ScaledClock.Instant, json: [String: any Sendable])] = []
    }

    /// What a scripted voice bot sends back on each connection.
    struct BotScript: Sendable {
        /// Messages with their delay after the connection opened (call time).
        var messages: [(after: Duration, message: StreamIncoming)]
        /// Close the connection after the last message (a bot hanging up), else wait for the platform's close.
        var hangUpAfterLast: Bool
    }

    let clock: ScaledClock
    let botScript: BotScript?
    private let connections = Mutex<[Connection]>([])

    init(clock: ScaledClock, bot: BotScript? = nil) {
        self.clock = clock
        self.botScript = bot
    }

    var all: [Connection] { self.connections.withLock { $0 } }

    func withConnection(
        url: String,
        headers: [String: String],
        _ session: @escaping @Sendable (any StreamConnection) async throws -> Void
    ) async throws {
        let opened = self.clock.now
        let index = self.connections.withLock { connections in
            connections.append(Connection(url: url, headers: headers, opened: opened))
            return connections.count - 1
        }
        let (closed, closing) = AsyncStream<Void>.makeStream()
        try await session(
            Sender(
                owner: self,
                index: index,
                script: self.botScript,
                clock: self.clock,
                opened: opened,
                closed: closed,
                closing: closing
            )
        )
    }

    fileprivate func record(_ text: String, index: Int) {
        let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
        let sendable = object.mapValues { SendableBox($0) as any Sendable }
        let now = self.clock.now
        self.connections.withLock { $0[index].messages.append((now, sendable)) }
    }

    struct Sender: StreamConnection {
        let owner: FakeStreamConnector
        let index: Int
        let script: BotScript?
        let clock: ScaledClock
        let opened: ScaledClock.Instant
        let closed: AsyncStream<Void>
        let closing: AsyncStream<Void>.Continuation

        func send(text: String) async throws {
            self.owner.record(text, index: self.index)
        }

        /// Messages arrive at exactly their scripted call times (a loaded test machine may deliver
        /// them late in real time; the platform places bot audio by arrival time).
        func receive(
            on clock: ScaledClock,
            _ body: @escaping @Sendable (StreamIncoming, _ arrivedAt: ScaledClock.Instant) -> Void
        ) async throws -> ScaledClock.Instant {
            var last = self.opened
            for (after, message) in self.script?.messages ?? [] {
                last = self.opened.advanced(by: after)
                try await self.clock.sleep(until: last, tolerance: nil)
                body(message, last)
            }
            if self.script?.hangUpAfterLast == true { return last }
            for await _ in self.closed {}
            return clock.now
        }

        func close() async throws {
            self.closing.finish()
        }
    }
}

/// JSON values from JSONSerialization are not statically Sendable; they are immutable once parsed.
struct SendableBox: @unchecked Sendable {
    let value: Any
    init(_ value: Any) { self.value = value }
}

extension FakeStreamConnector.Connection {
    func events() -> [String] {
        self.messages.map { ($0.json["event"] as? SendableBox)?.value as? String ?? "?" }
    }

    func object(_ message: Int, _ key: String) -> [String: Any]? {
        (self.messages[message].json[key] as? SendableBox)?.value as? [String: Any]
    }

    /// Media frames: (track, PCM samples).
    func media() -> [(track: String?, samples: [Int16], chunk: String?, timestamp: String?)] {
        self.messages.indices.compactMap { index in
            guard let media = self.object(index, "media"), let payload = media["payload"] as? String,
                let data = Data(base64Encoded: payload)
            else { return nil }
            let samples = data.withUnsafeBytes { raw in
                stride(from: 0, to: raw.count - 1, by: 2).map {
                    Int16(littleEndian: raw.loadUnaligned(fromByteOffset: $0, as: Int16.self))
                }
            }
            return (media["track"] as? String, samples, media["chunk"] as? String, media["timestamp"] as? String)
        }
    }
}

/// Captures callback posts; answers with scripted status codes (then 200).
final class FakeCallbackPoster: CallbackPosting {
    struct Post: Sendable {
        var url: String
        var contentType: String
        var body: [UInt8]
    }

    private let posts = Mutex<[Post]>([])
    private let statuses: Mutex<[Int]>

    init(statuses: [Int] = []) {
        self.statuses = Mutex(statuses)
    }

    var all: [Post] { self.posts.withLock { $0 } }

    func post(url: String, contentType: String, body: [UInt8]) async throws -> Int {
        self.posts.withLock { $0.append(Post(url: url, contentType: contentType, body: body)) }
        return self.statuses.withLock { $0.isEmpty ? 200 : $0.removeFirst() }
    }

    func callbacks() throws -> [StatusCallback] {
        try self.all.map { try StatusCallback.parse(body: $0.body, contentType: $0.contentType) }
    }
}

struct EngineHarness {
    let clock: ScaledClock
    let audio: FakeAudioFetcher
    let streams: FakeStreamConnector
    let callbacks: FakeCallbackPoster
    let platform: SimulatedPlatform
    let directory: String

    static let account = SimulatedAccount(sid: "acme", apiKey: "key", apiToken: "token")

    init(
        rate: Double = 1000,
        scenario: Scenario = Scenario(defaultTalkSeconds: 5),
        faults: CallbackFaults = CallbackFaults(),
        statuses: [Int] = [],
        recordingDelay: Duration = .zero,
        bot: FakeStreamConnector.BotScript? = nil
    ) {
        self.clock = ScaledClock(rate: rate)
        self.audio = FakeAudioFetcher()
        self.streams = FakeStreamConnector(clock: self.clock, bot: bot)
        self.callbacks = FakeCallbackPoster(statuses: statuses)
        self.directory = NSTemporaryDirectory() + "engine-\(UUID().uuidString)"
        var configuration = SimulatorConfiguration(
            accounts: [Self.account],
            recordingsDirectory: self.directory,
            publicBaseURL: "http://127.0.0.1:9/"
        )
        configuration.scenario = scenario
        configuration.callbackFaults = faults
        configuration.recordingDelay = recordingDelay
        self.platform = SimulatedPlatform(
            configuration: configuration,
            clock: self.clock,
            seams: SimulatorSeams(
                audioFetcher: self.audio,
                streamConnector: self.streams,
                callbackPoster: self.callbacks
            ),
            logger: Logger(label: "engine-test")
        )
    }

    func place(_ request: ConnectCallRequest) async -> PlatformCall {
        await self.platform.placeCall(accountSid: Self.account.sid, request: request)
    }

    func cleanUp() {
        try? FileManager.default.removeItem(atPath: self.directory)
    }
}

func twoNumberRequest(from: String = "09800000001", to: String = "09800000002") -> ConnectCallRequest {
    ConnectCallRequest(from: from, callerId: "08047000000", destination: .number(to))
}

/// Signal power at `frequency` (Goertzel), normalised by length.
func tonePower(_ samples: some Collection<Int16>, frequency: Double, sampleRate: Int) -> Double {
    let coefficient = 2 * cos(2 * Double.pi * frequency / Double(sampleRate))
    var previous = 0.0
    var beforePrevious = 0.0
    for sample in samples {
        let value = Double(sample) + coefficient * previous - beforePrevious
        beforePrevious = previous
        previous = value
    }
    let power = previous * previous + beforePrevious * beforePrevious - coefficient * previous * beforePrevious
    return power / Double(max(samples.count, 1) * max(samples.count, 1))
}

/// A canonical 16-bit PCM WAV file of a sine tone (what a user would host at a WaitUrl).
func toneWAV(frequency: Double, seconds: Double, sampleRate: Int = 8000, channels: Int = 1) -> [UInt8] {
    ToneWAV.bytes(frequency: frequency, seconds: seconds, sampleRate: sampleRate, channels: channels)
}

/// Base64 PCM16LE of a tone, as a voice bot sends it in `media.payload`.
func tonePayload(frequency: Double, milliseconds: Int, sampleRate: Int) -> String {
    let count = sampleRate * milliseconds / 1000
    var bytes: [UInt8] = []
    for index in 0..<count {
        let value = Int16(6000 * sin(2 * Double.pi * frequency * Double(index) / Double(sampleRate)))
        bytes.append(UInt8(truncatingIfNeeded: value))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
    }
    return Data(bytes).base64EncodedString()
}
