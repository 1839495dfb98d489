public import AsyncHTTPClient
public import Logging
public import NIOSSL

/// The simulator's ways out to the world: fetching audio, opening streams, posting callbacks.
/// Production uses HTTP and WebSockets; tests inject recorders.
public struct SimulatorSeams: Sendable {
    public var audioFetcher: any AudioFetching
    public var streamConnector: any StreamConnecting
    public var callbackPoster: any CallbackPosting

    public init(
        audioFetcher: any AudioFetching,
        streamConnector: any StreamConnecting,
        callbackPoster: any CallbackPosting
    ) {
        self.audioFetcher = audioFetcher
        self.streamConnector = streamConnector
        self.callbackPoster = callbackPoster
    }

    /// HTTP GET for audio, swift-websocket for streams, HTTP POST for callbacks.
    ///
    /// - Parameter streamTLS: how `wss://` streams check the server (nil: the system's roots).
    public static func network(
        httpClient: HTTPClient,
        logger: Logger,
        streamTLS: TLSConfiguration? = nil
    ) -> SimulatorSeams {
        SimulatorSeams(
            audioFetcher: HTTPAudioFetcher(httpClient: httpClient),
            streamConnector: WebSocketStreamConnector(logger: logger, tlsConfiguration: streamTLS),
            callbackPoster: HTTPCallbackPoster(httpClient: httpClient)
        )
    }

    /// A client TLS configuration that trusts the certificates in `trustedCertificatesFile` (PEM)
    /// besides the system's roots; nil without a file.
    public static func clientTLS(trustedCertificatesFile: String?) throws -> TLSConfiguration? {
        guard let trustedCertificatesFile else { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(trustedCertificatesFile))]
        return tls
    }

    /// An HTTP client for audio and callbacks that also trusts `trustedCertificatesFile` (PEM) for
    /// `https://`; nil without a file. The caller shuts it down.
    public static func httpClient(trustedCertificatesFile: String?) throws -> HTTPClient? {
        guard let tls = try Self.clientTLS(trustedCertificatesFile: trustedCertificatesFile) else { return nil }
        return HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: HTTPClient.Configuration(tlsConfiguration: tls)
        )
    }
}
