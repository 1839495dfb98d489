import ArgumentParser
import AsyncHTTPClient
import Catalog
import Doors
import ExotelClient
import ExotelKit
import ExotelSimulator
import Foundation
import Ingest
import Logging
import MediaStore
import Orchestrator
import ServiceLifecycle

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Show the whole job on the embedded simulator: place calls, take streams, callbacks and recordings, catalog it all.",
        discussion: """
            Starts, in this one process and on loopback only, the platform simulator (on a clock \
            --speed times faster than real time), a small web server hosting hold music, and the \
            exorec server (ingest, status callbacks, catalog, recording fetcher, reconciler). It then \
            places a mixed set of recorded calls through the real HTTP client, exactly as \
            `exorec call` does: completed calls with the stream starting at each leg, single and \
            dual recordings, JSON and multipart callbacks (each delivered twice, as the platform may), \
            a busy and an unanswered call, recordings published a minute after each call, and a hold \
            music file changed between calls (its cache-busted URL changes, so the new music plays). \
            It waits until every stream and recording is in and prints the catalog and where the \
            files are.

            EXIT CODES: 0 every completed call has its stream and recording; 3 something is missing \
            (the table shows what); 1 the demo could not run.

            EXAMPLES:
              exorec demo
              exorec demo --storage /tmp/exorec-demo --speed 40
              exorec demo --json | jq '.calls[] | {call_sid, status, files}'
            """
    )

    @Option(name: .long, help: ArgumentHelp("Storage root to write into.", valueName: "dir"))
    var storage = "storage/demo"

    @Option(
        name: .long,
        help: ArgumentHelp("How many times faster than real time the calls run (1-100).", valueName: "n")
    )
    var speed = 20.0

    @Option(name: .long, help: ArgumentHelp("Give up waiting after this many seconds (real time).", valueName: "s"))
    var timeout = 60

    @Flag(name: .long, help: "Print the result as one JSON document.")
    var json = false

    @Flag(name: .shortAndLong, help: "Print only the result.")
    var quiet = false

    func validate() throws {
        guard (1...100).contains(self.speed) else { throw ValidationError("--speed must be between 1 and 100.") }
        guard (5...3600).contains(self.timeout) else { throw ValidationError("--timeout must be 5-3600 seconds.") }
    }

    /// The demo's calls; `to` numbers pick the simulator's outcome (see `scenario`).
    static let calls: [DemoCall] = [
        DemoCall(
            label: "completed, stream from leg 1, dual recording, multipart callbacks",
            to: "+919123400001",
            streamBegin: .leg1Connect,
            channels: .dual,
            callbacks: .multipart
        ),
        DemoCall(
            label: "completed, stream from leg 2, single recording, JSON callbacks",
            to: "+919123400002",
            streamBegin: .leg2Connect,
            channels: .single,
            callbacks: .json
        ),
        // Stream from leg 2, which never answers: no media at all (from leg 1, the caller's side would be streamed).
        DemoCall(label: "busy", to: "+919900000001", streamBegin: .leg2Connect, channels: .dual, callbacks: .multipart),
        DemoCall(
            label: "no answer",
            to: "+919900000002",
            streamBegin: .leg2Connect,
            channels: .single,
            callbacks: .json
        ),
        DemoCall(
            label: "completed after the hold music changed, dual recording, JSON callbacks",
            to: "+919123400003",
            streamBegin: .leg1Connect,
            channels: .dual,
            callbacks: .json,
            afterMusicChange: true
        ),
    ]

    static let scenario = Scenario(
        rules: [
            ScenarioRule(number: "+919900000001", outcome: .busy, ringSeconds: 4),
            ScenarioRule(number: "+919900000002", outcome: .noAnswer),
        ],
        defaultRingSeconds: 4,
        defaultTalkSeconds: 15,
        defaultTimeOutSeconds: 20
    )

    func run() async throws {
        let logger = LogSetup.makeLogger(label: "exorec.demo", level: "warning")
        // Files 0640, folders 0750, as serve (its credentials are random, loopback only).
        FilePermissions.restrictProcessUmask()
        let clock = ScaledClock(rate: self.speed)
        let account = SimulatedAccount(sid: "demo-account", apiKey: "demo-key", apiToken: UUID().uuidString)
        let origin = DemoAudioOrigin()
        origin.set("hold.wav", DemoAudioOrigin.toneWAV(frequency: 600, seconds: 2))

        var simulator = SimulatorConfiguration(
            accounts: [account],
            recordingsDirectory: "\(self.storage)/simulator-recordings",
            publicBaseURL: ""
        )
        simulator.scenario = Self.scenario
        simulator.recordingDelay = .seconds(60)
        simulator.callbackFaults = CallbackFaults(duplicate: true)

        self.say("storage: \(self.storage); the calls run \(Int(self.speed))x faster than real time")
        let outcome = try await origin.serve(logger: logger) { promptsURL in
            try await SimulatorServer.withRunning(
                configuration: SimulatorServerConfiguration(host: "127.0.0.1", port: 0),
                platform: simulator,
                clock: clock,
                logger: logger
            ) { running in
                self.say("simulator at \(running.baseURL); hold music at \(promptsURL)/hold.wav")
                return try await self.runPipeline(
                    simulator: running,
                    account: account,
                    clock: clock,
                    promptsURL: promptsURL,
                    origin: origin,
                    logger: logger
                )
            }
        }
        self.report(outcome)
        if !outcome.complete { throw ExitCode(3) }
    }

    private func runPipeline(
        simulator: RunningSimulator,
        account: SimulatedAccount,
        clock: ScaledClock,
        promptsURL: String,
        origin: DemoAudioOrigin,
        logger: Logger
    ) async throws -> DemoOutcome {
        var ingest = IngestConfiguration()
        ingest.server.port = 0
        ingest.storageRoot = self.storage
        let streamPassword = UUID().uuidString
        ingest.credentials = [.init(username: "demo", password: streamPassword)]
        let token = UUID().uuidString.replacingOccurrences(of: "-", with: "")
        var callbacks = PlatformDoorConfiguration()
        callbacks.port = 0
        callbacks.token = token
        var api = InternalDoorConfiguration()
        api.port = 0
        // The demo's consumer API: what it published is read back through the internal door at the end.
        let apiToken = UUID().uuidString.replacingOccurrences(of: "-", with: "")
        api.token = apiToken
        let client = ExotelClient(
            endpoint: try ExotelEndpoint(baseURL: simulator.baseURL),
            credentials: ExotelCredentials(accountSid: account.sid, apiKey: account.apiKey, apiToken: account.apiToken),
            clock: clock,
            logger: logger
        )
        var fetcher = RecordingFetcherConfiguration(
            storageRoot: self.storage,
            workers: 2,
            exorecVersion: ExorecVersion.string
        )
        fetcher.pollInterval = .milliseconds(200)
        // The three doors report their ports: stream, platform (callbacks), internal (events, metrics).
        let (ports, portContinuation) = AsyncStream.makeStream(of: (door: String, port: Int).self)
        let pipeline = try await ExorecPipeline.open(
            configuration: PipelineConfiguration(
                ingest: ingest,
                callbacks: callbacks,
                api: api,
                fetcher: fetcher,
                exorecVersion: ExorecVersion.string
            ),
            client: client,
            logger: logger,
            onListening: { portContinuation.yield(("stream", $0)) },
            onPlatformListening: { portContinuation.yield(("platform", $0)) },
            onInternalListening: { portContinuation.yield(("internal", $0)) }
        )
        let group = ServiceGroup(configuration: .init(services: pipeline.serviceConfigurations, logger: logger))
        let running = Task {
            defer { portContinuation.finish() }
            try await group.run()
        }
        var listening: [String: Int] = [:]
        for await (door, port) in ports {
            listening[door] = port
            if listening.count == 3 { break }
        }
        guard let port = listening["stream"], let callbackPort = listening["platform"],
            let apiPort = listening["internal"]
        else {
            await group.triggerGracefulShutdown()
            try? await running.value
            try? await pipeline.close()
            throw DemoError("the exorec server did not start")
        }
        self.say(
            "exorec server: streams on 127.0.0.1:\(port), callbacks on 127.0.0.1:\(callbackPort), events and metrics on 127.0.0.1:\(apiPort) (catalog at \(self.storage)/catalog.sqlite)"
        )

        let outcome: Result<DemoOutcome, any Error>
        do {
            outcome = .success(
                try await self.placeAndWait(
                    pipeline: pipeline,
                    client: client,
                    simulator: simulator,
                    port: port,
                    callbackPort: callbackPort,
                    streamPassword: streamPassword,
                    token: token,
                    promptsURL: promptsURL,
                    origin: origin,
                    clock: clock,
                    logger: logger
                )
            )
        } catch {
            outcome = .failure(error)
        }
        if case .success = outcome {
            // What a transcription service would have followed live (`exorec watch`), read back once.
            let feed = EventFeedFollower(server: "http://127.0.0.1:\(apiPort)", token: apiToken, logger: logger)
            if let page = try? await feed.page(after: 0) {
                let types = Dictionary(grouping: page.events, by: \.type).map { "\($0.value.count) \($0.key)" }.sorted()
                self.say(
                    "events feed on the internal door: \(page.events.count) events (\(types.joined(separator: ", ")))"
                )
            } else {
                self.say("the events feed on the internal door could not be read")
            }
        }
        await group.triggerGracefulShutdown()
        try? await running.value
        try await pipeline.close()
        return try outcome.get()
    }

    private func placeAndWait(
        pipeline: ExorecPipeline,
        client: ExotelClient,
        simulator: RunningSimulator,
        port: Int,
        callbackPort: Int,
        streamPassword: String,
        token: String,
        promptsURL: String,
        origin: DemoAudioOrigin,
        clock: ScaledClock,
        logger: Logger
    ) async throws -> DemoOutcome {
        let settings = PlacementSettings(
            callerId: "08047112345",
            recordingChannels: .dual,
            recordingFormat: .mp3,
            streamURL: "ws://127.0.0.1:\(port)/v1/streams",
            streamUsername: "demo",
            streamPassword: streamPassword,
            statusCallbackURL: "http://127.0.0.1:\(callbackPort)/v1/callbacks/status?token=\(token)",
            waitURL: "\(promptsURL)/hold.wav"
        )
        let placer = CallPlacer(
            settings: settings,
            client: client,
            catalog: pipeline.catalog,
            prompts: PromptPreparer(fetcher: HTTPPromptAudioFetcher(), clock: clock, reuseFor: .zero),
            sidecars: pipeline.sidecars,
            logger: logger
        )

        var placed: [(DemoCall, PlacedCall)] = []
        for call in Self.calls {
            if call.afterMusicChange {
                // The platform fetches hold music when it starts playing it: let the calls placed so far
                // start theirs before the file changes, as a user would not swap it under ringing calls.
                let earlier = Set(placed.map { $0.1.callSid })
                let deadline = ContinuousClock.now + .seconds(self.timeout)
                while Set(await simulator.platform.playedAudio().map(\.callSid)).intersection(earlier).count
                    < earlier.count,
                    ContinuousClock.now < deadline
                {
                    try await Task.sleep(for: .milliseconds(50))
                }
                origin.set("hold.wav", DemoAudioOrigin.toneWAV(frequency: 900, seconds: 2))
                self.say("the hold music file changed (600 Hz → 900 Hz) behind the same URL")
            }
            let order = CallOrder(
                from: "+919876500001",
                destination: .number(call.to),
                customField: "demo:\(call.label.prefix(20))",
                streamBegin: call.streamBegin,
                recordingChannels: call.channels,
                statusCallbackContentType: call.callbacks
            )
            let result = try await placer.place(order)
            placed.append((call, result))
            self.say("placed \(result.callSid) → \(call.to): \(call.label)")
        }

        let deadline = ContinuousClock.now + .seconds(self.timeout)
        var rows: [DemoOutcome.Row] = []
        var lastProgress = ""
        while true {
            rows = []
            for (call, result) in placed {
                let record = try await pipeline.catalog.call(sid: result.callSid)
                let files = try await pipeline.catalog.mediaFiles(callSid: result.callSid)
                rows.append(DemoOutcome.Row(call: call, record: record, files: files))
            }
            let done = rows.filter(\.isDone).count
            let progress =
                "\(done) of \(rows.count) calls done (terminal status, and for completed calls a finished stream and recording)"
            if progress != lastProgress {
                self.say(progress)
                lastProgress = progress
            }
            if done == rows.count || ContinuousClock.now >= deadline { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        let played = await simulator.platform.playedAudio()
        return DemoOutcome(storage: self.storage, rows: rows, played: played, placed: placed.map { $0.1.callSid })
    }

    private func say(_ text: String) {
        if !self.quiet && !self.json { StandardError.line("exorec demo: \(text)") }
    }

    private func report(_ outcome: DemoOutcome) {
        if self.json {
            StandardOutput.line(outcome.json())
        } else {
            StandardOutput.line(outcome.table())
        }
    }
}

/// One call of the demo.
struct DemoCall: Sendable {
    var label: String
    var to: String
    var streamBegin: StreamBegin
    var channels: RecordingChannels
    var callbacks: CallbackContentType
    var afterMusicChange = false

    var expectsMedia: Bool { !self.to.hasPrefix("+9199") }
}

/// What the demo found in the catalog.
struct DemoOutcome: Sendable {
    struct Row: Sendable {
        var call: DemoCall
        var record: CallRecord?
        var files: [MediaFile]

        var stream: MediaFile? { self.files.first { $0.kind == .stream && $0.sha256 != nil } }
        var recording: MediaFile? { self.files.first { $0.kind == .recording && $0.sha256 != nil } }

        var isDone: Bool {
            guard let record, record.isTerminal else { return false }
            return self.call.expectsMedia ? (self.stream != nil && self.recording != nil) : true
        }
    }

    var storage: String
    var rows: [Row]
    var played: [PlayedAudio]
    var placed: [String]

    var complete: Bool { self.rows.allSatisfy(\.isDone) }

    func table() -> String {
        var lines: [[String]] = [
            ["call", "to", "status", "stream from", "recording", "callbacks", "stream WAV", "recording"]
        ]
        for row in self.rows {
            lines.append([
                row.record?.callSid ?? "?", row.call.to, row.record?.status ?? "(not in catalog)",
                row.call.streamBegin == .leg1Connect ? "leg 1" : "leg 2", row.call.channels.rawValue,
                row.call.callbacks == .json ? "json" : "multipart",
                Self.describe(row.stream), Self.describe(row.recording),
            ])
        }
        var text = Self.columns(lines)
        text += "\n\nfiles (under \(self.storage)/):"
        for row in self.rows {
            for file in row.files.sorted(by: { $0.path < $1.path }) {
                text +=
                    "\n  \(file.path)  \(file.format) \(file.sampleRate.map { "\($0) Hz" } ?? "") \(file.channels.map { "\($0) ch" } ?? "")"
                    + " \(file.durationSeconds.map { String(format: "%.1f s", $0) } ?? "") sha256 \(String((file.sha256 ?? "-").prefix(16)))"
            }
        }
        text += "\n\nhold music the platform played (WaitUrl, cache-busted by content):"
        for entry in self.played where self.placed.contains(entry.callSid) {
            let version = URLComponents(string: entry.url)?.queryItems?.first { $0.name == "v" }?.value ?? "-"
            text +=
                "\n  \(entry.callSid)  v=\(version)  sha256 \(entry.sha256.prefix(16))  \(entry.fromCache ? "from the platform's cache" : "fetched")"
        }
        let complete = self.rows.filter { $0.call.expectsMedia && $0.isDone }.count
        let expected = self.rows.filter(\.call.expectsMedia).count
        text +=
            "\n\n\(complete) of \(expected) completed calls have their stream and recording; "
            + "\(self.rows.filter { !$0.call.expectsMedia && $0.isDone }.count) failed calls have their status and no media."
        text +=
            "\ncatalog: \(self.storage)/catalog.sqlite; each call's folder holds call.json, stream-*.wav/.json, recording.mp3/.json."
        return text
    }

    func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func encoded<T: Encodable>(_ value: T) -> String {
            (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
        }
        let calls = self.rows.map { row in
            "{\"call_sid\":\(JSONText.quoted(row.record?.callSid ?? "")),\"to\":\(JSONText.quoted(row.call.to)),"
                + "\"label\":\(JSONText.quoted(row.call.label)),\"status\":\(JSONText.quoted(row.record?.status ?? "")),"
                + "\"done\":\(row.isDone),\"files\":\(encoded(row.files))}"
        }
        let prompts = self.played.filter { self.placed.contains($0.callSid) }.map { entry in
            "{\"call_sid\":\(JSONText.quoted(entry.callSid)),\"url\":\(JSONText.quoted(entry.url)),"
                + "\"sha256\":\(JSONText.quoted(entry.sha256)),\"from_cache\":\(entry.fromCache)}"
        }
        return
            "{\"storage\":\(JSONText.quoted(self.storage)),\"complete\":\(self.complete),\"calls\":[\(calls.joined(separator: ","))],"
            + "\"wait_audio_played\":[\(prompts.joined(separator: ","))]}"
    }

    private static func describe(_ file: MediaFile?) -> String {
        guard let file else { return "-" }
        return "\(file.channels ?? 1) ch \(String(format: "%.1f s", file.durationSeconds ?? 0))"
    }

    private static func columns(_ rows: [[String]]) -> String {
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(
                separator: "  "
            )
        }.joined(separator: "\n")
    }
}
