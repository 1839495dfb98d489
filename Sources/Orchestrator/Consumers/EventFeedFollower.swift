public import AsyncHTTPClient
import ExotelKit
import Foundation
public import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// Follows a server's events feed (`GET /v1/events` as Server-Sent Events) for as long as asked,
/// reconnecting after any break with the last id it saw, so that nothing is missed or repeated.
/// `exorec watch` prints what it yields; a consumer program can use it the same way.
///
/// ```swift
/// let follower = EventFeedFollower(server: "http://127.0.0.1:8080", token: token, logger: logger)
/// try await follower.follow(after: .latest) { event in print(event.json) }
/// ```
public struct EventFeedFollower: Sendable {
    /// Where to start.
    public enum Start: Sendable, Hashable {
        /// Only events newer than the newest one now.
        case latest
        /// Events with an id above this one (0: everything the feed holds).
        case after(Int64)
    }

    /// One event as received.
    public struct Event: Sendable, Hashable {
        public var id: Int64
        public var type: String
        /// The event as the server sent it: one JSON object.
        public var json: String
    }

    /// Errors that reconnecting cannot fix.
    public enum FollowError: Error, CustomStringConvertible, Equatable {
        /// 400, 401, 403, 404: wrong URL, token or parameters; the server's reason is kept.
        case refused(status: Int, reason: String)
        case invalidServerURL(String)
        /// Nothing answers at the server's address (refused, unreachable, timed out connecting).
        case unreachable(server: String, reason: String)

        public var description: String {
            switch self {
            case .unreachable(let server, let reason): "cannot reach the events feed at \(server): \(reason)"
            case .refused(let status, let reason): "the server refused the events feed (HTTP \(status)): \(reason)"
            case .invalidServerURL(let url): "'\(url)' is not an http:// or https:// URL"
            }
        }
    }

    let server: String
    let token: String
    let types: [String]
    let client: HTTPClient
    let logger: Logger
    /// Waits between reconnection attempts: doubles from the first to the last.
    let backoff: (first: Duration, last: Duration)

    public init(
        server: String,
        token: String,
        types: [String] = [],
        client: HTTPClient = EventFeedFollower.failFastClient,
        logger: Logger,
        backoff: (first: Duration, last: Duration) = (.milliseconds(500), .seconds(30))
    ) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.token = token
        self.types = types
        self.client = client
        self.logger = logger
        self.backoff = backoff
    }

    /// A client like `HTTPClient.shared` that reports a failed connection at once: `HTTPClient.shared` keeps
    /// retrying a refused connection until the request's deadline, which for the feed is never.
    public static let failFastClient: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    /// Follows the feed until `handle` returns false, the task is cancelled, or the server refuses.
    /// A server that cannot be reached on the first connection is an error (``FollowError/unreachable(server:reason:)``),
    /// at once; after the feed was followed once, a lost server is retried with backoff, one log line per attempt.
    /// - Returns: the last id seen (the position to resume from).
    @discardableResult
    public func follow(from start: Start, _ handle: @Sendable (Event) async throws -> Bool) async throws -> Int64? {
        try self.checkServerURL()
        var position: Int64? = if case .after(let id) = start { id } else { nil }
        var wait = self.backoff.first
        var connected = false
        var failuresInARow = 0
        while !Task.isCancelled {
            do {
                let keepGoing = try await self.connect(
                    after: position,
                    connected: {
                        connected = true
                        failuresInARow = 0
                    }
                ) { update in
                    switch update {
                    case .position(let id):
                        position = id
                        wait = self.backoff.first
                        return true
                    case .event(let event):
                        position = event.id
                        wait = self.backoff.first
                        return try await handle(event)
                    }
                }
                if !keepGoing { return position }
                self.logger.notice(
                    "the events feed ended; reconnecting",
                    metadata: ["after": "\(position.map(String.init) ?? "latest")"]
                )
            } catch let error as FollowError {
                throw error
            } catch {
                if Task.isCancelled { break }
                let reason = Self.connectionFailure(error)
                if !connected, let reason { throw FollowError.unreachable(server: self.server, reason: reason) }
                failuresInARow += 1
                let metadata: Logger.Metadata = [
                    "server": "\(self.server)", "error": "\(LogText.escaped(reason ?? "\(error)", limit: 1024))",
                    "after": "\(position.map(String.init) ?? "latest")", "next_attempt_in": "\(wait)",
                ]
                if failuresInARow == 1 {
                    self.logger.warning("lost the events feed; reconnecting", metadata: metadata)
                } else {
                    self.logger.info("the events feed is still unreachable; retrying", metadata: metadata)
                }
            }
            do { try await Task.sleep(for: wait) } catch { break }
            wait = min(wait * 2, self.backoff.last)
        }
        return position
    }

    /// One long poll (`GET /v1/events?after=…&wait=…`): the events after `after`, waiting up to `wait`
    /// for the first, and the id to ask after next time.
    public func page(
        after: Int64,
        limit: Int = 1000,
        wait: Duration = .zero
    ) async throws -> (events: [Event], lastID: Int64) {
        try self.checkServerURL()
        let request = self.eventsRequest("after=\(after)&limit=\(limit)&wait=\(wait.components.seconds)")
        let response: HTTPClientResponse
        do {
            response = try await self.client.execute(
                request,
                timeout: .seconds(wait.components.seconds + 30),
                logger: self.logger
            )
        } catch {
            if let reason = Self.connectionFailure(error) {
                throw FollowError.unreachable(server: self.server, reason: reason)
            }
            throw error
        }
        let body = try await response.body.collect(upTo: 64 << 20)
        guard response.status == .ok else {
            throw Self.refusal(status: Int(response.status.code), body: String(buffer: body))
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
            let items = object["events"] as? [[String: Any]], let lastID = (object["last_id"] as? NSNumber)?.int64Value
        else { throw FollowError.refused(status: 200, reason: "the answer is not an events page") }
        let events = try items.map { item in
            let json = try JSONSerialization.data(
                withJSONObject: item,
                options: [.sortedKeys, .withoutEscapingSlashes]
            )
            return Event(
                id: (item["id"] as? NSNumber)?.int64Value ?? 0,
                type: item["type"] as? String ?? "",
                json: String(decoding: json, as: UTF8.self)
            )
        }
        return (events, lastID)
    }

    private func checkServerURL() throws(FollowError) {
        guard self.server.hasPrefix("http://") || self.server.hasPrefix("https://") else {
            throw .invalidServerURL(self.server)
        }
    }

    /// `GET /v1/events?<parameters>[&types=…]` with the token.
    private func eventsRequest(_ parameters: String) -> HTTPClientRequest {
        let types = self.types.isEmpty ? "" : "&types=" + self.types.joined(separator: ",")
        var request = HTTPClientRequest(url: "\(self.server)/v1/events?\(parameters)\(types)")
        request.headers.add(name: "Authorization", value: "Bearer \(self.token)")
        return request
    }

    static func refusal(status: Int, body: String) -> FollowError {
        let reason =
            (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["error"] as? String ?? body
        return .refused(status: status, reason: reason.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Why connecting failed, when `error` says the request never reached a server; nil otherwise.
    static func connectionFailure(_ error: any Error) -> String? {
        if let connectionError = error as? NIOConnectionError {
            if let underlying = connectionError.connectionErrors.last?.error as? IOError {
                return underlying.errnoCode == ECONNREFUSED
                    ? "connection refused (is `exorec serve` running, with api.enabled?)" : "\(underlying)"
            }
            return "\(connectionError)"
        }
        if let ioError = error as? IOError,
            [ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL].contains(ioError.errnoCode)
        {
            return ioError.errnoCode == ECONNREFUSED
                ? "connection refused (is `exorec serve` running, with api.enabled?)" : "\(ioError)"
        }
        if let channelError = error as? ChannelError, case .connectTimeout = channelError {
            return "connecting timed out"
        }
        if let clientError = error as? HTTPClientError,
            [HTTPClientError.connectTimeout, .getConnectionFromPoolTimeout].contains(clientError)
        {
            return "connecting timed out"
        }
        return nil
    }

    struct ServerUnavailable: Error, CustomStringConvertible {
        var description: String
    }

    enum Update {
        case position(Int64)
        case event(Event)
    }

    /// One connection: reads events until the server ends it (true), or `handle` says stop (false).
    private func connect(
        after: Int64?,
        connected: () -> Void,
        _ handle: (Update) async throws -> Bool
    ) async throws -> Bool {
        var request = self.eventsRequest("after=\(after.map(String.init) ?? "latest")")
        request.headers.add(name: "Accept", value: "text/event-stream")
        if let after { request.headers.add(name: "Last-Event-ID", value: String(after)) }
        // No overall deadline: the feed is meant to stay open; a dead server shows as a read error.
        let response = try await self.client.execute(request, deadline: .distantFuture, logger: self.logger)
        guard response.status == .ok else {
            let body = (try? await response.body.collect(upTo: 64 << 10)).map { String(buffer: $0) } ?? ""
            let refusal = Self.refusal(status: Int(response.status.code), body: body)
            // A refusal names a mistake (URL, token, parameters); anything else may pass: reconnect.
            if [400, 401, 403, 404, 405].contains(Int(response.status.code)) { throw refusal }
            throw ServerUnavailable(description: refusal.description)
        }
        connected()
        self.logger.info(
            "following the events feed",
            metadata: ["server": "\(self.server)", "after": "\(after.map(String.init) ?? "latest")"]
        )
        var parser = ServerSentEventParser()
        for try await buffer in response.body {
            for update in parser.feed(buffer.readableBytesView) {
                if try await !handle(update) { return false }
            }
        }
        return true
    }
}

/// Splits a Server-Sent Events byte stream into events (WHATWG HTML §9.2.6), as far as the feed uses it:
/// `id`, `event`, `data` fields, comments, and an `id` without data as a position update.
struct ServerSentEventParser {
    private var line: [UInt8] = []
    private var id: Int64?
    /// Whether the block being read had an `id` field (a block of only comments moves nothing).
    private var blockHasID = false
    private var type = "message"
    private var data: [String] = []
    private var sawCarriageReturn = false

    mutating func feed(_ bytes: some Sequence<UInt8>) -> [EventFeedFollower.Update] {
        var updates: [EventFeedFollower.Update] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") && self.sawCarriageReturn {
                self.sawCarriageReturn = false
                continue
            }
            self.sawCarriageReturn = byte == UInt8(ascii: "\r")
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                if let update = self.endLine() { updates.append(update) }
            } else {
                self.line.append(byte)
            }
        }
        return updates
    }

    private mutating func endLine() -> EventFeedFollower.Update? {
        defer { self.line.removeAll(keepingCapacity: true) }
        if self.line.isEmpty { return self.dispatch() }
        if self.line.first == UInt8(ascii: ":") { return nil }
        let text = String(decoding: self.line, as: UTF8.self)
        let field: Substring
        var value: Substring
        if let colon = text.firstIndex(of: ":") {
            field = text[..<colon]
            value = text[text.index(after: colon)...]
            if value.first == " " { value = value.dropFirst() }
        } else {
            field = Substring(text)
            value = ""
        }
        switch field {
        case "id":
            self.id = Int64(value)
            self.blockHasID = true
        case "event": self.type = String(value)
        case "data": self.data.append(String(value))
        default: break  // retry, and fields this feed does not send
        }
        return nil
    }

    private mutating func dispatch() -> EventFeedFollower.Update? {
        defer {
            self.type = "message"
            self.data = []
            self.blockHasID = false
        }
        guard let id = self.id else { return nil }
        if self.data.isEmpty { return self.blockHasID ? .position(id) : nil }
        return .event(EventFeedFollower.Event(id: id, type: self.type, json: self.data.joined(separator: "\n")))
    }
}
