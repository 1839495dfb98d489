import ExorecTesting
import Foundation
import Ingest
import Logging
import Synchronization
import Testing

/// Outside values (a stream_sid, an event name, a stop reason) cannot forge log lines: every record the
/// server logs is one line, whatever the peer sent.
@Suite(.timeLimit(.minutes(1))) struct LogInjectionTests {
    static let forged = "x\nlevel=critical message=\"forged line\"\r\u{1B}[2K"

    @Test func aStreamSidWithANewlineProducesOneLogLine() async throws {
        let (logger, records) = LineCapture.logger()
        try await withTestIngest(logger: logger) { ingest in
            let script = StreamScript(streamSid: "MZ" + Self.forged)
            let client = try TestWebSocketClient(port: ingest.port)
            try client.sendText(#"{"event":"evil\nlevel=critical forged event"}"#)
            try client.sendText(script.start())
            #expect(try await client.closed()?.code == 1008)
        }
        try LineCapture.expectOneLineEach(records.all, mentioning: "forged")
    }

    @Test func aStopReasonWithANewlineProducesOneLogLine() async throws {
        let (logger, records) = LineCapture.logger()
        try await withTestIngest(logger: logger) { ingest in
            let script = StreamScript(streamSid: "MZstop", seed: 3)
            let client = try TestWebSocketClient(port: ingest.port)
            try client.sendText(script.start())
            try client.sendText(script.media(frame: 0))
            try client.sendText(script.stop(reason: "callended" + Self.forged))
            #expect(try await client.closed()?.code == 1000)
            _ = try await ingest.waitForFinished(1)
        }
        try LineCapture.expectOneLineEach(records.all, mentioning: "forged")
    }
}

/// A `LogHandler` that keeps each record as the one text line a line-oriented handler would print.
struct LineCapture: LogHandler {
    final class Store: Sendable {
        private let lines = Mutex<[String]>([])
        func append(_ line: String) { self.lines.withLock { $0.append(line) } }
        var all: [String] { self.lines.withLock { $0 } }
    }

    let store: Store
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = self.metadata
        for (key, value) in event.metadata ?? [:] { merged[key] = value }
        let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        self.store.append("\(event.level) \(event.message) \(fields)")
    }

    static func logger() -> (Logger, Store) {
        let store = Store()
        return (Logger(label: "capture") { _ in LineCapture(store: store) }, store)
    }

    /// Every record is one line without control characters, and at least one carries `text` (the outside
    /// value did reach the log, escaped).
    static func expectOneLineEach(_ lines: [String], mentioning text: String) throws {
        #expect(lines.contains { $0.contains(text) }, "no log record carries the outside value: \(lines)")
        for line in lines {
            #expect(!line.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "a record spans lines: \(line.debugDescription)")
        }
    }
}
