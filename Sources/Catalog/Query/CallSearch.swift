import MediaStore

/// A search over the catalog's calls, newest first, with the filters `exorec catalog ls` and `search` offer.
///
/// Time, CallSid, status, CustomField, metadata and media kind are SQL conditions (``CallQuery``, indexed columns).
/// The number, `hasRecording` and `interrupted` are checked in Swift on the rows SQL returns: numbers are
/// stored as the platform got them (`09876543210`, `+91…`), so both sides are normalised
/// (``PhoneNumberNormaliser``) before comparing, and the media conditions look at each call's files. The
/// search reads every SQL candidate (a page at a time), then walks them newest first and reads media only
/// until it holds `limit` matches: a time range keeps it cheap; a search over the whole catalog reads
/// every call row (fine for the catalog's size today; normalised number columns would be a migration).
public struct CallSearch: Sendable, Hashable {
    /// Placed at or after this time.
    public var placedFrom: Timestamp?
    /// Placed before this time.
    public var placedBefore: Timestamp?
    /// Matches `From`, `To` or `CallerId` after normalising.
    public var number: String?
    public var callSid: String?
    public var status: String?
    public var customField: String?
    /// Metadata pairs the call must all have, exactly (``CallMetadata``; keys lowercased).
    public var metadata: [String: String] = [:]
    /// Only calls with at least one media file of this kind.
    public var mediaKind: MediaKind?
    /// Only calls placed by exorec, or only calls placed elsewhere.
    public var origin: CallOrigin?
    /// Only calls with a recording file that is not `missing`.
    public var hasRecording = false
    /// Only calls with a stream whose file is `interrupted` (its writer died).
    public var interrupted = false
    /// Streams whose start named no call instead of calls (`--unattached`): only the times (their start) and
    /// the limit apply. ``run(on:)`` ignores it; `catalog search` and `export` read
    /// ``Catalog/unattachedStreams(startedFrom:startedBefore:limit:)`` instead.
    public var unattached = false
    /// At most this many calls, the newest.
    public var limit = 50
    public var normaliser = PhoneNumberNormaliser()
    /// Calls read from SQL per round.
    public var pageSize = 500

    public init() {}

    /// Whether any filter is set (the limit and the country code are not filters).
    public var hasFilters: Bool {
        self.placedFrom != nil || self.placedBefore != nil || self.number != nil || self.callSid != nil
            || self.status != nil
            || self.customField != nil || !self.metadata.isEmpty || self.mediaKind != nil || self.hasRecording
            || self.interrupted || self.origin != nil
    }

    /// The matching calls with their media counts, newest first.
    public func run(on catalog: Catalog) async throws -> [CallSummary] {
        guard self.limit > 0 else { return [] }
        // CallQuery sorts oldest first: read all candidates, then walk them from the newest end.
        var candidates: [CallRecord] = []
        var offset = 0
        var base = CallQuery(
            placedFrom: self.placedFrom,
            placedBefore: self.placedBefore,
            callSid: self.callSid,
            status: self.status,
            customField: self.customField,
            mediaKind: self.mediaKind,
            origin: self.origin,
            limit: self.pageSize
        )
        base.metadata = self.metadata
        while true {
            var query = base
            query.offset = offset
            let page = try await catalog.calls(query)
            candidates.append(contentsOf: page)
            if page.count < self.pageSize { break }
            offset += page.count
        }
        var results: [CallSummary] = []
        for call in candidates.reversed() {
            if let number = self.number {
                let wanted = self.normaliser.normalise(number)
                let numbers = [call.from, call.to, call.callerId].compactMap { $0 }.map(self.normaliser.normalise)
                guard numbers.contains(wanted) else { continue }
            }
            let summary = CallSummary(call: call, media: try await catalog.mediaFiles(callSid: call.callSid))
            if self.hasRecording, summary.recordings == 0 { continue }
            if self.interrupted, !summary.interrupted { continue }
            results.append(summary)
            if results.count >= self.limit { break }
        }
        return results
    }
}

/// One call in a listing: the call and what it has on disk.
public struct CallSummary: Sendable, Hashable, Codable {
    public var call: CallRecord
    /// Stream files, any state.
    public var streams: Int
    /// Recording files that are not `missing`.
    public var recordings: Int
    /// A stream file is `interrupted`.
    public var interrupted: Bool
    /// No terminal status yet: the call's outcome is unknown (in progress, or its callbacks were lost).
    public var unknownOutcome: Bool

    enum CodingKeys: String, CodingKey {
        case call, streams, recordings, interrupted
        case unknownOutcome = "unknown_outcome"
    }

    public init(call: CallRecord, media: [MediaFile]) {
        self.call = call
        self.streams = media.filter { $0.kind == .stream }.count
        self.recordings = media.filter { $0.kind == .recording && $0.state != .missing }.count
        self.interrupted = media.contains { $0.kind == .stream && $0.state == .interrupted }
        self.unknownOutcome = !call.isTerminal
    }
}
