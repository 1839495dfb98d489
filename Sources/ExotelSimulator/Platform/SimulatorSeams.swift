public import AsyncHTTPClient
public import Logging

/// The simulator's ways out to the world: fetching audio, opening streams, posting callbacks.
/// Production uses HTTP and WebSockets; tests inject recorders.
public struct SimulatorSeams: Sendable {
    public var audioFetcher: any AudioFetching
    public var streamConnector: any StreamConnecting
    public var callbackPoster: any CallbackPosting

    public init(audioFetcher: any AudioFetching, streamConnector: any StreamConnecting, callbackPoster: any CallbackPosting) {
        self.audioFetcher = audioFetcher
        self.streamConnector = streamConnector
        self.callbackPoster = callbackPoster
    }

    /// HTTP GET for audio, swift-websocket for streams, HTTP POST for callbacks.
    public static func network(httpClient: HTTPClient, logger: Logger) -> SimulatorSeams {
        SimulatorSeams(
            audioFetcher: HTTPAudioFetcher(httpClient: httpClient),
            streamConnector: WebSocketStreamConnector(logger: logger),
            callbackPoster: HTTPCallbackPoster(httpClient: httpClient))
    }
}
