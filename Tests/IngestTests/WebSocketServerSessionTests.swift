import ExorecTesting
import Foundation
import Ingest
import Logging
import Synchronization
import Testing

/// The seam between `WebSocketServer` and its handler: each connection's messages reach the session
/// `opened` made for that connection, whole (fragments reassembled), and `closed` hands it back once.
@Suite(.timeLimit(.minutes(1))) struct WebSocketServerSessionTests {
    @Test func eachMessageReachesTheSessionOfItsConnectionAndEachSessionIsClosedOnce() async throws {
        let handler = RecordingHandler()
        var configuration = WebSocketServerConfiguration()
        configuration.port = 0
        configuration.maxMessageBytes = 1024
        let server = WebSocketServer(configuration: configuration, handler: handler, logger: Logger(label: "test"))
        let port = BoundPort()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run { bound in port.value.store(bound, ordering: .releasing) } }
            defer { server.requestStop() }
            let listening = try #require(await poll { port.value.load(ordering: .acquiring).nonZero })

            let a = try TestWebSocketClient(port: listening, path: "/s?name=a")
            let b = try TestWebSocketClient(port: listening, path: "/s?name=b")
            try a.sendText("a1")
            try b.sendText("b1")
            try a.sendFragmented("a2 in several fragments", pieceSize: 4)
            try b.sendBinary(Array("b2".utf8))
            try b.sendText(String(repeating: "x", count: 2000))
            try a.sendText("close me")
            #expect(try await b.closed()?.code == 1009)
            #expect(try await a.closed()?.code == 1008)
            try #require(await eventually { handler.events.count { $0.event == "closed" } == 2 })

            let events = handler.events
            #expect(
                events.filter { $0.name == "a" }.map(\.event) == [
                    "opened", "text:a1", "text:a2 in several fragments", "text:close me", "closed",
                ]
            )
            #expect(
                events.filter { $0.name == "b" }.map(\.event) == [
                    "opened", "text:b1", "binary:b2", "too-large", "closed",
                ]
            )
            // Every event of a session came with that session's own connection.
            let aConnections = Set(events.filter { $0.name == "a" }.map(\.connectionID))
            let bConnections = Set(events.filter { $0.name == "b" }.map(\.connectionID))
            #expect(aConnections.count == 1 && bConnections.count == 1 && aConnections != bConnections)
            // The server let go of both sessions after `closed`.
            #expect(await eventually { handler.liveSessions.value.load(ordering: .relaxed) == 0 })
        }
    }
}

private final class BoundPort: Sendable {
    let value = Atomic<Int>(0)
}

extension Int {
    fileprivate var nonZero: Int? { self == 0 ? nil : self }
}

/// Polls `value` every 10 ms for up to 30 s.
private func poll<T>(_ value: () -> T?) async -> T? {
    let deadline = ContinuousClock.now + .seconds(30)
    while ContinuousClock.now < deadline {
        if let found = value() { return found }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return nil
}

/// Whether `condition` holds within 30 s (polled every 10 ms).
private func eventually(_ condition: () -> Bool) async -> Bool {
    await poll { condition() ? true : nil } ?? false
}

/// A handler whose sessions write down what the server hands them. Runs on the server's thread; the
/// test reads `events` through a lock.
private final class RecordingHandler: WebSocketServerHandler {
    final class Session {
        let connection: WebSocketConnection
        let name: String
        let live: LiveCount

        init(connection: WebSocketConnection, name: String, live: LiveCount) {
            self.connection = connection
            self.name = name
            self.live = live
            live.value.add(1, ordering: .relaxed)
        }

        deinit { self.live.value.subtract(1, ordering: .relaxed) }
    }

    final class LiveCount: Sendable {
        let value = Atomic<Int>(0)
    }

    struct Event: Sendable {
        var name: String
        var connectionID: UInt64
        var event: String
    }

    private let log = Mutex<[Event]>([])
    /// Sessions made and not yet deinitialized.
    let liveSessions = LiveCount()

    var events: [Event] { self.log.withLock { $0 } }

    private func record(_ session: Session, _ event: String) {
        self.log.withLock { $0.append(Event(name: session.name, connectionID: session.connection.id, event: event)) }
    }

    func shouldAccept(_ request: UpgradeRequest) -> UpgradeDecision { .accept }

    func opened(_ connection: WebSocketConnection, request: UpgradeRequest) -> Session {
        let session = Session(connection: connection, name: request.queryValue("name") ?? "?", live: self.liveSessions)
        self.record(session, "opened")
        return session
    }

    func received(_ message: UnsafeRawBufferPointer, isBinary: Bool, session: Session) {
        let text = String(decoding: message, as: UTF8.self)
        self.record(session, (isBinary ? "binary:" : "text:") + text)
        if text == "close me" { session.connection.close(.policyViolation, reason: "asked to") }
    }

    func messageTooLarge(session: Session) { self.record(session, "too-large") }

    func closed(session: Session) { self.record(session, "closed") }

    func respond(to request: HTTPRequest) -> HTTPResponse { .error(404, "no") }
    func refused(_ refusal: ConnectionRefusal) {}
    func connections(sockets: Int, pending: Int) {}
    func tick(monotonicMs: Int64) {}
    func shutdownRequested() {}
}
