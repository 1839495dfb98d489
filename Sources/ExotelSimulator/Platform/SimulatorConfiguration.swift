public import ExotelKit

/// An account the simulator accepts requests for (Basic auth with `apiKey:apiToken`).
public struct SimulatedAccount: Sendable, Hashable {
    public var sid: String
    public var apiKey: String
    public var apiToken: String

    public init(sid: String, apiKey: String, apiToken: String) {
        self.sid = sid
        self.apiKey = apiKey
        self.apiToken = apiToken
    }
}

/// Everything the simulated platform needs to know besides its clock and HTTP client.
public struct SimulatorConfiguration: Sendable {
    public var accounts: [SimulatedAccount]
    /// Recordings are written to `<recordingsDirectory>/<AccountSid>/<CallSid>.mp3`.
    public var recordingsDirectory: String
    /// Where the HTTP front is reachable; RecordingUrl = "<publicBaseURL>/v1/Accounts/<sid>/Recordings/<CallSid>.mp3"
    public var publicBaseURL: String
    /// Platform time after the call's end before its recording can be fetched (the real platform
    /// takes minutes; default `.zero`).
    public var recordingDelay: Duration
    /// Outcomes by number pattern (default: everyone answers).
    public var scenario: Scenario
    /// How status callbacks are (mis)delivered (default: each once, on time, no retries).
    public var callbackFaults: CallbackFaults
    /// Sample rate of recordings; 8000 Hz is what the telephone legs carry.
    public var recordingSampleRate: Int
    /// What one started minute (a pulse) of an answered call costs, for Call Details' `Price`
    /// (a string with three decimals, as the platform's is; "0.000" when nobody answered).
    public var pricePerMinute: Double
    /// A PEM file of certificates (a CA, or a self-signed server certificate) trusted, besides the
    /// system's roots, when the simulator opens `wss://` streams and posts callbacks to `https://`.
    public var trustedCertificatesFile: String?

    public init(accounts: [SimulatedAccount], recordingsDirectory: String, publicBaseURL: String) {
        self.accounts = accounts
        self.recordingsDirectory = recordingsDirectory
        self.publicBaseURL = publicBaseURL
        self.recordingDelay = .zero
        self.scenario = Scenario()
        self.callbackFaults = CallbackFaults()
        self.recordingSampleRate = 8000
        self.pricePerMinute = 1.5
    }

    /// The URL a call's recording is served at.
    public func recordingURL(accountSid: String, callSid: String) -> String {
        var base = self.publicBaseURL
        while base.hasSuffix("/") { base.removeLast() }
        return "\(base)/v1/Accounts/\(accountSid)/Recordings/\(callSid).mp3"
    }
}

/// Status-callback delivery faults, for testing a receiver's robustness.
public struct CallbackFaults: Sendable, Hashable {
    /// Platform time every callback waits before its first delivery attempt.
    public var delay: Duration
    /// Deliver every callback twice (the new portal warns that duplicates happen).
    public var duplicate: Bool
    /// Deliver nothing (the classic docs warn that delivery may fail).
    public var drop: Bool
    /// How often a non-2xx answer or a transport error is retried; the platform's documented maximum is 2.
    public var retriesAfterFailure: Int {
        didSet { self.retriesAfterFailure = min(max(self.retriesAfterFailure, 0), Self.maximumRetries) }
    }
    /// Platform time between a failed attempt and its retry.
    public var retryInterval: Duration

    /// The new portal's "retried up to 2 times".
    public static let maximumRetries = 2

    public init(
        delay: Duration = .zero,
        duplicate: Bool = false,
        drop: Bool = false,
        retriesAfterFailure: Int = 0,
        retryInterval: Duration = .seconds(5)
    ) {
        self.delay = delay
        self.duplicate = duplicate
        self.drop = drop
        self.retriesAfterFailure = min(max(retriesAfterFailure, 0), Self.maximumRetries)
        self.retryInterval = retryInterval
    }
}

/// The recording of a call, once written.
public struct SimulatedRecording: Sendable {
    public let path: String
    public let contentType: String
    /// When the recording may be served (the call's end plus `recordingDelay`).
    public let availableAt: ScaledClock.Instant

    public init(path: String, contentType: String, availableAt: ScaledClock.Instant) {
        self.path = path
        self.contentType = contentType
        self.availableAt = availableAt
    }
}

/// One playback of a fetched audio URL, with the version actually played.
public struct PlayedAudio: Sendable, Hashable {
    public let callSid: String
    public let url: String
    /// Lowercase hex SHA-256 of the bytes played.
    public let sha256: String
    /// True when the bytes came from the simulator's URL cache rather than a fresh fetch.
    public let fromCache: Bool
    /// Who heard it: "caller" (WaitUrl, while leg 2 rings), "callee" or "both" (StartPlaybackValueNew).
    public let playedTo: String

    public init(callSid: String, url: String, sha256: String, fromCache: Bool, playedTo: String = "caller") {
        self.callSid = callSid
        self.url = url
        self.sha256 = sha256
        self.fromCache = fromCache
        self.playedTo = playedTo
    }
}

/// Prompt audio the simulator fetched (or tried to) but did not play, as the platform would not.
public struct RejectedAudio: Sendable, Hashable {
    public let callSid: String
    /// `WaitUrl` or `StartPlaybackValueNew`.
    public let parameter: String
    public let url: String
    /// Why: "fetch failed: …", "not a WAV file …", "a WAV file libsndfile cannot read: …".
    public let reason: String

    public init(callSid: String, parameter: String, url: String, reason: String) {
        self.callSid = callSid
        self.parameter = parameter
        self.url = url
        self.reason = reason
    }
}
