import ArgumentParser
import Doors
import MediaStore
import Orchestrator

/// The options `exorec pause` and `exorec resume` share.
struct CallPauseOptions: ParsableArguments {
    @OptionGroup var options: ConfigOptions

    @Argument(help: ArgumentHelp("The call's CallSid.", valueName: "CALLSID"))
    var callSid: String

    @OptionGroup var door: InternalDoorOptions

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Who asks (an agent's id, kept in the sidecar and the audit log; default: this client's address).",
            valueName: "who"
        )
    )
    var by: String?

    @Option(name: .long, help: ArgumentHelp("Why (kept in the sidecar and the audit log).", valueName: "text"))
    var reason: String?

    @Flag(name: .long, help: "Print the server's answer as one JSON object.")
    var json = false

    @Flag(name: [.short, .long], help: "Print nothing; the exit code says how it went.")
    var quiet = false

    func validate() throws {
        guard PathSafeIdentifier.isValid(self.callSid) else {
            throw ValidationError(
                "'\(self.callSid.prefix(64))' is not a CallSid (1-128 of A-Z a-z 0-9 _ -, not starting with -)."
            )
        }
        if let by, by.isEmpty || by.count > 128 { throw ValidationError("--by must have 1 to 128 characters.") }
        if let reason, reason.isEmpty || reason.count > 512 {
            throw ValidationError("--reason must have 1 to 512 characters.")
        }
    }

    static let exitCodes = """
        EXIT CODES: 0 done (also when the call already was in that state); 1 failed (the server cannot be \
        reached, or refused: wrong token, pausing not enabled); 4 no such call on the server; 64 usage error.
        """

    /// Sends the request and prints the answer.
    func run(command: String, resume: Bool) async throws {
        let setup = try self.options.setup()
        let (server, token) = try self.door.endpoint(setup.file)
        let answer: CallPauseClient.Answer
        do {
            answer = try await CallPauseClient(server: server, token: token).send(
                callSid: self.callSid,
                resume: resume,
                by: self.by,
                reason: self.reason
            )
        } catch {
            StandardError.line("exorec \(command): \(error)")
            if case .refused(_, 404, _) = error { throw ExitCode(4) }
            throw ExitCode(1)
        }
        guard !self.quiet else { return }
        if self.json {
            StandardOutput.line(answer.json)
            return
        }
        let streams = "\(answer.liveStreams) live stream\(answer.liveStreams == 1 ? "" : "s")"
        switch answer.outcome {
        case "paused":
            StandardOutput.line(
                "paused \(self.callSid) at \(answer.pausedAt ?? "?") (\(streams)): its streams write silence and drop dtmf until resumed"
            )
        case "already_paused":
            StandardOutput.line("\(self.callSid) was already paused, since \(answer.pausedAt ?? "?") (\(streams))")
        case "resumed":
            StandardOutput.line(
                "resumed \(self.callSid) at \(answer.resumedAt ?? "?"), paused since \(answer.pausedAt ?? "?") (\(streams))"
            )
        default:
            StandardOutput.line("\(self.callSid) was not paused (\(streams))")
        }
    }
}

/// `exorec pause CALLSID`: PCI pause (`docs/CALLS.md`).
struct PauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause",
        abstract: "Pause a call's recording (PCI): its streams write silence and drop dtmf until resumed.",
        discussion: """
            Sends POST /v1/calls/CALLSID/pause to a running `exorec serve` (the internal door, api.host/port, \
            with api.token). From the next frame each live stream of the call handles, the audio is written as \
            silence (the file keeps its length: the paused stretch is as long as the audio that came in it) and dtmf \
            events are dropped, stored nowhere; a stream of the call that starts later starts paused. The \
            interval is kept in the stream's sidecar, the catalog (exorec catalog show) and the audit log \
            (call.paused). Pausing a paused call changes nothing and succeeds. A pause never resumed is closed \
            in each stream's record when that stream ends (ended_with_stream); the call stays paused for a \
            stream that reconnects, until resumed or until it has had no stream for 4 h 10 min.

            \(CallPauseOptions.exitCodes)

            EXAMPLES:
              exorec pause --config exorec.yaml CA1234567890abcdef
              exorec pause --config exorec.yaml CA1234567890abcdef --by agent-7 --reason "card number"
              exorec pause --server http://127.0.0.1:8082 --token "$EXOREC_API_TOKEN" --json CA1234567890abcdef
            """
    )

    @OptionGroup var pause: CallPauseOptions

    func run() async throws {
        try await self.pause.run(command: "pause", resume: false)
    }
}

/// `exorec resume CALLSID`: ends a PCI pause.
struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Resume a paused call's recording: its streams record audio and dtmf again.",
        discussion: """
            Sends POST /v1/calls/CALLSID/resume to a running `exorec serve` (the internal door). From the next \
            frame each live stream of the call handles, audio is recorded again. The interval is closed in the \
            sidecars, and the audit log gets call.resumed. Resuming a call that is not paused changes nothing \
            and succeeds (it says so).

            \(CallPauseOptions.exitCodes)

            EXAMPLES:
              exorec resume --config exorec.yaml CA1234567890abcdef
              exorec resume --config exorec.yaml CA1234567890abcdef --by agent-7 -q
            """
    )

    @OptionGroup var pause: CallPauseOptions

    func run() async throws {
        try await self.pause.run(command: "resume", resume: true)
    }
}
