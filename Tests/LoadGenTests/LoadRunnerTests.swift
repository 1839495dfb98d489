import Foundation
import Testing

@testable import LoadGen

@Suite struct LoadRunnerTests {
    func plan(
        _ url: String,
        streams: Int,
        frames: Int,
        rate: Int = 8000,
        dual: Bool = false,
        pace: LoadPlan.Pace
    ) throws -> LoadPlan {
        LoadPlan(
            endpoint: try StreamEndpoint(parsing: url),
            streams: streams,
            frames: frames,
            sampleRate: rate,
            dual: dual,
            pace: pace,
            handshakeTimeoutSeconds: 5,
            closeTimeoutSeconds: 5
        )
    }

    @Test(
        .timeLimit(.minutes(1)),
        arguments: [(LoadPlan.Pace.flood, 8000, false), (.realtime, 16000, true), (.flood, 24000, true)]
    )
    func streamsArriveSampleExact(pace: LoadPlan.Pace, rate: Int, dual: Bool) async throws {
        try await withTemporaryDirectory { directory in
            let authorization = "Basic \(Data("bench:bench-secret".utf8).base64EncodedString())"
            let server = try RecordingServer(.record(outputDirectory: directory, expectedAuthorization: authorization))
            defer { server.stop() }
            let url = "ws://bench:bench-secret@127.0.0.1:\(server.port)/v1/streams"
            let plan = try self.plan(
                url,
                streams: 12,
                frames: pace == .flood ? 40 : 5,
                rate: rate,
                dual: dual,
                pace: pace
            )

            var report = try await LoadRunner.run(plan)
            #expect(report.streamsOK == 12)
            #expect(report.streamsFailed == 0)
            #expect(report.mediaMessages == 12 * plan.frames * plan.channels)
            report.verification = StreamVerifier(plan: plan).verify(
                streams: report.completedStreams,
                in: directory,
                waitSeconds: 2
            )
            let verification = try #require(report.verification)
            #expect(verification.isExact, "\(verification.problems)")
            #expect(verification.samplesVerified == 12 * plan.frames * plan.samplesPerFrame * plan.channels)
            #expect(!report.foundProblems)

            // The protocol as the platform speaks it: connected, start, media with sequence and
            // chunk counting up, stop, then a close frame.
            let connections = server.connections
            #expect(connections.count == 12)
            for connection in connections {
                #expect(connection.requestHead.contains("?sample-rate=\(rate) HTTP/1.1"))
                #expect(connection.closedByClient)
                let events = connection.messages.map { self.field($0, "event") }
                #expect(
                    events == ["connected", "start"] + Array(repeating: "media", count: plan.frames * plan.channels) + [
                        "stop"
                    ]
                )
                let sequence = connection.messages.dropFirst().map { Int(self.field($0, "sequence_number")) }
                #expect(sequence == (1...(plan.frames * plan.channels + 2)).map { Optional($0) })
            }
        }
    }

    @Test(.timeLimit(.minutes(1)), arguments: [401, 403, 503])
    func refusedUpgradesAreCountedNotFatal(status: Int) async throws {
        let server = try RecordingServer(.refuse(status: status))
        defer { server.stop() }
        let report = try await LoadRunner.run(try self.plan(server.url, streams: 20, frames: 3, pace: .flood))
        #expect(report.streamsOK == 0)
        #expect(report.handshakeFailures == 20)
        #expect(report.failures == ["upgrade refused: HTTP \(status)": 20])
        #expect(report.foundProblems)
    }

    @Test(.timeLimit(.minutes(1)))
    func wrongCredentialsAreRefused() async throws {
        try await withTemporaryDirectory { directory in
            let server = try RecordingServer(
                .record(outputDirectory: directory, expectedAuthorization: "Basic c29tZW9uZTplbHNl")
            )
            defer { server.stop() }
            let report = try await LoadRunner.run(
                try self.plan("ws://bench:wrong@127.0.0.1:\(server.port)/", streams: 3, frames: 2, pace: .flood)
            )
            #expect(report.failures == ["upgrade refused: HTTP 401": 3])
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func nobodyListeningIsAHandshakeFailure() async throws {
        let sink = try DiscardServer()
        let port = sink.port  // bound but never served: connections queue, nobody answers the upgrade
        let plan = LoadPlan(
            endpoint: try StreamEndpoint(parsing: "ws://127.0.0.1:\(port)/"),
            streams: 2,
            frames: 1,
            pace: .flood,
            handshakeTimeoutSeconds: 0.5
        )
        let report = try await LoadRunner.run(plan)
        #expect(report.handshakeFailures == 2)
        withExtendedLifetime(sink) {}
    }

    @Test(.timeLimit(.minutes(1)))
    func discardSinkTakesAFlood() async throws {
        let sink = try DiscardServer()
        async let served: Void = sink.serve()
        let plan = try self.plan("ws://127.0.0.1:\(sink.port)/v1/streams", streams: 50, frames: 200, pace: .flood)
        let report = try await LoadRunner.run(plan)
        sink.stop()
        try await served
        #expect(report.streamsOK == 50)
        #expect(report.mediaMessages == 10_000)
        #expect(report.generatorCeiling > 0)
    }

    private func field(_ message: String, _ key: String) -> String {
        let object = try? JSONSerialization.jsonObject(with: Data(message.utf8)) as? [String: Any]
        return object?[key] as? String ?? "?"
    }
}
