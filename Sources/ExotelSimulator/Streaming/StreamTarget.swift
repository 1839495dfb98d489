import ExotelKit
import Foundation

/// What the simulator makes of a `StreamUrl`: where to connect, with which credentials, at which
/// rate, which custom parameters to pass on, and whether to send one mixed track or both legs.
///
/// Track option (not part of the documented protocol, which is mono; one platform page describes a
/// `Track` option `inbound`/`outbound`/`both`): the query parameter `track=both` (also `tracks=both`)
/// makes the simulator send every 100 ms one `inbound` (leg 1) and one `outbound` (leg 2) media frame,
/// each tagged with `media.track`; `track=inbound` sends leg 1 alone and `track=outbound` leg 2 alone
/// (a mono stream, untagged); anything else, or none, the mixed mono stream. Like `sample-rate`, it is
/// consumed by the simulator and not passed on in `custom_parameters`.
public struct StreamTarget: Sendable, Hashable {
    /// The URL to connect to: user-info removed, query kept as given.
    public var url: String
    /// `Basic base64(user:password)` from the URL's user-info, if it had any.
    public var authorization: String?
    public var sampleRate: Int
    public var customParameters: [String: String]
    /// Which legs the stream carries (the `track` query parameter).
    public var tracks: Tracks

    /// The `track` option's values.
    public enum Tracks: String, Sendable, Hashable {
        /// Both legs mixed into one mono stream: the documented protocol, and the default.
        case mixed
        /// Leg 1 (the caller) alone.
        case inbound
        /// Leg 2 (the callee) alone.
        case outbound
        /// Both legs, as separately tagged frames.
        case both
    }

    /// Both legs, each in its own tagged frames.
    public var bothTracks: Bool { self.tracks == .both }

    public static let supportedSampleRates = [8000, 16000, 24000]
    static let reservedParameters: Set<String> = ["sample-rate", "sample_rate", "track", "tracks"]

    public init?(streamURL: String) {
        guard var components = URLComponents(string: streamURL),
            let scheme = components.scheme?.lowercased(), scheme == "ws" || scheme == "wss"
        else { return nil }
        if let user = components.user {
            let credentials = "\(user):\(components.password ?? "")"
            self.authorization = "Basic " + Data(credentials.utf8).base64EncodedString()
        } else {
            self.authorization = nil
        }
        components.user = nil
        components.password = nil
        guard let url = components.string else { return nil }
        self.url = url
        var sampleRate = 8000
        var custom: [String: String] = [:]
        var tracks = Tracks.mixed
        for item in components.queryItems ?? [] {
            switch item.name.lowercased() {
            case "sample-rate", "sample_rate":
                // Unknown values fall back to the default rather than failing the call (§1.2).
                if let rate = item.value.flatMap(Int.init), Self.supportedSampleRates.contains(rate) {
                    sampleRate = rate
                }
            case "track", "tracks":
                tracks = item.value.flatMap { Tracks(rawValue: $0.lowercased()) } ?? .mixed
            default:
                custom[item.name] = item.value ?? ""
            }
        }
        self.sampleRate = sampleRate
        self.customParameters = custom
        self.tracks = tracks
    }
}
