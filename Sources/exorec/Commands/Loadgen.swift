import ArgumentParser
import Foundation
import LoadGen

struct Loadgen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadgen",
        abstract: "Stream synthetic calls into an ingest server and check what it recorded.",
        discussion: """
            Opens --streams concurrent WebSocket streams in the platform's protocol (connected, \
            start, 100 ms media frames of base64 16-bit PCM, stop, close). Credentials in the URL \
            go out as an Authorization: Basic header, as the platform sends them. Every stream's \
            PCM is deterministic, so --verify can check each stored WAV sample by sample without \
            keeping a copy. Frames are pre-encoded and sent from one epoll thread, so the \
            generator is not the bottleneck; --sink measures its own ceiling.

            The streams' identifiers derive from the run id: stream_sid and call_sid are 32 hex \
            characters (run id, then 5 or c, then the stream index), account_sid is "loadgen".

            EXAMPLES:
              exorec loadgen ws://user:secret@127.0.0.1:8080/v1/streams
              exorec loadgen ws://127.0.0.1:8080/v1/streams --streams 2000 --frames 600
              exorec loadgen ws://127.0.0.1:8080/v1/streams --pace flood --verify storage
              exorec loadgen ws://127.0.0.1:8080/v1/streams --rate 16000 --dual --json
              exorec loadgen --sink --streams 200 --frames 2000 --pace flood

            EXIT CODES:
              0   every stream completed (and verified, with --verify)
              1   setup error (bad URL, unresolvable host, descriptor limit)
              3   a stream failed or a recorded file does not match what was sent
              64  usage error
            """
    )

    @Argument(
        help: ArgumentHelp("The stream endpoint, ws://[user:password@]host[:port]/path[?query].", valueName: "url")
    )
    var url: String?

    @Option(help: "Concurrent streams.")
    var streams = 10

    @Option(help: "100 ms media steps per stream.")
    var frames = 100

    @Option(
        help: ArgumentHelp(
            "Sample rate: 8000, 16000 or 24000. Added to the URL as sample-rate unless it has one.",
            valueName: "hz"
        )
    )
    var rate: Int?

    @Flag(help: "Send inbound and outbound tracks (two media messages per step); recorded as channels 0 and 1.")
    var dual = false

    @Option(
        help: ArgumentHelp(
            "realtime: one step per 100 ms per stream; flood: as fast as the sockets accept.",
            valueName: "pace"
        )
    )
    var pace: LoadPlan.Pace = .realtime

    @Option(
        help: ArgumentHelp(
            "Connections opened per second; 0 opens them as fast as upgrades complete.",
            valueName: "per-second"
        )
    )
    var ramp: Double = 0

    @Option(
        help: ArgumentHelp(
            "After the run, find each stream's WAV under this directory and check it sample by sample.",
            valueName: "dir"
        )
    )
    var verify: String?

    @Option(help: ArgumentHelp("How long to wait for files the server is still finishing.", valueName: "seconds"))
    var verifyWait: Double = 10

    @Option(help: ArgumentHelp("Seconds an upgrade may take.", valueName: "seconds"))
    var timeout: Double = 10

    @Option(
        help: ArgumentHelp(
            "Seconds the server may take to close after stop while acknowledging nothing (a flooded server first works through its backlog).",
            valueName: "seconds"
        )
    )
    var closeTimeout: Double = 60

    @Option(
        help: ArgumentHelp(
            "Run id (hex, up to 16 digits); default random. Reuse one to find a run's files again.",
            valueName: "hex"
        )
    )
    var runID: String?

    @Flag(help: "Stream into a built-in discard server instead of a URL: measures the generator's own ceiling.")
    var sink = false

    @Flag(help: "Print the summary as JSON.")
    var json = false

    @Flag(name: [.short, .long], help: "Print nothing but errors (the exit status tells the outcome).")
    var quiet = false

    mutating func validate() throws {
        guard (self.url == nil) == self.sink else {
            throw ValidationError(
                self.sink
                    ? "Give either a URL or --sink, not both."
                    : "Give the stream URL, or --sink to measure the generator alone."
            )
        }
        guard self.streams >= 1, self.streams <= 100_000 else {
            throw ValidationError("--streams must be between 1 and 100000.")
        }
        guard self.frames >= 1 else { throw ValidationError("--frames must be at least 1.") }
        guard self.ramp >= 0 else { throw ValidationError("--ramp must not be negative.") }
        guard self.timeout > 0, self.closeTimeout > 0, self.verifyWait >= 0 else {
            throw ValidationError("--timeout and --close-timeout must be positive, --verify-wait not negative.")
        }
        if let rate, !LoadPlan.supportedSampleRates.contains(rate) {
            throw ValidationError("--rate must be 8000, 16000 or 24000, not \(rate).")
        }
        if self.sink && self.verify != nil {
            throw ValidationError("--verify needs a server that records; --sink discards everything.")
        }
        if let url {
            let endpoint: StreamEndpoint
            do { endpoint = try StreamEndpoint(parsing: url) } catch { throw ValidationError(error.description) }
            if let rate, let urlRate = endpoint.sampleRate, urlRate != rate {
                throw ValidationError("The URL asks for sample-rate=\(urlRate) but --rate is \(rate).")
            }
            if let urlRate = endpoint.sampleRate, !LoadPlan.supportedSampleRates.contains(urlRate) {
                throw ValidationError("The URL's sample-rate must be 8000, 16000 or 24000, not \(urlRate).")
            }
        }
        if let runID { do { _ = try RunID(hex: runID) } catch { throw ValidationError(error.description) } }
    }

    func run() async throws {
        let sinkServer = self.sink ? try DiscardServer() : nil
        let endpoint =
            try sinkServer.map { try StreamEndpoint(parsing: "ws://127.0.0.1:\($0.port)/v1/streams") }
            ?? StreamEndpoint(parsing: self.url ?? "")
        let plan = LoadPlan(
            endpoint: endpoint,
            streams: self.streams,
            frames: self.frames,
            sampleRate: self.rate ?? endpoint.sampleRate ?? 8000,
            dual: self.dual,
            pace: self.pace,
            rampPerSecond: self.ramp,
            runID: try self.runID.map { try RunID(hex: $0) } ?? .random(),
            handshakeTimeoutSeconds: self.timeout,
            closeTimeoutSeconds: self.closeTimeout
        )

        let progress = self.quiet || self.json ? nil : Self.printProgress

        var report: LoadReport
        if let sinkServer {
            // With two or more cores the sink gets core 0 and the generator core 1, so the
            // figure is what one core of generator produces, not what two threads share.
            let pinned = ProcessInfo.processInfo.activeProcessorCount >= 2
            async let served: Void = sinkServer.serve(cpu: pinned ? 0 : nil)
            do {
                report = try await LoadRunner.run(plan, cpu: pinned ? 1 : nil, progress: progress)
            } catch {
                sinkServer.stop()
                try await served
                throw error
            }
            sinkServer.stop()
            try await served
        } else {
            report = try await LoadRunner.run(plan, progress: progress)
        }

        if let directory = self.verify {
            report.verification = StreamVerifier(plan: plan)
                .verify(streams: report.completedStreams, in: directory, waitSeconds: self.verifyWait)
        }

        if self.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else if !self.quiet {
            print(report.renderText())
        }
        if report.foundProblems { throw ExitCode(3) }
    }
}

extension Loadgen {
    /// A progress line on stderr every few seconds, so a minute-long real-time run shows life.
    @Sendable static func printProgress(_ progress: LoadRunner.Progress) {
        let line =
            "loadgen: \(Int(progress.elapsedSeconds)) s, \(progress.openStreams) streams open, "
            + "\(progress.finishedStreams) finished, \(progress.mediaMessages) media messages\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}

extension LoadPlan.Pace: ExpressibleByArgument {}
