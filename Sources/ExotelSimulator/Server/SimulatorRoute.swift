/// One REST resource of the simulated platform, recognised from a request path.
///
/// The platform's docs disagree on casing (`/v1/Accounts/<sid>/Calls/connect` in most pages,
/// `/v1/accounts/<sid>/calls/connect` in one), so the fixed words match case-insensitively; account and
/// call sids are identifiers and compare exactly.
struct SimulatorRoute: Sendable, Hashable {
    enum Resource: Sendable, Hashable {
        /// `POST …/Calls/connect[.json]`
        case connect
        /// `GET …/Calls/<CallSid>[.json]` (also the legacy `…/Calls.json/<CallSid>` the `Uri` field shows)
        case call(sid: String)
        /// `GET …/Recordings/<CallSid>.mp3`
        case recording(callSid: String)
    }

    var accountSid: String
    var resource: Resource
    var format: ResponseFormat

    /// Parses the path part of a request target (no query). Nil when the path names no resource of ours.
    init?(path: String) {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard segments.count == 5, segments[0].lowercased() == "v1", segments[1].lowercased() == "accounts",
            !segments[2].isEmpty
        else {
            return nil
        }
        self.accountSid = segments[2]
        let collection = segments[3].lowercased()
        let (name, suffix) = Self.splitExtension(segments[4])
        switch collection {
        case "calls":
            guard suffix == nil || suffix == "json" else { return nil }
            self.format = suffix == "json" ? .json : .xml
            self.resource = name.lowercased() == "connect" ? .connect : .call(sid: name)
        case "calls.json":
            guard suffix == nil else { return nil }
            self.format = .json
            self.resource = .call(sid: name)
        case "recordings":
            guard suffix == nil || suffix == "mp3" else { return nil }
            self.format = .xml
            self.resource = .recording(callSid: name)
        default:
            return nil
        }
        if name.isEmpty { return nil }
    }

    /// `name.json` → (`name`, "json"); the extension is lowercased, the name kept as sent.
    private static func splitExtension(_ segment: String) -> (name: String, suffix: String?) {
        guard let dot = segment.lastIndex(of: ".") else { return (segment, nil) }
        return (String(segment[..<dot]), segment[segment.index(after: dot)...].lowercased())
    }
}

/// The body format of an answer: the platform answers XML unless the path ends in `.json`.
enum ResponseFormat: Sendable, Hashable {
    case json
    case xml

    /// The format of an error for a path that names no resource: JSON only when it asked for `.json`.
    init(unmatchedPath path: String) {
        self = path.lowercased().hasSuffix(".json") ? .json : .xml
    }

    var contentType: String {
        switch self {
        case .json: "application/json; charset=utf-8"
        case .xml: "application/xml; charset=utf-8"
        }
    }
}
