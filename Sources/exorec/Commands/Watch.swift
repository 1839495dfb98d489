import ArgumentParser
import Doors
import Foundation
import Ingest
import Logging
import Orchestrator
import Synchronization
import UnixSignals

/// `exorec watch`: follows a server's events feed and prints each event as a JSON line
/// (`docs/CONSUMERS.md`).
struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Print a server's live events (streams started, grown, finished; recordings; calls) as JSON lines.",
        discussion: """
            Follows GET /v1/events on a running `exorec serve` as Server-Sent Events and prints each \
            event as one JSON object per line on standard output: stream.started, stream.progress, \
            stream.finished, recording.stored and call.completed, each with its id, the call, and the \
            media's media_id and path (fetch the file with GET /v1/media/MEDIA_ID). After a broken \
            connection it reconnects with the last id it printed, so nothing is missed or printed \
            twice; to resume a later run where this one stopped, pass that id to --after.

            The server and token come from the configuration (api.host/port, api.token or \
            EXOREC_API_TOKEN) unless given.

            A server that cannot be reached on the first connection (nothing listening, unreachable) is an \
            error at once, naming the URL; after the feed was followed, a lost server is retried with \
            backoff, one log line per attempt with the URL and the wait before the next.

            EXIT CODES: 0 stopped (SIGINT/SIGTERM, --count reached, or --no-follow done); 1 failed \
            (the server cannot be reached, or refused: wrong token, API off); 64 usage error.

            EXAMPLES:
              exorec watch --config exorec.yaml
              exorec watch --server http://127.0.0.1:8082 --token "$EXOREC_API_TOKEN" --after 0
              exorec watch --config exorec.yaml --types stream.finished,recording.stored | jq .path
              exorec watch --config exorec.yaml --after 1200 --no-follow > events.jsonl
            """
    )

    @OptionGroup var options: ConfigOptions

    @OptionGroup var door: InternalDoorOptions

    @Option(
        name: .long,
        help: ArgumentHelp("Start after this event id (0: everything kept); default: only new events.", valueName: "id")
    )
    var after: Int64?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Only these event types, comma-separated: stream.started, stream.progress, stream.finished, recording.stored, call.completed.",
            valueName: "types"
        )
    )
    var types: String?

    @Option(name: .long, help: ArgumentHelp("Stop after printing this many events.", valueName: "n"))
    var count: Int?

    @Flag(name: .long, help: "Print the events there are now, then stop (needs --after).")
    var noFollow = false

    @Flag(name: [.short, .long], help: "Log errors only (no reconnection lines).")
    var quiet = false

    static let knownTypes = [
        "stream.started", "stream.progress", "stream.finished", "recording.stored", "call.completed",
    ]

    var typeList: [String] {
        (self.types ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func validate() throws {
        if let after, after < 0 { throw ValidationError("--after must be an event id (0 or more).") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1.") }
        if self.noFollow && self.after == nil { throw ValidationError("--no-follow needs --after (where to start).") }
        if let unknown = self.typeList.first(where: { !Self.knownTypes.contains($0) }) {
            throw ValidationError("unknown event type '\(unknown)'; known: \(Self.knownTypes.joined(separator: ", ")).")
        }
    }

    func run() async throws {
        let setup = try self.options.setup()
        var logger = self.options.logger(label: "exorec.watch", file: setup.file)
        if self.quiet { logger.logLevel = .error }
        let (server, token) = try self.door.endpoint(setup.file)
        if self.noFollow, let after = self.after {
            try await self.printAvailable(server: server, token: token, after: after, logger: logger)
            return
        }
        // SIGINT/SIGTERM end the watch cleanly (exit 0): the last line printed is complete. Trapped before
        // the first connection, so a signal after "following the events feed" never kills it midway.
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        let follower = EventFeedFollower(server: server, token: token, types: self.typeList, logger: logger)
        let printed = Atomic<Int>(0)
        let limit = self.count
        let task = Task {
            try await follower.follow(from: self.after.map { .after($0) } ?? .latest) { event in
                StandardOutput.line(event.json)
                let total = printed.add(1, ordering: .relaxed).newValue
                return limit.map { total < $0 } ?? true
            }
        }
        let stopper = Task {
            for await _ in signals {
                task.cancel()
                break
            }
        }
        defer { stopper.cancel() }
        do {
            _ = try await task.value
        } catch let error as EventFeedFollower.FollowError {
            StandardError.line("exorec watch: \(error)")
            throw ExitCode(1)
        } catch is CancellationError {
        }
    }

    /// `--no-follow`: long polls without waiting until the feed has nothing newer.
    private func printAvailable(server: String, token: String, after: Int64, logger: Logger) async throws {
        let feed = EventFeedFollower(server: server, token: token, types: self.typeList, logger: logger)
        var position = after
        var printed = 0
        while true {
            let page: (events: [EventFeedFollower.Event], lastID: Int64)
            do {
                page = try await feed.page(after: position)
            } catch let error as EventFeedFollower.FollowError {
                StandardError.line("exorec watch: \(error)")
                throw ExitCode(1)
            }
            for event in page.events {
                StandardOutput.line(event.json)
                printed += 1
                if let count = self.count, printed >= count { return }
            }
            if page.events.isEmpty || page.lastID == position { return }
            position = page.lastID
        }
    }
}
