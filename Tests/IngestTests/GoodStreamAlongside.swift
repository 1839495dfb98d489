import ExorecTesting
import MediaStore
import Testing

/// Opens a good stream, runs `bad` on a second connection, then finishes the good stream and checks it
/// came out sample-exact, complete and without invalid messages: the bad input touched nothing else.
/// Returns the finished sidecars (`expectFinished` of them).
func alongsideGoodStream(
    _ ingest: TestIngest,
    streamSid: String = "goodstream",
    expectFinished: Int = 2,
    _ bad: (TestIngest) async throws -> Void
) async throws -> [StreamSidecar] {
    let good = StreamScript(streamSid: streamSid, callSid: "CAgood", seed: 99)
    let client = try TestWebSocketClient(port: ingest.port)
    try client.sendText(good.start())
    for i in 0..<3 { try client.sendText(good.media(frame: i)) }
    try await bad(ingest)
    for i in 3..<6 { try client.sendText(good.media(frame: i)) }
    try client.sendText(good.stop())
    #expect(try await client.closed()?.code == 1000)
    let done = try await ingest.waitForFinished(expectFinished)
    let sidecar = try #require(done.first { $0.streamSid == streamSid })
    #expect(sidecar.state == .complete)
    let file = try SoundFile.open(readingFrom: ingest.wavPath(of: sidecar))
    defer { try? file.close() }
    #expect(file.readAll() == good.expected(frames: 6), "the good stream must be untouched")
    #expect(sidecar.invalidMessages.isEmpty)
    return done
}
