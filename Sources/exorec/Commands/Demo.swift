import ArgumentParser
import ExotelKit
import Foundation
import Ingest
import LoadGen
import Logging
import MediaStore
import Synchronization

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the whole job on the embedded default: stream synthetic calls into a local server.",
        discussion: """
            Starts the ingest server on 127.0.0.1 (a free port, generated credentials), streams a \
            handful of synthetic calls into it in the platform's protocol at real-time pace (8, 16 \
            and 24 kHz, mono and dual-channel), checks every stored WAV sample by sample against \
            what was sent, and prints where the files are and what they hold.

            EXAMPLES:
              exorec demo
              exorec demo --seconds 10 --storage /tmp/exorec-demo
              exorec demo --json | jq '.streams[].path'
            """)

    @Option(name: .long, help: ArgumentHelp("Storage root to write into.", valueName: "dir"))
    var storage = "storage"

    @Option(name: .long, help: ArgumentHelp("Length of each synthetic call, in seconds (1-600).", valueName: "n"))
    var seconds = 3

    @Flag(name: .long, help: "Print the result as one JSON document.")
    var json = false

    @Flag(name: .shortAndLong, help: "Print only the result table (or JSON).")
    var quiet = false

    func validate() throws {
        guard (1...600).contains(self.seconds) else { throw ValidationError("--seconds must be between 1 and 600.") }
    }

    /// The synthetic calls: every supported rate, mono and dual.
    private static let calls: [(rate: Int, dual: Bool, streams: Int)] = [(8000, false, 2), (16000, false, 1), (8000, true, 1), (24000, true, 1)]

    func run() async throws {
        let logger = LogSetup.makeLogger(label: "exorec.demo", level: "warning")
        let password = UUID().uuidString
        var configuration = IngestConfiguration()
        configuration.server.port = 0
        configuration.storageRoot = self.storage
        configuration.credentials = [.init(username: "demo", password: password)]

        self.say("starting the ingest server (storage: \(self.storage))")
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let server = IngestServer(configuration: configuration, logger: logger) { port in
            portContinuation.yield(port)
            portContinuation.finish()
        }
        let serverTask = Task { try await server.run() }
        let finished = FinishedStreams()
        let eventsTask = Task {
            for await event in server.events {
                if case .streamFinished(let sidecar, let path) = event { finished.add(sidecar, path: path) }
            }
        }
        var listening: Int?
        for await port in ports { listening = port }
        guard let port = listening else {
            try await serverTask.value
            throw ValidationError("the ingest server did not start")
        }
        self.say("listening on 127.0.0.1:\(port); streaming \(Self.calls.reduce(0) { $0 + $1.streams }) calls of \(self.seconds) s in real time")

        let plans = Self.calls.map { call in
            LoadPlan(
                endpoint: StreamEndpoint(host: "127.0.0.1", port: port, requestTarget: configuration.streamPath, authorization: Self.basic("demo", password)),
                streams: call.streams, frames: self.seconds * 10, sampleRate: call.rate, dual: call.dual, pace: .realtime)
        }
        let reports = try await withThrowingTaskGroup(of: LoadReport.self) { group in
            for plan in plans { group.addTask { try await LoadRunner.run(plan) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let expected = plans.reduce(0) { $0 + $1.streams }
        let deadline = ContinuousClock.now + .seconds(10)
        while finished.count < expected && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        server.stop()
        try await serverTask.value
        await eventsTask.value

        var exact = 0
        for plan in plans {
            let report = reports.first { $0.runID == plan.runID.description }
            let summary = StreamVerifier(plan: plan).verify(streams: report?.completedStreams ?? [], in: "\(self.storage)/media")
            exact += summary.streamsExact
            for problem in summary.problems { self.say("verification problem: \(problem)") }
        }
        let streams = finished.all.sorted { ($0.sidecar.sampleRate, $0.sidecar.channels ?? 1, $0.path) < ($1.sidecar.sampleRate, $1.sidecar.channels ?? 1, $1.path) }
        if self.json {
            StandardOutput.line(Self.jsonDocument(streams: streams, exact: exact, expected: expected))
        } else {
            StandardOutput.line(Self.table(streams))
            StandardOutput.line("\(exact) of \(expected) streams verified sample-exact against what was sent; sidecars (.json) beside each WAV.")
        }
        if exact != expected || streams.count != expected { throw ExitCode(3) }
    }

    private func say(_ text: String) {
        if !self.quiet && !self.json { StandardOutput.line("exorec demo: \(text)") }
    }

    private static func basic(_ user: String, _ password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    private static func table(_ streams: [(sidecar: StreamSidecar, path: String)]) -> String {
        var rows = [["file", "rate", "ch", "seconds", "frames", "gaps", "state", "sha256"]]
        for (sidecar, path) in streams {
            rows.append([
                path, "\(sidecar.sampleRate)", "\(sidecar.channels ?? 1)", String(format: "%.1f", sidecar.durationSeconds), "\(sidecar.frames)",
                "\(sidecar.gaps.count)", sidecar.state.rawValue, String((sidecar.sha256 ?? "").prefix(12)),
            ])
        }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    private static func jsonDocument(streams: [(sidecar: StreamSidecar, path: String)], exact: Int, expected: Int) -> String {
        let items = streams.map { sidecar, path in
            "{\"path\":\(JSONText.quoted(path)),\"sample_rate\":\(sidecar.sampleRate),\"channels\":\(sidecar.channels ?? 1),"
                + "\"frames\":\(sidecar.frames),\"duration_seconds\":\(sidecar.durationSeconds),\"gaps\":\(sidecar.gaps.count),"
                + "\"state\":\(JSONText.quoted(sidecar.state.rawValue)),\"sha256\":\(JSONText.quoted(sidecar.sha256 ?? ""))}"
        }
        return "{\"streams\":[\(items.joined(separator: ","))],\"verified_exact\":\(exact),\"expected\":\(expected)}"
    }
}

/// Finished streams reported by the server's event stream.
private final class FinishedStreams: Sendable {
    private let items = Mutex<[(sidecar: StreamSidecar, path: String)]>([])
    func add(_ sidecar: StreamSidecar, path: String) { self.items.withLock { $0.append((sidecar, path)) } }
    var count: Int { self.items.withLock { $0.count } }
    var all: [(sidecar: StreamSidecar, path: String)] { self.items.withLock { $0 } }
}
