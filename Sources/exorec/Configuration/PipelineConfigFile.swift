import ExotelClient
import ExotelKit
import Foundation
import Ingest
import Yams

/// The `exotel`, `calls`, `downloads`, `reconciler` and `catalog` sections of `exorec.yaml`: what
/// placing calls, fetching recordings and cataloguing need (issue 4).
///
/// | key | type | default |
/// |---|---|---|
/// | `exotel.account_sid` | text | none (required to place calls) |
/// | `exotel.api_key`, `exotel.api_token` | text | none; `EXOREC_EXOTEL_API_KEY`, `EXOREC_EXOTEL_API_TOKEN` |
/// | `exotel.region` | `singapore` or `mumbai` | `singapore` |
/// | `exotel.base_url` | URL | the region's (set it for the simulator) |
/// | `exotel.caller_id` | ExoPhone | none (required to place calls) |
/// | `exotel.recording_hosts` | list of `[scheme://]host[:port]` (no port: the scheme's default, 443) | the platform's; the base URL's origin is always allowed |
/// | `calls.public_url` | `http(s)://host[:port]` the platform reaches the stream door at (StreamUrl, as ws/wss) | none (required to place calls) |
/// | `calls.callback_url` | `http(s)://host[:port]` the platform reaches the platform door at (StatusCallback) | `calls.public_url` (a proxy that routes `/v1/callbacks/` to the platform door) |
/// | `calls.recording_channels` | `single`/`dual` | `dual` |
/// | `calls.recording_format` | `mp3`/`mp3-hq` | `mp3` |
/// | `calls.stream_begin` | `leg1`/`leg2` | `leg1` |
/// | `calls.sample_rate` | 8000/16000/24000 | `8000` |
/// | `calls.stream_tracks` | `mixed`/`inbound`/`outbound`/`both` (`track` on the StreamUrl; `both`: a 2-channel stream WAV) | `mixed` |
/// | `calls.callback_format` | `multipart`/`json` | `multipart` |
/// | `calls.wait_url`, `calls.start_playback_url` | WAV URL | none |
/// | `calls.prompt_hosts` | list of `[scheme://]host[:port]` prompt audio and its redirects may come from | each prompt's own origin |
/// | `calls.start_playback_to` | `callee`/`both` | `callee` |
/// | `calls.time_limit`, `calls.time_out` | seconds | platform defaults |
/// | `calls.concurrency` | 1-200 | `10` |
/// | `downloads.workers` | 1-64 | `2` |
/// | `downloads.give_up_after` | duration | `30m` |
/// | `downloads.max_bytes` | integer | `536870912` |
/// | `reconciler.after` | duration | `10m` |
/// | `reconciler.interval` | duration | `1m` |
/// | `catalog.path` | path | `<storage>/catalog.sqlite` |
/// | `catalog.url` | `postgres://USER:PASSWORD@HOST:PORT/DB` (PostgreSQL instead of the file; `EXOREC_CATALOG_URL` wins) | none |
struct PipelineConfigFile: Sendable {
    var accountSid: String?
    var apiKey: String?
    var apiToken: String?
    var region = "singapore"
    var baseURL: String?
    var callerId: String?
    var recordingHosts: [String] = []
    /// `calls.prompt_hosts`; empty: each prompt URL's own origin only.
    var promptHosts: [String] = []
    var publicURL: String?
    /// Where the platform posts status callbacks (the platform door); nil: `publicURL`.
    var callbackURL: String?
    var recordingChannels: RecordingChannels = .dual
    var recordingFormat: ExotelKit.RecordingFormat = .mp3
    var streamBegin: StreamBegin = .leg1Connect
    var sampleRate = 8000
    /// `calls.stream_tracks`: which legs the stream carries; `mixed` asks for nothing (the documented mono stream).
    var streamTracks = "mixed"
    var callbackFormat: CallbackContentType = .multipart
    var waitURL: String?
    var startPlaybackURL: String?
    var startPlaybackTo: PlaybackAudience = .callee
    var timeLimit: Int?
    var timeOut: Int?
    var concurrency = 10
    var downloadWorkers = 2
    var giveUpAfterMs: Int64 = 30 * 60_000
    var maxRecordingBytes = 512 << 20
    var reconcileAfterMs: Int64 = 10 * 60_000
    var reconcileIntervalMs: Int64 = 60_000
    var catalogPath: String?
    /// `catalog.url` or `EXOREC_CATALOG_URL`: a PostgreSQL catalog instead of the SQLite file.
    var catalogURL: String?

    static let sections: Set<String> = ["exotel", "calls", "downloads", "reconciler", "catalog"]

    mutating func apply(_ root: ConfigFile.Section) throws {
        if let exotel = try root.section("exotel") {
            try exotel.only([
                "account_sid", "api_key", "api_token", "region", "base_url", "caller_id", "recording_hosts",
            ])
            self.accountSid = try exotel.string("account_sid") ?? self.accountSid
            self.apiKey = try exotel.string("api_key") ?? self.apiKey
            self.apiToken = try exotel.string("api_token") ?? self.apiToken
            if let region = try exotel.string("region") {
                guard ["singapore", "mumbai"].contains(region) else {
                    throw IngestError.configuration(
                        key: "exotel.region",
                        reason: "'\(region)' is not singapore or mumbai"
                    )
                }
                self.region = region
            }
            self.baseURL = try exotel.string("base_url") ?? self.baseURL
            self.callerId = try exotel.string("caller_id") ?? self.callerId
            self.recordingHosts = try exotel.list("recording_hosts").enumerated().map { index, node in
                guard let host = node.scalar?.string, !host.isEmpty else {
                    throw IngestError.configuration(
                        key: "exotel.recording_hosts[\(index)]",
                        reason: "expected a host name"
                    )
                }
                do {
                    _ = try OriginAllowlist.Entry(parsing: host)
                } catch {
                    throw IngestError.configuration(key: "exotel.recording_hosts[\(index)]", reason: "\(error)")
                }
                return host.lowercased()
            }
        }
        if let calls = try root.section("calls") {
            try calls.only([
                "public_url", "callback_url", "recording_channels", "recording_format", "stream_begin", "sample_rate",
                "stream_tracks", "callback_format", "wait_url",
                "start_playback_url", "start_playback_to", "time_limit", "time_out", "concurrency", "prompt_hosts",
            ])
            self.promptHosts = try calls.list("prompt_hosts").enumerated().map { index, node in
                guard let host = node.scalar?.string, !host.isEmpty else {
                    throw IngestError.configuration(key: "calls.prompt_hosts[\(index)]", reason: "expected a host name")
                }
                do {
                    _ = try OriginAllowlist.Entry(parsing: host)
                } catch {
                    throw IngestError.configuration(key: "calls.prompt_hosts[\(index)]", reason: "\(error)")
                }
                return host
            }
            self.publicURL = try calls.string("public_url") ?? self.publicURL
            self.callbackURL = try calls.string("callback_url") ?? self.callbackURL
            if let text = try calls.string("recording_channels") {
                self.recordingChannels = try Self.choice(
                    text,
                    key: "calls.recording_channels",
                    RecordingChannels(rawValue: text)
                )
            }
            if let text = try calls.string("recording_format") {
                self.recordingFormat = try Self.choice(
                    text,
                    key: "calls.recording_format",
                    ExotelKit.RecordingFormat(rawValue: text)
                )
            }
            if let text = try calls.string("stream_begin") {
                let begin: StreamBegin? = ["leg1": .leg1Connect, "leg2": .leg2Connect][text.lowercased()]
                self.streamBegin = try Self.choice(text, key: "calls.stream_begin", begin)
            }
            if let text = try calls.string("stream_tracks") {
                let tracks = ["mixed", "inbound", "outbound", "both"].first { $0 == text.lowercased() }
                self.streamTracks = try Self.choice(text, key: "calls.stream_tracks", tracks)
            }
            if let rate = try calls.integer("sample_rate", in: 8000...24000) {
                guard [8000, 16000, 24000].contains(rate) else {
                    throw IngestError.configuration(
                        key: "calls.sample_rate",
                        reason: "\(rate) is not 8000, 16000 or 24000"
                    )
                }
                self.sampleRate = rate
            }
            if let text = try calls.string("callback_format") {
                let format: CallbackContentType? = ["multipart": .multipart, "json": .json][text.lowercased()]
                self.callbackFormat = try Self.choice(text, key: "calls.callback_format", format)
            }
            self.waitURL = try calls.string("wait_url") ?? self.waitURL
            self.startPlaybackURL = try calls.string("start_playback_url") ?? self.startPlaybackURL
            if let text = try calls.string("start_playback_to") {
                let audience: PlaybackAudience? = ["callee": .callee, "both": .both][text.lowercased()]
                self.startPlaybackTo = try Self.choice(text, key: "calls.start_playback_to", audience)
            }
            self.timeLimit =
                try calls.integer("time_limit", in: 1...ConnectCallRequest.maximumTimeLimit) ?? self.timeLimit
            self.timeOut = try calls.integer("time_out", in: 1...3600) ?? self.timeOut
            self.concurrency = try calls.integer("concurrency", in: 1...200) ?? self.concurrency
        }
        if let downloads = try root.section("downloads") {
            try downloads.only(["workers", "give_up_after", "max_bytes"])
            self.downloadWorkers = try downloads.integer("workers", in: 1...64) ?? self.downloadWorkers
            self.giveUpAfterMs = try downloads.duration("give_up_after") ?? self.giveUpAfterMs
            self.maxRecordingBytes = try downloads.integer("max_bytes", in: 1024...(8 << 30)) ?? self.maxRecordingBytes
        }
        if let reconciler = try root.section("reconciler") {
            try reconciler.only(["after", "interval"])
            self.reconcileAfterMs = try reconciler.duration("after") ?? self.reconcileAfterMs
            if let interval = try reconciler.duration("interval") {
                guard interval >= 1000 else {
                    throw IngestError.configuration(key: "reconciler.interval", reason: "must be at least 1s")
                }
                self.reconcileIntervalMs = interval
            }
        }
        if let catalog = try root.section("catalog") {
            try catalog.only(["path", "url"])
            self.catalogPath = try catalog.string("path") ?? self.catalogPath
            if let url = try catalog.string("url") {
                guard Self.isPostgresURL(url) else {
                    throw IngestError.configuration(
                        key: "catalog.url",
                        reason: "must be a postgres://USER:PASSWORD@HOST:PORT/DATABASE URL"
                    )
                }
                self.catalogURL = url
            }
        }
    }

    /// Whether `text` is a PostgreSQL URL (the Catalog module's `CatalogLocation` parses it in full at open).
    static func isPostgresURL(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    mutating func applyEnvironment(_ environment: [String: String]) {
        if let url = environment["EXOREC_CATALOG_URL"], !url.isEmpty { self.catalogURL = url }
        if let key = environment["EXOREC_EXOTEL_API_KEY"] { self.apiKey = key }
        if let token = environment["EXOREC_EXOTEL_API_TOKEN"] { self.apiToken = token }
        if let sid = environment["EXOREC_EXOTEL_ACCOUNT_SID"] { self.accountSid = sid }
    }

    private static func choice<T>(_ text: String, key: String, _ value: T?) throws -> T {
        guard let value else {
            throw IngestError.configuration(key: key, reason: "'\(text)' is not one of the allowed values")
        }
        return value
    }

    /// The platform endpoint: the base URL when set (the simulator), else the region's.
    func endpoint() throws -> ExotelEndpoint {
        if let baseURL {
            do {
                return try ExotelEndpoint(baseURL: baseURL)
            } catch {
                throw IngestError.configuration(key: "exotel.base_url", reason: "\(error)")
            }
        }
        return self.region == "mumbai" ? .mumbai : .singapore
    }

    /// What is needed to talk to the platform, or an error naming the missing keys.
    func credentials() throws -> ExotelCredentials {
        var missing: [String] = []
        if self.accountSid == nil { missing.append("exotel.account_sid") }
        if self.apiKey == nil { missing.append("exotel.api_key (or EXOREC_EXOTEL_API_KEY)") }
        if self.apiToken == nil { missing.append("exotel.api_token (or EXOREC_EXOTEL_API_TOKEN)") }
        guard let accountSid, let apiKey, let apiToken, missing.isEmpty else {
            throw IngestError.configuration(key: "exotel", reason: "missing \(missing.joined(separator: ", "))")
        }
        return ExotelCredentials(accountSid: accountSid, apiKey: apiKey, apiToken: apiToken)
    }
}
