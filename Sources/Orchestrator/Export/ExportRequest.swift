import Catalog
import ExotelKit
import MediaStore

/// What the exported audio files are.
public enum ExportFormat: String, Sendable, Hashable, Codable, CaseIterable {
    /// The archived bytes, copied as they are (`stream-*.wav`, `recording.mp3`).
    case original
    /// 16-bit PCM WAV.
    case wav
    /// FLAC, 16-bit.
    case flac
    /// MPEG Layer III, constant bit rate.
    case mp3
    /// Ogg Vorbis.
    case ogg

    /// The encoder, or nil for a byte copy.
    public var soundFileFormat: SoundFile.Format? {
        switch self {
        case .original: nil
        case .wav: .wav16
        case .flac: .flac16
        case .mp3: .mp3
        case .ogg: .oggVorbis
        }
    }
}

/// One `exorec export`: which calls, which of their files, in what form, to where.
public struct ExportRequest: Sendable, Hashable {
    /// The folder the export creates (or an empty one, or an unfinished export of the same request).
    public var destination: String
    /// The calls, as `exorec catalog ls/search` select them (newest first, at most `search.limit`).
    public var search: CallSearch
    /// Only files of this kind (nil: every kind). `search.mediaKind` narrows the calls; this the files.
    public var kind: MediaKind?
    public var format: ExportFormat
    /// One mono file per channel (`-leg1`, `-leg2`) for files with more than one channel; needs an encoding format.
    public var splitLegs: Bool
    /// A BagIt bag (RFC 8493) instead of a plain folder.
    public var bag: Bool
    /// `Source-Organization` in `bag-info.txt`.
    public var sourceOrganization: String?
    /// `External-Description` in `bag-info.txt` (a default describing the export otherwise).
    public var externalDescription: String?

    public init(
        destination: String,
        search: CallSearch,
        kind: MediaKind? = nil,
        format: ExportFormat = .original,
        splitLegs: Bool = false,
        bag: Bool = false,
        sourceOrganization: String? = nil,
        externalDescription: String? = nil
    ) {
        self.destination = destination
        self.search = search
        self.kind = kind
        self.format = format
        self.splitLegs = splitLegs
        self.bag = bag
        self.sourceOrganization = sourceOrganization
        self.externalDescription = externalDescription
    }

    /// Why this request cannot run, or nil.
    public var invalidReason: String? {
        if self.splitLegs && self.format == .original {
            return "splitting legs re-encodes the audio: choose --format wav, flac, mp3 or ogg"
        }
        if self.destination.isEmpty { return "the destination is empty" }
        for (name, value) in [
            ("Source-Organization", self.sourceOrganization), ("External-Description", self.externalDescription),
        ] {
            if let value, value.contains(where: { $0 == "\n" || $0 == "\r" }) { return "\(name) must be one line" }
        }
        return nil
    }

    /// The request as one stable line, kept in the journal: a rerun resumes only the same request.
    public var fingerprint: String {
        func field(_ name: String, _ value: String?) -> String { "\(name)=\(value.map(JSONText.quoted) ?? "-")" }
        let search = self.search
        // A field added later is written only when set, so that an older journal's request still matches.
        return
            ([
                "v1", field("format", self.format.rawValue), field("split_legs", "\(self.splitLegs)"),
                field("bag", "\(self.bag)"),
                field("kind", self.kind?.rawValue),
                field("from", search.placedFrom.map { "\($0.millisecondsSinceEpoch)" }),
                field("before", search.placedBefore.map { "\($0.millisecondsSinceEpoch)" }),
                field("number", search.number),
                field("country_code", search.normaliser.countryCode), field("call_sid", search.callSid),
                field("status", search.status),
                field("custom_field", search.customField), field("media_kind", search.mediaKind?.rawValue),
                field("has_recording", "\(search.hasRecording)"), field("interrupted", "\(search.interrupted)"),
                field("limit", "\(search.limit)"), field("source_organization", self.sourceOrganization),
                field("external_description", self.externalDescription),
            ] + (search.origin.map { [field("origin", $0.rawValue)] } ?? [])).joined(separator: " ")
            + (search.unattached ? " unattached=true" : "")
    }
}
