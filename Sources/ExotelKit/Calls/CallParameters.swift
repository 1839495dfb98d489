/// `RecordingChannels`: `single` mixes both legs into one channel, `dual` keeps each leg on its own channel.
public enum RecordingChannels: String, Sendable, Hashable, CaseIterable {
    case single, dual
}

/// `RecordingFormat`: `mp3` (the default) or `mp3-hq`.
public enum RecordingFormat: String, Sendable, Hashable, CaseIterable {
    case mp3
    case mp3HQ = "mp3-hq"
}

/// `StreamBegin`: which leg's connection starts a two-number call's stream.
public enum StreamBegin: String, Sendable, Hashable, CaseIterable {
    case leg1Connect = "Leg1Connect"
    case leg2Connect = "Leg2Connect"

    /// The spelling the platform's Calls/connect page documents (`at Leg1Connect`). One third-party client
    /// claims only `atLeg1connect` is accepted, another that spaces are optional; neither is verified, so the
    /// documented spelling is what exorec sends.
    public var wireValue: String { "at " + rawValue }

    /// Accepts every spelling seen in the wild (`at Leg1Connect`, `atLeg1connect`, `Leg1Connect`, …): spaces
    /// removed, lower-cased, a leading `at` dropped, then compared.
    public init?(lenient text: String) {
        var normalised = String(text.filter { !$0.isWhitespace }).lowercased()
        if normalised.hasPrefix("at") { normalised.removeFirst(2) }
        switch normalised {
        case "leg1connect": self = .leg1Connect
        case "leg2connect": self = .leg2Connect
        default: return nil
        }
    }
}

/// `StartPlaybackToNew`: who hears `StartPlaybackValueNew` before the legs are connected.
public enum PlaybackAudience: String, Sendable, Hashable, CaseIterable {
    case callee = "Callee"
    case both = "Both"
}

/// A `StatusCallbackEvents` value. `ringing` exists only for Connect Voice AI (a `StreamUrl` + `StreamType` call).
public enum StatusCallbackEvent: String, Sendable, Hashable, CaseIterable {
    case terminal, answered, ringing
}

/// `StatusCallbackContentType`: how the platform encodes the status callback body.
public enum CallbackContentType: String, Sendable, Hashable, CaseIterable {
    case multipart = "multipart/form-data"
    case json = "application/json"
}

/// A `Calls/connect` request the platform would refuse, with the platform's verdict.
public struct ConnectRequestError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The offending parameter in the platform's spelling (`From`, `StatusCallbackEvents`), when there is one.
    public let parameter: String?
    /// The platform's text, e.g. "The 'From' parameter is required."
    public let message: String
    /// The HTTP status the platform answers with.
    public let httpStatus: Int

    public init(parameter: String?, message: String, httpStatus: Int = 400) {
        self.parameter = parameter
        self.message = message
        self.httpStatus = httpStatus
    }

    public var description: String { message }

    static func required(_ parameter: String) -> ConnectRequestError {
        ConnectRequestError(parameter: parameter, message: "The '\(parameter)' parameter is required.")
    }

    static func invalid(_ parameter: String, _ requirement: String) -> ConnectRequestError {
        ConnectRequestError(parameter: parameter, message: "The '\(parameter)' parameter \(requirement).")
    }
}
