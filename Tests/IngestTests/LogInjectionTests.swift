import ExorecTesting
import Foundation
import Ingest
import Logging
import Testing

/// Outside values (a stream_sid, an event name, a stop reason) cannot forge log lines: every record the
/// server logs is one line, whatever the peer sent.
@Suite(.timeLimit(.minutes(1))) struct LogInjectionTests {
    static let forged = "x\nlevel=critical message=\"forged line\"\r\u{1B}[2K"

    @Test func aStreamSidWithANewlineProducesOneLogLine() async throws {
        let (logger, records) = CapturedLogs.logger()
        try await withTestIngest(logger: logger) { ingest in
            let script = StreamScript(streamSid: "MZ" + Self.forged)
            let client = try TestWebSocketClient(port: ingest.port)
            try client.sendText(#"{"event":"evil\nlevel=critical forged event"}"#)
            try client.sendText(script.start())
            #expect(try await client.closed()?.code == 1008)
        }
        records.expectOneLineEach(mentioning: "forged")
    }

    @Test func aStopReasonWithANewlineProducesOneLogLine() async throws {
        let (logger, records) = CapturedLogs.logger()
        try await withTestIngest(logger: logger) { ingest in
            let script = StreamScript(streamSid: "MZstop", seed: 3)
            let client = try TestWebSocketClient(port: ingest.port)
            try client.sendText(script.start())
            try client.sendText(script.media(frame: 0))
            try client.sendText(script.stop(reason: "callended" + Self.forged))
            #expect(try await client.closed()?.code == 1000)
            _ = try await ingest.waitForFinished(1)
        }
        records.expectOneLineEach(mentioning: "forged")
    }
}

extension CapturedLogs {
    /// Every record is one line without control characters, and at least one carries `text` (the outside
    /// value did reach the log, escaped).
    func expectOneLineEach(mentioning text: String) {
        let lines = self.all.map(\.line)
        #expect(lines.contains { $0.contains(text) }, "no log record carries the outside value: \(lines)")
        for line in lines {
            #expect(
                !line.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F },
                "a record spans lines: \(line.debugDescription)"
            )
        }
    }
}
