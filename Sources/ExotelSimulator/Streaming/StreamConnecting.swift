public import AsyncHTTPClient
import HTTPTypes
public import Logging
import WSClient

/// Sends text frames on an open stream connection.
public protocol StreamSending: Sendable {
    func send(text: String) async throws
}

/// Opens the platform → bot WebSocket. A seam, so tests can capture a stream without a network.
public protocol StreamConnecting: Sendable {
    /// Connects to `url` with the extra upgrade `headers`, runs `session`, then closes the connection.
    func withConnection(
        url: String, headers: [String: String], _ session: @escaping @Sendable (any StreamSending) async throws -> Void
    ) async throws
}

/// `StreamConnecting` over swift-websocket's client.
public struct WebSocketStreamConnector: StreamConnecting {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func withConnection(
        url: String, headers: [String: String], _ session: @escaping @Sendable (any StreamSending) async throws -> Void
    ) async throws {
        var fields = HTTPFields()
        for (name, value) in headers {
            if let fieldName = HTTPField.Name(name) { fields[fieldName] = value }
        }
        try await WebSocketClient.connect(
            url: url, configuration: WebSocketClientConfiguration(additionalHeaders: fields), logger: self.logger
        ) { _, outbound, _ in
            // Frames the bot sends back (a bidirectional bot's audio) are not played anywhere; leaving
            // them unread only applies backpressure to the bot.
            try await session(OutboundSender(outbound: outbound))
        }
    }

    struct OutboundSender: StreamSending {
        let outbound: WebSocketOutboundWriter

        func send(text: String) async throws {
            try await self.outbound.write(.text(text))
        }
    }
}
