public import ExotelKit
import HTTPTypes
public import Logging
import NIOCore
public import NIOSSL
import NIOWebSocket
import WSClient

/// A message the bot sent.
public enum StreamIncoming: Sendable, Hashable {
    case text(String)
    /// The protocol is JSON text; a binary frame (its size here) is counted and ignored.
    case binary(bytes: Int)
}

/// One open platform → bot WebSocket.
public protocol StreamConnection: Sendable {
    func send(text: String) async throws
    /// Calls `body` with each message the bot sends, in order, with when it arrived on `clock`;
    /// returns when the bot closes the connection (or after `close`), with when that happened.
    func receive(
        on clock: ScaledClock,
        _ body: @escaping @Sendable (StreamIncoming, _ arrivedAt: ScaledClock.Instant) -> Void
    ) async throws -> ScaledClock.Instant
    /// Starts the closing handshake (after `stop`).
    func close() async throws
}

/// Opens the platform → bot WebSocket. A seam, so tests can capture a stream without a network.
public protocol StreamConnecting: Sendable {
    /// Connects to `url` with the extra upgrade `headers`, runs `session`, then closes the connection.
    func withConnection(
        url: String,
        headers: [String: String],
        _ session: @escaping @Sendable (any StreamConnection) async throws -> Void
    ) async throws
}

/// `StreamConnecting` over swift-websocket's client.
public struct WebSocketStreamConnector: StreamConnecting {
    /// The bot's messages are JSON events; a whole greeting in one `media` is at most ~100 KB (§1.6).
    static let largestBotMessage = 1 << 20
    let logger: Logger
    let tlsConfiguration: TLSConfiguration?

    /// - Parameter tlsConfiguration: how a `wss://` server is checked (nil: the system's roots).
    public init(logger: Logger, tlsConfiguration: TLSConfiguration? = nil) {
        self.logger = logger
        self.tlsConfiguration = tlsConfiguration
    }

    public func withConnection(
        url: String,
        headers: [String: String],
        _ session: @escaping @Sendable (any StreamConnection) async throws -> Void
    ) async throws {
        var fields = HTTPFields()
        for (name, value) in headers {
            if let fieldName = HTTPField.Name(name) { fields[fieldName] = value }
        }
        try await WebSocketClient.connect(
            url: url,
            configuration: WebSocketClientConfiguration(additionalHeaders: fields),
            tlsConfiguration: self.tlsConfiguration,
            logger: self.logger
        ) { inbound, outbound, _ in
            try await session(Connection(inbound: inbound, outbound: outbound))
        }
    }

    struct Connection: StreamConnection {
        let inbound: WebSocketInboundStream
        let outbound: WebSocketOutboundWriter

        func send(text: String) async throws {
            try await self.outbound.write(.text(text))
        }

        func receive(
            on clock: ScaledClock,
            _ body: @escaping @Sendable (StreamIncoming, _ arrivedAt: ScaledClock.Instant) -> Void
        ) async throws -> ScaledClock.Instant {
            for try await message in self.inbound.messages(maxSize: WebSocketStreamConnector.largestBotMessage) {
                switch message {
                case .text(let text): body(.text(text), clock.now)
                case .binary(let buffer): body(.binary(bytes: buffer.readableBytes), clock.now)
                }
            }
            return clock.now
        }

        func close() async throws {
            try await self.outbound.close(.normalClosure, reason: nil)
        }
    }
}
