import ArgumentParser
import AsyncHTTPClient
import ExotelKit
import ExotelSimulator
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the embedded Exotel platform simulator: dry-run calls, callbacks, streams and recordings.",
        discussion: """
            Serves the platform's REST API on http://HOST:PORT — POST /v1/Accounts/SID/Calls/connect[.json], \
            GET /v1/Accounts/SID/Calls/CALLSID[.json] (XML without .json, as the platform answers) and \
            GET /v1/Accounts/SID/Recordings/CALLSID.mp3 — for one account with HTTP Basic auth (API key and \
            token, or account sid and token) and the platform's limit of 200 requests a minute (a sliding \
            window; 429 answers carry Retry-After in platform seconds). Every call \
            rings, answers, plays its WaitUrl audio to the caller while leg 2 rings and its StartPlaybackValueNew \
            audio when leg 2 answers (WAV only, fetched through a platform-like URL cache: change the URL to \
            change the audio), streams to its StreamUrl (a voice bot's replies are played to the caller and \
            recorded; the bot closing the socket ends the call), \
            records when Record=true and posts its status callbacks, on a clock that runs --speed times \
            faster than real time. Outcomes by number come from --scenario (default: everyone answers, \
            3 s ringing, 20 s conversation).

            Prints "simulator listening on http://HOST:PORT" on standard output when ready (with --json, \
            one JSON document with the URL and the credentials instead); logs go to standard error. \
            SIGINT or SIGTERM stops it.

            Defaults: --host 127.0.0.1, --port 8090, --account-sid exorec-sim, --api-key sim-key, \
            --api-token sim-token, --recordings storage/simulator/recordings. The environment variables \
            EXOREC_SIMULATOR_HOST, EXOREC_SIMULATOR_PORT, EXOREC_SIMULATOR_ACCOUNT_SID, \
            EXOREC_SIMULATOR_API_KEY and EXOREC_SIMULATOR_API_TOKEN set them when the flag is not given.

            SCENARIO FILE (JSON):
              {"rules": [{"number": "+9198*", "outcome": "busy"},
                         {"number": "+9170000?????", "outcome": "no-answer", "ringSeconds": 30},
                         {"number": "+91600", "outcome": "answer", "talkSeconds": 120}],
               "defaultRingSeconds": 3, "defaultTalkSeconds": 20, "defaultTimeOutSeconds": 45}
              outcomes: answer, busy, no-answer, failed; a number pattern is a glob (* and ?) or a prefix.

            EXAMPLES:
              exorec simulate
              exorec simulate --port 0 --speed 60 --recording-delay 120 --scenario scenario.json
              exorec simulate --json --quiet | jq -r .url
              exorec simulate --speed 20 --callback-duplicate --callback-delay 30   # test a receiver's idempotency

              Place a call and read it back with curl (the platform docs' requests, pointed at the simulator):
                curl -X POST http://sim-key:sim-token@127.0.0.1:8090/v1/Accounts/exorec-sim/Calls/connect.json \\
                  -d From=09900000001 -d To=09900000002 -d CallerId=08030752400 -d Record=true
                curl -X POST http://sim-key:sim-token@127.0.0.1:8090/v1/Accounts/exorec-sim/Calls/connect.json \\
                  -F From=09900000001 -F CallerId=08030752400 -F StreamType=bidirectional \\
                  -F StreamUrl=wss://bot.example.com/media -F 'StatusCallbackEvents[]=terminal'
                curl http://sim-key:sim-token@127.0.0.1:8090/v1/Accounts/exorec-sim/Calls/CALLSID.json?details=true
                curl -o call.mp3 http://sim-key:sim-token@127.0.0.1:8090/v1/Accounts/exorec-sim/Recordings/CALLSID.mp3

              The exorec client (ExotelClient) takes the printed URL as its endpoint:
                ExotelEndpoint(baseURL: "http://127.0.0.1:8090") with
                ExotelCredentials(accountSid: "exorec-sim", apiKey: "sim-key", apiToken: "sim-token")

              The PyPI pyexotel SDK hard-codes https://DOMAIN; point its call endpoint at the simulator:
                from pyexotel import Exotel
                client = Exotel("sim-key", "sim-token", "exorec-sim")
                client.call_ep = "http://127.0.0.1:8090/v1/Accounts/exorec-sim/Calls"
                sid = client.call("+919900000001", "+919900000002", "08030752400")["Call"]["Sid"]
                print(client.get_call_info(sid)["Call"]["Status"])
            """
    )

    static let defaultHost = "127.0.0.1"
    static let defaultPort = 8090
    static let defaultAccountSid = "exorec-sim"
    static let defaultAPIKey = "sim-key"
    static let defaultAPIToken = "sim-token"

    @Option(
        name: .long,
        help: ArgumentHelp("Address to listen on (default 127.0.0.1; 0.0.0.0 for every interface).", valueName: "ip")
    )
    var host: String?

    @Option(name: .long, help: ArgumentHelp("Port to listen on (default 8090; 0 picks a free one).", valueName: "port"))
    var port: Int?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The simulated account's sid, the <sid> in /v1/Accounts/<sid>/ (default exorec-sim).",
            valueName: "sid"
        )
    )
    var accountSid: String?

    @Option(
        name: .long,
        help: ArgumentHelp("API key accepted as the Basic auth user (default sim-key).", valueName: "key")
    )
    var apiKey: String?

    @Option(
        name: .long,
        help: ArgumentHelp("API token accepted as the Basic auth password (default sim-token).", valueName: "token")
    )
    var apiToken: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Clock rate: 60 runs a one-minute call in one second (default 1, real time).",
            valueName: "rate"
        )
    )
    var speed: Double = 1

    @Option(name: .long, help: ArgumentHelp("JSON file of outcomes by number (see SCENARIO FILE).", valueName: "file"))
    var scenario: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Directory recordings are written to (default storage/simulator/recordings).",
            valueName: "dir"
        )
    )
    var recordings = "storage/simulator/recordings"

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Platform seconds after a call ends before its recording can be fetched (default 0).",
            valueName: "seconds"
        )
    )
    var recordingDelay: Double = 0

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Platform seconds every status callback waits before it is sent (default 0).",
            valueName: "seconds"
        )
    )
    var callbackDelay: Double = 0

    @Flag(name: .long, help: "Deliver every status callback twice (the platform may).")
    var callbackDuplicate = false

    @Flag(
        name: .long,
        help: "Deliver no status callback at all (the platform's delivery may fail; a reconciler must cope)."
    )
    var callbackDrop = false

    @Option(
        name: .long,
        help: ArgumentHelp("Retries of a callback answered non-2xx or not answered, 0-2 (default 0).", valueName: "n")
    )
    var callbackRetries = 0

    @Option(
        name: .long,
        help: ArgumentHelp(
            "PEM file of certificates to trust (besides the system's) for wss:// streams and https:// callbacks, e.g. a self-signed server's.",
            valueName: "file"
        )
    )
    var caFile: String?

    @Option(name: .long, help: ArgumentHelp("Log level: \(LogSetup.levelNames).", valueName: "level"))
    var logLevel: String?

    @Flag(name: .long, help: "Print the listening URL and the credentials as one JSON document.")
    var json = false

    @Flag(
        name: .shortAndLong,
        help: "Print only the listening line (or the JSON document); log warnings and errors only."
    )
    var quiet = false

    func validate() throws {
        if let port, !(0...65535).contains(port) {
            throw ValidationError("--port \(port) is not a port number (0-65535).")
        }
        guard self.speed.isFinite, self.speed > 0, self.speed <= 10_000 else {
            throw ValidationError("--speed must be above 0 and at most 10000.")
        }
        guard self.recordingDelay.isFinite, self.recordingDelay >= 0 else {
            throw ValidationError("--recording-delay must be 0 or more seconds.")
        }
        guard self.callbackDelay.isFinite, self.callbackDelay >= 0 else {
            throw ValidationError("--callback-delay must be 0 or more seconds.")
        }
        guard (0...CallbackFaults.maximumRetries).contains(self.callbackRetries) else {
            throw ValidationError(
                "--callback-retries must be 0-\(CallbackFaults.maximumRetries) (the platform retries at most twice)."
            )
        }
        if let logLevel, LogSetup.levels[logLevel] == nil {
            throw ValidationError("--log-level must be one of \(LogSetup.levelNames).")
        }
        if let accountSid, accountSid.isEmpty || accountSid.contains("/") {
            throw ValidationError("--account-sid must be a non-empty path segment.")
        }
        if let apiKey, apiKey.isEmpty || apiKey.contains(":") {
            throw ValidationError("--api-key must be non-empty and without ':'.")
        }
        if let apiToken, apiToken.isEmpty { throw ValidationError("--api-token must not be empty.") }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let host = self.host ?? environment["EXOREC_SIMULATOR_HOST"] ?? Self.defaultHost
        let port = try self.port ?? environment["EXOREC_SIMULATOR_PORT"].map(Self.parsePort) ?? Self.defaultPort
        let account = SimulatedAccount(
            sid: self.accountSid ?? environment["EXOREC_SIMULATOR_ACCOUNT_SID"] ?? Self.defaultAccountSid,
            apiKey: self.apiKey ?? environment["EXOREC_SIMULATOR_API_KEY"] ?? Self.defaultAPIKey,
            apiToken: self.apiToken ?? environment["EXOREC_SIMULATOR_API_TOKEN"] ?? Self.defaultAPIToken
        )

        var platform = SimulatorConfiguration(
            accounts: [account],
            recordingsDirectory: self.recordings,
            publicBaseURL: ""
        )
        platform.recordingDelay = .milliseconds(Int64((self.recordingDelay * 1000).rounded()))
        platform.callbackFaults = CallbackFaults(
            delay: .milliseconds(Int64((self.callbackDelay * 1000).rounded())),
            duplicate: self.callbackDuplicate,
            drop: self.callbackDrop,
            retriesAfterFailure: self.callbackRetries
        )
        if let scenario {
            do {
                platform.scenario = try Scenario.load(path: scenario)
            } catch {
                throw ValidationError("--scenario \(scenario): \(error)")
            }
        }
        do {
            try FileManager.default.createDirectory(atPath: self.recordings, withIntermediateDirectories: true)
        } catch {
            throw ValidationError("--recordings \(self.recordings): \(error.localizedDescription)")
        }

        platform.trustedCertificatesFile = self.caFile
        let trustingClient: HTTPClient?
        do {
            trustingClient = try SimulatorSeams.httpClient(trustedCertificatesFile: self.caFile)
        } catch {
            throw ValidationError("--ca-file \(self.caFile ?? ""): not a readable PEM file of certificates (\(error))")
        }

        let logger = LogSetup.makeLogger(label: "exorec.simulate", level: self.logLevel, quiet: self.quiet)
        let server = SimulatorServer(
            configuration: SimulatorServerConfiguration(host: host, port: port),
            platform: platform,
            clock: ScaledClock(rate: self.speed),
            httpClient: trustingClient ?? .shared,
            logger: logger
        )
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: server)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let running = try await server.running()
                self.announce(running, account: account)
                try await tasks.waitForAll()
            }
        } catch {
            try? await trustingClient?.shutdown()
            throw error
        }
        try await trustingClient?.shutdown()
    }

    private static func parsePort(_ text: String) throws -> Int {
        guard let port = Int(text), (0...65535).contains(port) else {
            throw ValidationError("EXOREC_SIMULATOR_PORT=\(text) is not a port number (0-65535).")
        }
        return port
    }

    /// What a user (or a script) needs to point a client at the simulator.
    struct Announcement: Encodable {
        var url: String
        var host: String
        var port: Int
        var accountSid: String
        var apiKey: String
        var apiToken: String
        var recordings: String
        var speed: Double
    }

    private func announce(_ running: RunningSimulator, account: SimulatedAccount) {
        let announcement = Announcement(
            url: running.baseURL,
            host: running.host,
            port: running.port,
            accountSid: account.sid,
            apiKey: account.apiKey,
            apiToken: account.apiToken,
            recordings: self.recordings,
            speed: self.speed
        )
        if self.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let data = (try? encoder.encode(announcement)) ?? Data("{}".utf8)
            StandardOutput.line(String(decoding: data, as: UTF8.self))
            return
        }
        StandardOutput.line("simulator listening on \(running.baseURL)")
        guard !self.quiet else { return }
        StandardOutput.line(
            "account \(account.sid), Basic auth \(account.apiKey):\(account.apiToken); clock \(self.speed)x; recordings in \(self.recordings)"
        )
        let base = running.baseURL.replacingOccurrences(of: "://", with: "://\(account.apiKey):\(account.apiToken)@")
        StandardOutput.line(
            "try: curl -X POST \(base)/v1/Accounts/\(account.sid)/Calls/connect.json -d From=09900000001 -d To=09900000002 -d CallerId=08030752400"
        )
    }
}
