import ExotelKit
import Logging
import MediaStore
import Synchronization

/// `POST /v1/callbacks/status`: the platform's StatusCallback webhook.
///
/// The request's head is checked on the service thread (path, source, token, method, type, size),
/// which answers refusals at once. An accepted body is parsed and handed to the
/// ``StatusCallbackSink`` in a task, off the service thread; the answer waits for the sink (the
/// callback is durably stored before the platform hears 200), and the service thread goes on
/// with streams meanwhile. `docs/INGEST.md` ("Status callbacks") has every outcome.
final class StatusCallbackEndpoint {
    static let path = "/v1/callbacks/status"
    static let acceptedMediaTypes = ["application/json", "multipart/form-data", "application/x-www-form-urlencoded"]

    let counters: StatusCallbackCounters
    let inFlight: InFlightCounter
    /// Why the endpoint is off, or nil when it is on.
    let offReason: String?
    private let configuration: IngestConfiguration.StatusCallbacks
    private let token: [UInt8]
    private let allowlist: SourceAllowlist
    private let processor: StatusCallbackProcessor?
    private let logger: Logger
    private var rejectionLog = RateLimitedLog(intervalMs: 10_000)

    init(configuration: IngestConfiguration.StatusCallbacks, sink: (any StatusCallbackSink)?, logger: Logger) {
        let counters = StatusCallbackCounters()
        let inFlight = InFlightCounter()
        self.counters = counters
        self.inFlight = inFlight
        self.configuration = configuration
        self.logger = logger
        self.token = Array((configuration.token ?? "").utf8)
        let allowlist = try? SourceAllowlist(configuration.allowedSources)
        self.allowlist = allowlist ?? SourceAllowlist(blocks: [])
        if configuration.token == nil {
            self.offReason = "no callbacks.token is configured"
        } else if sink == nil {
            self.offReason = "callbacks.token is set, but this server has nowhere to store callbacks"
        } else if allowlist == nil {
            self.offReason = "callbacks.allowed_sources does not parse"
        } else {
            self.offReason = nil
        }
        self.processor = sink.map {
            StatusCallbackProcessor(
                sink: $0, counters: counters, inFlight: inFlight, logger: logger, storeTimeoutMs: configuration.storeTimeoutMs)
        }
    }

    var isEnabled: Bool { self.offReason == nil }

    /// The endpoint's path, with or without a trailing slash.
    static func handles(_ path: String) -> Bool {
        path == Self.path || path == Self.path + "/"
    }

    // MARK: - Service thread

    func route(_ request: HTTPRequest) -> HTTPRequestAction {
        self.counters.received()
        if let response = self.refusal(for: request) { return .respond(response) }
        return .readBody(limit: self.configuration.maxBodyBytes)
    }

    func received(_ request: HTTPRequest, body: [UInt8], responder: HTTPResponder) {
        guard let processor = self.processor else {
            responder.respond(.error(404, "status callbacks are not enabled on this server"))
            return
        }
        let receivedAt = Timestamp.now()
        let contentType = request.contentType ?? ""
        let remote = request.remoteAddress
        self.inFlight.begin()
        Task {
            await processor.process(body: body, contentType: contentType, remoteAddress: remote, receivedAt: receivedAt, responder: responder)
            processor.inFlight.end()
        }
    }

    /// The checks on the request's head, in order; nil when the body should be read.
    private func refusal(for request: HTTPRequest) -> HTTPResponse? {
        guard self.isEnabled else {
            return self.refuse(request, "disabled", .error(404, "status callbacks are not enabled on this server"))
        }
        guard self.allowlist.allows(request.remoteAddress) else {
            return self.refuse(request, "source", .error(403, "source address \(request.remoteAddress) is not allowed to post callbacks"))
        }
        guard let offered = request.queryValue("token"), !offered.isEmpty else {
            return self.refuse(request, "token-missing", .error(401, "missing token: the callback URL needs ?token=<callbacks.token>"))
        }
        guard BasicAuthenticator.constantTimeEquals(self.token, Array(offered.utf8)) else {
            return self.refuse(request, "token-wrong", .error(403, "wrong token"))
        }
        guard request.method == "POST" else {
            var response = HTTPResponse.error(405, "\(request.method) is not allowed on \(Self.path); use POST")
            response.headers["Allow"] = "POST"
            return self.refuse(request, "method", response)
        }
        let mediaType = Self.mediaType(request.contentType)
        guard Self.acceptedMediaTypes.contains(mediaType) else {
            let given = mediaType.isEmpty ? "no Content-Type" : "Content-Type '\(mediaType.prefix(64))'"
            return self.refuse(
                request, "media-type", .error(415, "\(given) is not accepted; send \(Self.acceptedMediaTypes.joined(separator: ", "))"))
        }
        guard let length = request.contentLength else {
            return self.refuse(request, "length-required", .error(411, "a Content-Length is required (chunked bodies are not accepted)"))
        }
        guard length <= self.configuration.maxBodyBytes else {
            return self.refuse(
                request, "too-large",
                .error(413, "the body of \(length) bytes is larger than the limit of \(self.configuration.maxBodyBytes) bytes"))
        }
        return nil
    }

    /// `Multipart/Form-Data; boundary=x` → `multipart/form-data`.
    static func mediaType(_ contentType: String?) -> String {
        guard let first = contentType?.split(separator: ";").first else { return "" }
        return String(first.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed()).lowercased()
    }

    /// Counts and logs a refusal (at most once per reason per 10 s, with the number held back).
    /// The query, which holds the token, is never logged.
    private func refuse(_ request: HTTPRequest, _ reason: String, _ response: HTTPResponse) -> HTTPResponse {
        self.counters.rejected(reason)
        if let suppressed = self.rejectionLog.shouldLog(reason, now: WebSocketServer.monotonicMs()) {
            self.logger.warning(
                "refused status callback",
                metadata: [
                    "reason": "\(reason)", "status": "\(response.status)", "remote": "\(request.remoteAddress)",
                    "method": "\(request.method)", "path": "\(request.path)", "suppressed_since_last": "\(suppressed)",
                ])
        }
        return response
    }
}

/// The part of the endpoint that runs off the service thread: parse, store or quarantine, answer.
struct StatusCallbackProcessor: Sendable {
    let sink: any StatusCallbackSink
    let counters: StatusCallbackCounters
    let inFlight: InFlightCounter
    let logger: Logger
    let storeTimeoutMs: Int64

    func process(body: [UInt8], contentType: String, remoteAddress: String, receivedAt: Timestamp, responder: HTTPResponder) async {
        // The platform waits 15 s; a sink that hangs must not hold the answer that long.
        let timeout = Task { [counters, logger, storeTimeoutMs] in
            guard (try? await Task.sleep(for: .milliseconds(storeTimeoutMs))) != nil else { return }
            if responder.respond(.error(503, "the callback could not be stored in time; retry later")) {
                counters.rejected("store-timeout")
                logger.error("status callback not stored in time", metadata: ["timeout_ms": "\(storeTimeoutMs)", "remote": "\(remoteAddress)"])
            }
        }
        defer { timeout.cancel() }

        let callback: StatusCallback
        do {
            callback = try StatusCallback.parse(body: body, contentType: contentType)
        } catch {
            await self.quarantine(body, contentType: contentType, remoteAddress: remoteAddress, receivedAt: receivedAt, kind: "malformed", reason: error.message, responder: responder)
            return
        }
        guard PathSafeIdentifier.isValid(callback.callSid) else {
            let reason = "CallSid '\(callback.callSid.prefix(64))' is not 1-128 characters from A-Z a-z 0-9 _ - (not starting with '-')"
            await self.quarantine(body, contentType: contentType, remoteAddress: remoteAddress, receivedAt: receivedAt, kind: "invalid-callsid", reason: reason, responder: responder)
            return
        }

        let received = ReceivedStatusCallback(callback: callback, body: body, contentType: contentType, remoteAddress: remoteAddress, receivedAt: receivedAt)
        let metadata: Logger.Metadata = [
            "call_sid": "\(callback.callSid)", "event_type": "\(callback.eventType ?? "-")", "status": "\(callback.status ?? "-")",
            "remote": "\(remoteAddress)",
        ]
        let result: StatusCallbackStoreResult
        do {
            result = try await self.sink.store(received)
        } catch {
            if responder.respond(.error(503, "the callback could not be stored; retry later")) {
                self.counters.rejected("store-failed")
            }
            self.logger.error("could not store status callback", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            return
        }
        self.counters.stored(result)
        var text = "{\"status\":\"\(result == .duplicate ? "duplicate" : "stored")\",\"call_sid\":\(JSONText.quoted(callback.callSid))"
        if result == .storedUnknownCall { text += ",\"flag\":\"unknown-call\"" }
        responder.respond(.json(200, text + "}\n"))
        switch result {
        case .storedUnknownCall: self.logger.info("stored status callback for an unknown CallSid (flagged)", metadata: metadata)
        case .stored, .duplicate: self.logger.debug("stored status callback", metadata: metadata.merging(["outcome": "\(result.rawValue)"]) { $1 })
        }
    }

    private func quarantine(
        _ body: [UInt8], contentType: String, remoteAddress: String, receivedAt: Timestamp, kind: String, reason: String, responder: HTTPResponder
    ) async {
        await self.sink.quarantine(
            QuarantinedStatusCallback(body: body, contentType: contentType, remoteAddress: remoteAddress, receivedAt: receivedAt, reason: reason))
        self.counters.quarantined()
        if responder.respond(.error(400, reason)) {
            self.counters.rejected(kind)
        }
        self.logger.warning(
            "refused status callback body (quarantined)",
            metadata: [
                "reason": "\(kind)", "detail": "\(reason)", "remote": "\(remoteAddress)", "content_type": "\(contentType.prefix(128))",
                "bytes": "\(body.count)",
            ])
    }
}

/// The endpoint's counters. Callbacks are rare and finish on other threads, so a lock is fine here;
/// `/metrics` copies them into ``IngestMetrics``.
final class StatusCallbackCounters: Sendable {
    struct Values: Sendable {
        var received = 0
        var stored: [String: Int] = [:]
        var rejected: [String: Int] = [:]
        var quarantined = 0
    }

    private let values = Mutex(Values())

    func received() { self.values.withLock { $0.received += 1 } }
    func stored(_ result: StatusCallbackStoreResult) { self.values.withLock { $0.stored[result.rawValue, default: 0] += 1 } }
    func rejected(_ reason: String) { self.values.withLock { $0.rejected[reason, default: 0] += 1 } }
    func quarantined() { self.values.withLock { $0.quarantined += 1 } }
    var snapshot: Values { self.values.withLock { $0 } }
}

/// Callbacks being stored right now, so shutdown can wait for them.
final class InFlightCounter: Sendable {
    private let count = Atomic<Int>(0)
    func begin() { self.count.add(1, ordering: .relaxed) }
    func end() { self.count.subtract(1, ordering: .releasing) }
    var value: Int { self.count.load(ordering: .acquiring) }

    /// Waits until nothing is in flight, or `timeout` passes; returns how many are still running.
    func drain(timeout: Duration) async -> Int {
        let deadline = ContinuousClock.now + timeout
        while self.value > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return self.value
    }
}
