import Doors
import Foundation
import Ingest
import MediaStore
import Yams

/// Reads `exorec.yaml` (see `config/exorec.example.yaml`) into an `IngestConfiguration`.
///
/// Every key is checked: an unknown key, a value of the wrong type or out of range is an error that
/// names the key, so a typo never silently falls back to a default.
///
/// | key | type | default |
/// |---|---|---|
/// | `storage` | path, or `{root: path, group: NAME}` | `storage` |
/// | `storage.group` | a group name or id the process' user belongs to: files and folders get it (readers) | none |
/// | `ingest.host` | IP literal | `127.0.0.1` |
/// | `ingest.port` | 0-65535 | `8080` |
/// | `ingest.stream_path` | path | `/v1/streams` |
/// | `ingest.max_streams` | integer ≥ 1 | `4096` |
/// | `ingest.max_message_bytes` | integer | `1048576` |
/// | `ingest.idle_timeout` | duration | `30s` |
/// | `ingest.handshake_timeout` | duration | `10s` |
/// | `ingest.shutdown_grace` | duration | `2s` |
/// | `ingest.max_pending_connections` | integer ≥ 1 | `1024` |
/// | `ingest.max_pending_per_source` | integer ≥ 1 | `64` |
/// | `ingest.descriptor_reserve` | integer ≥ 16 | `128` |
/// | `ingest.tls.certificate` | path of a PEM certificate (chain) | none (plain `ws://`) |
/// | `ingest.tls.key` | path of its PEM private key | none |
/// | `ingest.auth.disabled` | bool | `false` |
/// | `ingest.auth.credentials` | list of `{username, password}` | none |
/// | `recording.reorder_window` | duration | `100ms` |
/// | `recording.max_gap` | duration | `10m` |
/// | `recording.max_duration` | duration, 1m to 48h | `250m` |
/// | `recording.write_buffer_samples` | integer | `32768` |
/// | `recording.header_update_interval` | duration | `1s` |
/// | `recording.flush_after` | duration, 0-175ms | `150ms` |
/// | `callbacks.host` | IP literal: the platform door's address | `127.0.0.1` |
/// | `callbacks.port` | 0-65535 | `8081` |
/// | `callbacks.tls.certificate`, `callbacks.tls.key` | PEM files: the platform door speaks https | none (plain http) |
/// | `callbacks.max_connections`, `api.max_connections` | integer, 1-100000 | `256` |
/// | `callbacks.idle_timeout`, `api.idle_timeout` | duration, 500ms-10m: idle or slow-head connections are closed | `10s` |
/// | `callbacks.max_connections_per_source` | integer, 1-100000: one source beyond it is closed at once | `64` |
/// | `callbacks.body_timeout` | duration, 500ms-10m: a body must arrive within this | `10s` |
/// | `callbacks.token` | 16-256 chars of `A-Z a-z 0-9 - . _ ~` | none (endpoint off) |
/// | `callbacks.allowed_sources` | list of IPv4/IPv6 CIDR blocks or addresses | empty (any source) |
/// | `callbacks.max_body_bytes` | integer, 1024-1048576 | `65536` |
/// | `callbacks.store_timeout` | duration, 100ms-14s | `10s` |
/// | `api.host` | IP literal: the internal door's address | `127.0.0.1` |
/// | `api.port` | 0-65535 | `8082` |
/// | `api.token` | 16-256 chars of `A-Z a-z 0-9 - . _ ~` | none (`/v1/events`, `/v1/media` off) |
/// | `api.max_wait` | duration, 1s-300s: the longest long poll | `60s` |
/// | `api.heartbeat` | duration, 1s-300s: keep-alive comment on an idle event stream | `15s` |
/// | `archive.*` | the object archive (`ArchiveConfigFile`) | off |
/// | `logging.level` | trace/debug/info/notice/warning/error/critical | `info` |
///
/// Durations are `250ms`, `30s`, `10m`, `1h`, or a plain number of seconds.
/// `EXOREC_INGEST_USERNAME` and `EXOREC_INGEST_PASSWORD`, when both are set, add one credential, so
/// a secret need not be written into the file; `EXOREC_CALLBACK_TOKEN`, when set, replaces
/// `callbacks.token`, and `EXOREC_API_TOKEN` replaces `api.token`.
struct ConfigFile {
    var ingest = IngestConfiguration()
    /// The platform door (`callbacks.*`).
    var callbacks = PlatformDoorConfiguration()
    /// The internal door (`api.*`).
    var api = InternalDoorConfiguration()
    /// Placing calls, fetching recordings, the catalog (`PipelineConfigFile`).
    var pipeline = PipelineConfigFile()
    var node = NodeConfigFile()
    /// The web console (`console.*`, `ConsoleConfigFile`).
    var console = ConsoleConfigFile()
    /// The WORM archive on object storage (`archive.*`, `ArchiveConfigFile`).
    var archive = ArchiveConfigFile()
    var logLevel: String?
    /// `storage.group`: the group every created file and folder is given (`FilePermissions`).
    var storageGroup: String?

    static func load(
        path: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> ConfigFile {
        var config = ConfigFile()
        if let path {
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw IngestError.configuration(
                    key: path,
                    reason: "cannot read the file: \(error.localizedDescription)"
                )
            }
            try config.apply(yaml: text, source: path)
        }
        if let user = environment["EXOREC_INGEST_USERNAME"], let password = environment["EXOREC_INGEST_PASSWORD"] {
            config.ingest.credentials.append(.init(username: user, password: password))
        }
        if let token = environment["EXOREC_CALLBACK_TOKEN"] { config.callbacks.token = token }
        if let token = environment["EXOREC_API_TOKEN"] { config.api.token = token }
        config.pipeline.applyEnvironment(environment)
        try config.node.applyEnvironment(environment)
        config.archive.applyEnvironment(environment)
        return config
    }

    mutating func apply(yaml text: String, source: String) throws {
        guard !YAMLNesting.exceedsLimit(text) else {
            throw IngestError.configuration(key: source, reason: "nested more than \(YAMLNesting.limit) levels deep")
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw IngestError.configuration(key: source, reason: "not valid YAML: \(error)")
        }
        guard let node else { return }
        let root = try Section(node, path: "")
        try root.only(
            Set(["storage", "ingest", "recording", "callbacks", "api", "logging", "node", "console", "archive"]).union(
                PipelineConfigFile.sections
            )
        )
        try self.pipeline.apply(root)
        try self.node.apply(root)
        try self.console.apply(root)
        try self.archive.apply(root)
        if let node = root.value("storage"), node.mapping != nil {
            let storage = try Section(node, path: "storage")
            try storage.only(["root", "group"])
            if let path = try storage.string("root") { self.ingest.storageRoot = path }
            if let group = try storage.string("group") {
                guard FilePermissions.groupID(named: group) != nil else {
                    throw IngestError.configuration(key: "storage.group", reason: "no group '\(group)' on this system")
                }
                self.storageGroup = group
            }
        } else if let storage = try root.string("storage") {
            self.ingest.storageRoot = storage
        }
        if let ingest = try root.section("ingest") {
            try ingest.only([
                "host", "port", "stream_path", "max_streams", "max_message_bytes", "idle_timeout", "handshake_timeout",
                "shutdown_grace", "auth", "max_pending_connections", "max_pending_per_source", "descriptor_reserve",
                "tls",
            ])
            if let host = try ingest.string("host") { self.ingest.server.host = host }
            if let port = try ingest.integer("port", in: 0...65535) { self.ingest.server.port = port }
            if let path = try ingest.string("stream_path") { self.ingest.streamPath = path }
            if let max = try ingest.integer("max_streams", in: 1...1_000_000) { self.ingest.maxStreams = max }
            if let bytes = try ingest.integer("max_message_bytes", in: 1024...(64 << 20)) {
                self.ingest.server.maxMessageBytes = bytes
            }
            if let ms = try ingest.duration("idle_timeout") { self.ingest.idleTimeoutMs = ms }
            if let ms = try ingest.duration("handshake_timeout") {
                self.ingest.server.handshakeTimeoutSeconds = Int(max(1, ms / 1000))
            }
            if let ms = try ingest.duration("shutdown_grace") { self.ingest.server.shutdownGraceMilliseconds = ms }
            if let n = try ingest.integer("max_pending_connections", in: 1...1_000_000) {
                self.ingest.server.maxPendingConnections = n
            }
            if let n = try ingest.integer("max_pending_per_source", in: 1...1_000_000) {
                self.ingest.server.maxPendingPerSource = n
            }
            if let n = try ingest.integer("descriptor_reserve", in: 16...1_000_000) {
                self.ingest.server.descriptorReserve = n
            }
            if let tls = try ingest.section("tls") {
                try tls.only(["certificate", "key"])
                let certificate = try tls.string("certificate")
                let key = try tls.string("key")
                switch (certificate, key) {
                case (let certificate?, let key?):
                    self.ingest.server.tls = .init(certificatePath: certificate, privateKeyPath: key)
                case (nil, nil):
                    break
                default:
                    throw IngestError.configuration(
                        key: "ingest.tls",
                        reason: "needs both certificate and key (PEM files), or neither"
                    )
                }
            }
            if let auth = try ingest.section("auth") {
                try auth.only(["disabled", "credentials"])
                if let disabled = try auth.bool("disabled") { self.ingest.authDisabled = disabled }
                for (index, entry) in try auth.list("credentials").enumerated() {
                    let credential = try Section(entry, path: "ingest.auth.credentials[\(index)]")
                    try credential.only(["username", "password"])
                    guard let user = try credential.string("username"), let password = try credential.string("password")
                    else {
                        throw IngestError.configuration(
                            key: credential.path,
                            reason: "needs both username and password"
                        )
                    }
                    self.ingest.credentials.append(.init(username: user, password: password))
                }
            }
        }
        if let recording = try root.section("recording") {
            try recording.only([
                "reorder_window", "max_gap", "max_duration", "write_buffer_samples", "header_update_interval",
                "flush_after",
            ])
            if let ms = try recording.duration("flush_after") { self.ingest.flushAfterMs = ms }
            if let ms = try recording.duration("reorder_window") { self.ingest.recorder.reorderWindowMs = Int(ms) }
            if let ms = try recording.duration("max_gap") { self.ingest.recorder.maxGapMs = Int(ms) }
            if let ms = try recording.duration("max_duration") {
                self.ingest.recorder.maxDurationMs = Int(clamping: ms)
            }
            if let n = try recording.integer("write_buffer_samples", in: 512...(1 << 20)) {
                self.ingest.recorder.writeBufferSamples = n
            }
            if let ms = try recording.duration("header_update_interval") {
                guard (50...1000).contains(ms) else {
                    throw IngestError.configuration(
                        key: "recording.header_update_interval",
                        reason: "must be between 50ms and 1s (readers rely on a recent header)"
                    )
                }
                self.ingest.recorder.headerUpdateIntervalMs = ms
            }
        }
        if let callbacks = try root.section("callbacks") {
            try callbacks.only([
                "host", "port", "tls", "token", "allowed_sources", "max_body_bytes", "store_timeout", "max_connections",
                "max_connections_per_source", "idle_timeout", "body_timeout",
            ])
            if let host = try callbacks.string("host") { self.callbacks.host = host }
            if let port = try callbacks.integer("port", in: 0...65535) { self.callbacks.port = port }
            if let tls = try callbacks.section("tls") {
                try tls.only(["certificate", "key"])
                guard let certificate = try tls.string("certificate"), let key = try tls.string("key") else {
                    throw IngestError.configuration(
                        key: "callbacks.tls",
                        reason: "needs both certificate and key (PEM files)"
                    )
                }
                self.callbacks.tls = DoorTLS(certificatePath: certificate, keyPath: key)
            }
            if let token = try callbacks.string("token") { self.callbacks.token = token }
            for (index, entry) in try callbacks.list("allowed_sources").enumerated() {
                guard let source = entry.scalar?.string else {
                    throw IngestError.configuration(
                        key: "callbacks.allowed_sources[\(index)]",
                        reason: "expected an address or CIDR block"
                    )
                }
                self.callbacks.allowedSources.append(source)
            }
            if let bytes = try callbacks.integer("max_body_bytes", in: 1024...(1 << 20)) {
                self.callbacks.maxBodyBytes = bytes
            }
            if let ms = try callbacks.duration("store_timeout") { self.callbacks.storeTimeoutMs = ms }
            try Self.applyLimits(callbacks, to: &self.callbacks.limits)
        }
        if let api = try root.section("api") {
            try api.only(["host", "port", "token", "max_wait", "heartbeat", "max_connections", "idle_timeout"])
            if let host = try api.string("host") { self.api.host = host }
            if let port = try api.integer("port", in: 0...65535) { self.api.port = port }
            if let token = try api.string("token") { self.api.token = token }
            if let ms = try api.duration("max_wait") {
                guard ms % 1000 == 0, (1...300).contains(ms / 1000) else {
                    throw IngestError.configuration(
                        key: "api.max_wait",
                        reason: "must be whole seconds between 1s and 300s"
                    )
                }
                self.api.maxWaitSeconds = Int(ms / 1000)
            }
            if let ms = try api.duration("heartbeat") {
                guard ms % 1000 == 0, (1...300).contains(ms / 1000) else {
                    throw IngestError.configuration(
                        key: "api.heartbeat",
                        reason: "must be whole seconds between 1s and 300s"
                    )
                }
                self.api.heartbeatSeconds = Int(ms / 1000)
            }
            try Self.applyLimits(api, to: &self.api.limits)
        }
        if let logging = try root.section("logging") {
            try logging.only(["level"])
            if let level = try logging.string("level") {
                guard LogSetup.levels[level] != nil else {
                    throw IngestError.configuration(
                        key: "logging.level",
                        reason: "'\(level)' is not one of \(LogSetup.levelNames)"
                    )
                }
                self.logLevel = level
            }
        }
    }

    /// `max_connections`, `idle_timeout` and (when the section has it) `body_timeout` of a door.
    private static func applyLimits(_ section: Section, to limits: inout DoorLimits) throws {
        if let count = try section.integer("max_connections", in: 1...100_000) { limits.maxConnections = count }
        if section.mapping[Node("max_connections_per_source")] != nil,
            let count = try section.integer("max_connections_per_source", in: 1...100_000)
        {
            limits.maxConnectionsPerSource = count
        }
        if let ms = try section.duration("idle_timeout") { limits.idleTimeoutMs = ms }
        if section.mapping[Node("body_timeout")] != nil, let ms = try section.duration("body_timeout") {
            limits.bodyTimeoutMs = ms
        }
    }

    /// Checks the ingest and both doors; each problem names its key.
    func validate() throws(IngestError) {
        try self.ingest.validate()
        try self.callbacks.validate()
        try self.api.validate()
        // Two doors on one port: the second could not listen. Port 0 picks a free one each.
        let doors = [
            ("ingest.port", self.ingest.server.port), ("callbacks.port", self.callbacks.port),
            ("api.port", self.api.port),
        ]
        for (index, (key, port)) in doors.enumerated() where port != 0 {
            if let (other, _) = doors[..<index].first(where: { $0.1 == port }) {
                throw .configuration(key: key, reason: "\(port) is also \(other): each door needs a port of its own")
            }
        }
    }

    /// One YAML mapping, with typed accessors whose errors carry the dotted key.
    struct Section {
        let path: String
        let mapping: Node.Mapping

        init(_ node: Node, path: String) throws {
            guard let mapping = node.mapping else {
                throw IngestError.configuration(
                    key: path.isEmpty ? "(top level)" : path,
                    reason: "expected a mapping of keys to values"
                )
            }
            self.path = path
            self.mapping = mapping
        }

        func key(_ name: String) -> String { self.path.isEmpty ? name : "\(self.path).\(name)" }

        func only(_ allowed: Set<String>) throws {
            for (key, _) in self.mapping {
                guard let name = key.string, allowed.contains(name) else {
                    throw IngestError.configuration(
                        key: self.key(key.string ?? "?"),
                        reason: "unknown key; expected one of \(allowed.sorted().joined(separator: ", "))"
                    )
                }
            }
        }

        func value(_ name: String) -> Node? {
            guard let node = self.mapping[Node(name)] else { return nil }
            if case .scalar(let scalar) = node, scalar.tag == .implicit,
                scalar.string == "~" || scalar.string == "null" || scalar.string.isEmpty
            {
                return nil
            }
            return node
        }

        func section(_ name: String) throws -> Section? {
            guard let node = self.value(name) else { return nil }
            return try Section(node, path: self.key(name))
        }

        func list(_ name: String) throws -> [Node] {
            guard let node = self.value(name) else { return [] }
            guard let sequence = node.sequence else {
                throw IngestError.configuration(key: self.key(name), reason: "expected a list")
            }
            return Array(sequence)
        }

        func string(_ name: String) throws -> String? {
            guard let node = self.value(name) else { return nil }
            guard let text = node.scalar?.string else {
                throw IngestError.configuration(key: self.key(name), reason: "expected a text value")
            }
            return text
        }

        func integer(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
            guard let text = try self.string(name) else { return nil }
            guard let value = Int(text), range.contains(value) else {
                throw IngestError.configuration(
                    key: self.key(name),
                    reason: "'\(text)' is not a whole number from \(range.lowerBound) to \(range.upperBound)"
                )
            }
            return value
        }

        func bool(_ name: String) throws -> Bool? {
            guard let text = try self.string(name) else { return nil }
            switch text.lowercased() {
            case "true", "yes", "on": return true
            case "false", "no", "off": return false
            default: throw IngestError.configuration(key: self.key(name), reason: "'\(text)' is not true or false")
            }
        }

        func duration(_ name: String) throws -> Int64? {
            guard let text = try self.string(name) else { return nil }
            guard let ms = Duration.milliseconds(parsing: text), ms >= 0 else {
                throw IngestError.configuration(
                    key: self.key(name),
                    reason: "'\(text)' is not a duration like 250ms, 30s, 10m or 1h"
                )
            }
            return ms
        }
    }
}

extension Duration {
    /// Parses `250ms`, `30s`, `10m`, `1h` or a plain number of seconds (at most a year) into milliseconds.
    static func milliseconds(parsing text: String) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        // Past a year a duration is a typo, and past Int64 its conversion would trap: both are refused.
        let longest = 366.0 * 86_400_000
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            guard let number = Double(trimmed.dropLast(suffix.count)), number.isFinite, number >= 0,
                number * factor <= longest
            else { return nil }
            return Int64(number * factor)
        }
        guard let seconds = Double(trimmed), seconds.isFinite, seconds >= 0, seconds * 1000 <= longest else {
            return nil
        }
        return Int64(seconds * 1000)
    }
}
