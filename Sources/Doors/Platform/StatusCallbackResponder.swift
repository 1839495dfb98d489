import ExotelKit
import HTTPTypes
import Hummingbird
import Ingest
import Logging
import MediaStore
import Synchronization

/// `POST /v1/callbacks/status` on the platform door: the platform's StatusCallback webhook.
///
/// The head is checked first (source, token, method, type, size) and refusals are answered at once,
/// without reading the body. An accepted body is read up to `callbacks.max_body_bytes` within the
/// door's body timeout, parsed and handed to the ``StatusCallbackSink`` in a task of its own: the
/// answer waits for the sink (the callback is durably stored before the platform hears 200) up to
/// `callbacks.store_timeout`, then says 503 while the store goes on. `docs/INGEST.md` ("Status
/// callbacks") has every outcome.
struct StatusCallbackResponder: Hummingbird.HTTPResponder {
    typealias Context = DoorContext

    static let path = "/v1/callbacks/status"
    static let acceptedMediaTypes = ["application/json", "multipart/form-data", "application/x-www-form-urlencoded"]
    /// JSON bodies nested deeper than this are refused before they reach a parser.
    static let maxNesting = 32

    let configuration: PlatformDoorConfiguration
    let counters: StatusCallbackCounters
    let inFlight: InFlightCounter
    /// Why the endpoint is off, or nil when it is on.
    let offReason: String?
    private let token: [UInt8]
    private let allowlist: SourceAllowlist
    private let processor: StatusCallbackProcessor?
    private let logger: Logger
    private let refusalLog = RefusalLog()

    init(
        configuration: PlatformDoorConfiguration,
        sink: (any StatusCallbackSink)?,
        counters: StatusCallbackCounters,
        inFlight: InFlightCounter,
        logger: Logger
    ) {
        self.configuration = configuration
        self.counters = counters
        self.inFlight = inFlight
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
            StatusCallbackProcessor(sink: $0, counters: counters, logger: logger)
        }
    }

    func respond(to request: Request, context: DoorContext) async throws -> Response {
        let path = request.uri.path
        guard path == Self.path || path == Self.path + "/" else {
            return self.otherPath(request, context: context)
        }
        self.counters.received()
        if let refusal = self.refusal(for: request, context: context) {
            // A body we will not read is drained by the server only when it is small and framed.
            return context.refusing(request, with: refusal)
        }
        guard let processor = self.processor else {
            return .error(404, "status callbacks are not enabled on this server")
        }
        let body: [UInt8]
        switch await self.readBody(request, context: context) {
        case .success(let bytes): body = bytes
        case .failure(let refusal): return refusal.response
        }
        let receivedAt = Timestamp.now()
        let contentType = request.headers[.contentType] ?? ""
        let remote = context.remoteAddress
        let answer = AnswerSlot()
        self.inFlight.begin()
        let inFlight = self.inFlight
        Task {
            await processor.process(
                body: body,
                contentType: contentType,
                remoteAddress: remote,
                receivedAt: receivedAt,
                answer: answer
            )
            inFlight.end()
        }
        // The platform waits 15 s; a sink that hangs must not hold the answer that long.
        let storeTimeoutMs = self.configuration.storeTimeoutMs
        let counters = self.counters
        let logger = self.logger
        let timeout = Task {
            guard (try? await Task.sleep(for: .milliseconds(storeTimeoutMs))) != nil else { return }
            if answer.offer(.error(503, "the callback could not be stored in time; retry later")) {
                counters.rejected("store-timeout")
                logger.error(
                    "status callback not stored in time",
                    metadata: ["timeout_ms": "\(storeTimeoutMs)", "remote": "\(remote)"]
                )
            }
        }
        let response = await answer.wait()
        timeout.cancel()
        return response
    }

    struct Refusal: Error {
        var response: Response
    }

    /// Reads the whole body, at most `callbacks.max_body_bytes`, within the door's body timeout.
    private func readBody(_ request: Request, context: DoorContext) async -> Result<[UInt8], Refusal> {
        let timedOut = Flag()
        let bodyTimeoutMs = self.configuration.limits.bodyTimeoutMs
        let timer = Task {
            guard (try? await Task.sleep(for: .milliseconds(bodyTimeoutMs))) != nil else { return }
            timedOut.set()
            context.stopReading()
        }
        defer { timer.cancel() }
        var buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: self.configuration.maxBodyBytes)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            context.stopReading()
            return .failure(
                self.refuse(
                    request,
                    context,
                    "too-large",
                    .error(
                        413,
                        "the body is larger than the limit of \(self.configuration.maxBodyBytes) bytes",
                        headers: [.connection: "close"]
                    )
                )
            )
        } catch {
            if timedOut.isSet { return .failure(self.timedOut(request, context)) }
            context.stopReading()
            return .failure(
                self.refuse(
                    request,
                    context,
                    "body-unreadable",
                    .error(400, "the body could not be read", headers: [.connection: "close"])
                )
            )
        }
        if timedOut.isSet { return .failure(self.timedOut(request, context)) }
        return .success(buffer.readBytes(length: buffer.readableBytes) ?? [])
    }

    private func timedOut(_ request: Request, _ context: DoorContext) -> Refusal {
        self.refuse(
            request,
            context,
            "body-timeout",
            .error(
                408,
                "the body did not arrive within \(self.configuration.limits.bodyTimeoutMs) ms",
                headers: [.connection: "close"]
            )
        )
    }

    /// The checks on the request's head, in order; nil when the body should be read.
    private func refusal(for request: Request, context: DoorContext) -> Response? {
        guard self.offReason == nil else {
            return self.refuse(
                request,
                context,
                "disabled",
                .error(404, "status callbacks are not enabled on this server")
            ).response
        }
        let remote = context.remoteAddress
        guard self.allowlist.allows(remote) else {
            return self.refuse(
                request,
                context,
                "source",
                .error(403, "source address \(remote) is not allowed to post callbacks")
            ).response
        }
        guard let offered = request.uri.queryParameters["token"], !offered.isEmpty else {
            return self.refuse(
                request,
                context,
                "token-missing",
                .error(401, "missing token: the callback URL needs ?token=<callbacks.token>")
            ).response
        }
        guard BasicAuthenticator.constantTimeEquals(self.token, Array(offered.utf8)) else {
            return self.refuse(request, context, "token-wrong", .error(403, "wrong token")).response
        }
        guard request.method == .post else {
            return self.refuse(
                request,
                context,
                "method",
                .error(405, "\(request.method) is not allowed on \(Self.path); use POST", headers: [.allow: "POST"])
            ).response
        }
        let mediaType = Self.mediaType(request.headers[.contentType])
        guard Self.acceptedMediaTypes.contains(mediaType) else {
            let given = mediaType.isEmpty ? "no Content-Type" : "Content-Type '\(mediaType.prefix(64))'"
            return self.refuse(
                request,
                context,
                "media-type",
                .error(415, "\(given) is not accepted; send \(Self.acceptedMediaTypes.joined(separator: ", "))")
            ).response
        }
        guard let lengthText = request.headers[.contentLength], let length = Int(lengthText), length >= 0 else {
            return self.refuse(
                request,
                context,
                "length-required",
                .error(411, "a Content-Length is required (chunked bodies are not accepted)")
            ).response
        }
        guard length <= self.configuration.maxBodyBytes else {
            return self.refuse(
                request,
                context,
                "too-large",
                .error(
                    413,
                    "the body of \(length) bytes is larger than the limit of \(self.configuration.maxBodyBytes) bytes"
                )
            ).response
        }
        return nil
    }

    /// Anything but the callback path: `/healthz` for a load balancer, 404 otherwise.
    private func otherPath(_ request: Request, context: DoorContext) -> Response {
        if request.uri.path == "/healthz" {
            guard request.method == .get || request.method == .head else {
                return context.refusing(
                    request,
                    with: .error(
                        405,
                        "\(request.method) is not allowed on /healthz; use GET",
                        headers: [.allow: "GET, HEAD"]
                    )
                )
            }
            return context.refusing(request, with: .json(200, "{\"status\":\"ok\"}\n"))
        }
        if let suppressed = self.refusalLog.shouldLog("path") {
            self.logger.warning(
                "refused a request on the platform door",
                metadata: [
                    "reason": "path", "status": "404", "remote": "\(context.remoteAddress)",
                    "method": "\(request.method)",
                    "path": "\(LogText.escaped(request.uri.path))", "suppressed_since_last": "\(suppressed)",
                ]
            )
        }
        return context.refusing(
            request,
            with: .error(404, "no such endpoint; status callbacks go to POST \(Self.path)?token=…")
        )
    }

    /// `Multipart/Form-Data; boundary=x` → `multipart/form-data`.
    static func mediaType(_ contentType: String?) -> String {
        guard let first = contentType?.split(separator: ";").first else { return "" }
        return String(first.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
            .lowercased()
    }

    /// Counts and logs a refusal (at most once per reason per 10 s, with the number held back).
    /// The query, which holds the token, is never logged.
    private func refuse(_ request: Request, _ context: DoorContext, _ reason: String, _ response: Response) -> Refusal {
        self.counters.rejected(reason)
        if let suppressed = self.refusalLog.shouldLog(reason) {
            self.logger.warning(
                "refused status callback",
                metadata: [
                    "reason": "\(reason)", "status": "\(response.status.code)", "remote": "\(context.remoteAddress)",
                    "method": "\(request.method)", "path": "\(LogText.escaped(request.uri.path))",
                    "suppressed_since_last": "\(suppressed)",
                ]
            )
        }
        return Refusal(response: response)
    }
}

/// The part of the endpoint that runs in its own task: parse, store or quarantine, answer.
struct StatusCallbackProcessor: Sendable {
    let sink: any StatusCallbackSink
    let counters: StatusCallbackCounters
    let logger: Logger

    func process(
        body: [UInt8],
        contentType: String,
        remoteAddress: String,
        receivedAt: Timestamp,
        answer: AnswerSlot
    ) async {
        let callback: StatusCallback
        do throws(StatusCallbackError) {
            if let depth = Self.nestingBeyond(StatusCallbackResponder.maxNesting, in: body) {
                throw StatusCallbackError(
                    "The status callback body nests containers \(depth) levels deep (the limit is \(StatusCallbackResponder.maxNesting))."
                )
            }
            callback = try StatusCallback.parse(body: body, contentType: contentType)
        } catch {
            await self.quarantine(
                body,
                contentType: contentType,
                remoteAddress: remoteAddress,
                receivedAt: receivedAt,
                kind: "malformed",
                reason: error.message,
                answer: answer
            )
            return
        }
        guard PathSafeIdentifier.isValid(callback.callSid) else {
            let reason =
                "CallSid '\(callback.callSid.prefix(64))' is not 1-128 characters from A-Z a-z 0-9 _ - (not starting with '-')"
            await self.quarantine(
                body,
                contentType: contentType,
                remoteAddress: remoteAddress,
                receivedAt: receivedAt,
                kind: "invalid-callsid",
                reason: reason,
                answer: answer
            )
            return
        }

        let received = ReceivedStatusCallback(
            callback: callback,
            body: body,
            contentType: contentType,
            remoteAddress: remoteAddress,
            receivedAt: receivedAt
        )
        let metadata: Logger.Metadata = [
            "call_sid": "\(LogText.escaped(callback.callSid, limit: 64))",
            "event_type": "\(LogText.escaped(callback.eventType ?? "-", limit: 64))",
            "status": "\(LogText.escaped(callback.status ?? "-", limit: 64))", "remote": "\(remoteAddress)",
        ]
        let result: StatusCallbackStoreResult
        do {
            result = try await self.sink.store(received)
        } catch {
            if answer.offer(.error(503, "the callback could not be stored; retry later")) {
                self.counters.rejected("store-failed")
            }
            self.logger.error(
                "could not store status callback",
                metadata: metadata.merging(["error": "\(error)"]) { $1 }
            )
            return
        }
        self.counters.stored(result)
        var text =
            "{\"status\":\"\(result == .duplicate ? "duplicate" : "stored")\",\"call_sid\":\(JSONText.quoted(callback.callSid))"
        if result == .storedUnknownCall { text += ",\"flag\":\"unknown-call\"" }
        answer.offer(.json(200, text + "}\n"))
        switch result {
        case .storedUnknownCall:
            self.logger.info("stored status callback for an unknown CallSid (flagged)", metadata: metadata)
        case .stored, .duplicate:
            self.logger.debug(
                "stored status callback",
                metadata: metadata.merging(["outcome": "\(result.rawValue)"]) { $1 }
            )
        }
    }

    /// The depth of `[`/`{` nesting (outside JSON strings) when it exceeds `limit` in a body that
    /// looks like JSON, else nil. Runs before any parser sees the body, so no parser recurses deeply.
    static func nestingBeyond(_ limit: Int, in body: [UInt8]) -> Int? {
        guard let first = body.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }),
            first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
        else { return nil }
        var depth = 0
        var inString = false
        var escaped = false
        for byte in body {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth > limit { return depth }
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            default: break
            }
        }
        return nil
    }

    private func quarantine(
        _ body: [UInt8],
        contentType: String,
        remoteAddress: String,
        receivedAt: Timestamp,
        kind: String,
        reason: String,
        answer: AnswerSlot
    ) async {
        await self.sink.quarantine(
            QuarantinedStatusCallback(
                body: body,
                contentType: contentType,
                remoteAddress: remoteAddress,
                receivedAt: receivedAt,
                reason: reason
            )
        )
        self.counters.quarantined()
        if answer.offer(.error(400, reason)) {
            self.counters.rejected(kind)
        }
        self.logger.warning(
            "refused status callback body (quarantined)",
            metadata: [
                "reason": "\(kind)", "detail": "\(LogText.escaped(reason))", "remote": "\(remoteAddress)",
                "content_type": "\(LogText.escaped(contentType, limit: 128))", "bytes": "\(body.count)",
            ]
        )
    }
}

/// The answer to one callback: the first of the processor and the store timeout to offer one wins.
final class AnswerSlot: Sendable {
    private struct State {
        var response: Response?
        var waiter: CheckedContinuation<Response, Never>?
    }

    private let state = Mutex(State())

    /// `true` when this was the first answer (and so the one sent).
    @discardableResult
    func offer(_ response: Response) -> Bool {
        let (first, waiter) = self.state.withLock { state -> (Bool, CheckedContinuation<Response, Never>?) in
            guard state.response == nil else { return (false, nil) }
            state.response = response
            defer { state.waiter = nil }
            return (true, state.waiter)
        }
        waiter?.resume(returning: response)
        return first
    }

    func wait() async -> Response {
        await withCheckedContinuation { continuation in
            let ready = self.state.withLock { state -> Response? in
                if let response = state.response { return response }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// A one-way flag shared between tasks.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { self.value.store(true, ordering: .releasing) }
    var isSet: Bool { self.value.load(ordering: .acquiring) }
}

/// The endpoint's counters, served in Prometheus text by the internal door's `/metrics`.
public final class StatusCallbackCounters: Sendable {
    struct Values: Sendable {
        var received = 0
        var stored: [String: Int] = [:]
        var rejected: [String: Int] = [:]
        var quarantined = 0
    }

    private let values = Mutex(Values())

    init() {}

    func received() { self.values.withLock { $0.received += 1 } }
    func stored(_ result: StatusCallbackStoreResult) {
        self.values.withLock { $0.stored[result.rawValue, default: 0] += 1 }
    }
    func rejected(_ reason: String) { self.values.withLock { $0.rejected[reason, default: 0] += 1 } }
    func quarantined() { self.values.withLock { $0.quarantined += 1 } }
    var snapshot: Values { self.values.withLock { $0 } }

    /// The counters in Prometheus text format (names kept from when the ingest served them).
    public func prometheusText() -> String {
        let values = self.snapshot
        var out = ""
        func metric(_ name: String, _ help: String, _ samples: [(labels: String, value: Int)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) counter\n"
            for sample in samples {
                out +=
                    sample.labels.isEmpty ? "\(name) \(sample.value)\n" : "\(name){\(sample.labels)} \(sample.value)\n"
            }
        }
        func labelled(_ key: String, _ values: [String: Int]) -> [(labels: String, value: Int)] {
            values.sorted { $0.key < $1.key }.map { ("\(key)=\"\($0.key)\"", $0.value) }
        }
        metric(
            "exorec_ingest_callbacks_received_total",
            "Requests to the status-callback endpoint.",
            [("", values.received)]
        )
        metric(
            "exorec_ingest_callbacks_stored_total",
            "Status callbacks stored, by outcome.",
            labelled("outcome", values.stored)
        )
        metric(
            "exorec_ingest_callbacks_rejected_total",
            "Status callbacks answered with an error, by reason.",
            labelled("reason", values.rejected)
        )
        metric(
            "exorec_ingest_callbacks_quarantined_total",
            "Unreadable status-callback bodies kept in quarantine.",
            [("", values.quarantined)]
        )
        return out
    }
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
