import ExotelKit
import Logging

/// Calls Exotel's v1 voice API: place a call with `Calls/connect`, read Call Details, download recordings.
///
/// Every request waits for the account's ``RequestRateLimiter`` (200 per minute, shared by every client of
/// the same account and endpoint in the process) and then retries by the rule "never place a call twice":
///
/// - 429: retried, honouring `Retry-After` (seconds or HTTP date), else exponential backoff with full jitter.
///   The platform rejected the request, so no call exists.
/// - 5xx and connection failures: retried for `GET`s (Call Details, recordings), which change nothing.
/// - `POST Calls/connect`: retried after a connection failure only when nothing was sent (refused, DNS).
///   After a 5xx or a timeout the platform may already have placed the call and just failed to answer;
///   `Calls/connect` has no idempotency key, so a retry could ring both parties twice. That error goes to the
///   caller, who can look for the call (e.g. by its `CustomField` in the status callback) before trying again.
///
/// Attempts and the total time are bounded by ``ExotelClientConfiguration/retry``.
public final class ExotelClient: Sendable {
    public let endpoint: ExotelEndpoint
    public let credentials: ExotelCredentials
    public let configuration: ExotelClientConfiguration
    /// Retry delays are slept on this clock; share it with a simulator to run fast.
    public let clock: ScaledClock
    public let rateLimiter: RequestRateLimiter
    let transport: any ExotelTransport
    let logger: Logger

    /// - Parameters:
    ///   - rateLimiter: `nil` uses ``RequestRateLimiter/shared(accountSid:baseURL:clock:)``, so separate
    ///     clients of one account share a budget. Inject one to isolate tests.
    ///   - transport: HTTP; ``HTTPClientTransport`` over `HTTPClient.shared` by default.
    public init(
        endpoint: ExotelEndpoint,
        credentials: ExotelCredentials,
        configuration: ExotelClientConfiguration = ExotelClientConfiguration(),
        clock: ScaledClock = ScaledClock(),
        rateLimiter: RequestRateLimiter? = nil,
        transport: any ExotelTransport = HTTPClientTransport(),
        logger: Logger = Logger(label: "exorec.exotel-client")
    ) {
        self.endpoint = endpoint
        self.credentials = credentials
        self.configuration = configuration
        self.clock = clock
        self.rateLimiter =
            rateLimiter
            ?? RequestRateLimiter.shared(accountSid: credentials.accountSid, baseURL: endpoint.baseURL, clock: clock)
        self.transport = transport
        var logger = logger
        logger[metadataKey: "exotel.account"] = "\(credentials.accountSid)"
        self.logger = logger
    }

    /// Places a call (`POST /v1/Accounts/<sid>/Calls/connect.json`).
    ///
    /// The request is validated first with the platform's rules and never sent when invalid. The returned
    /// call is usually still `in-progress` or `queued`: follow it with status callbacks or ``callDetails(sid:)``.
    public func connect(_ request: ConnectCallRequest) async throws(ExotelClientError) -> PlatformCall {
        do {
            try request.validate()
        } catch {
            self.logger.debug(
                "Calls/connect request rejected locally",
                metadata: ["exotel.reason": "\(LogText.escaped("\(error.message)", limit: 1024))"]
            )
            throw .invalidRequest(error)
        }
        let url = try self.endpoint.connectURL(accountSid: self.credentials.accountSid)
        let body = Array(URLEncodedForm.encode(request.formFields()).utf8)
        let outgoing = self.apiRequest(
            .post,
            url: url,
            body: body,
            contentType: "application/x-www-form-urlencoded",
            maximumBodyBytes: self.configuration.maximumResponseBytes
        )
        let (response, attempts) = try await self.send(outgoing, idempotent: false, logger: self.logger)
        let call = try Self.decodeCall(response, attempts: attempts)
        self.logger.debug(
            "call placed",
            metadata: [
                "exotel.call-sid": "\(LogText.escaped("\(call.sid)", limit: 1024))",
                "exotel.call-status": "\(LogText.escaped("\(call.status)", limit: 1024))",
            ]
        )
        return call
    }

    /// Reads Call Details with the per-leg block (`GET /v1/Accounts/<sid>/Calls/<CallSid>.json?details=true`).
    public func callDetails(sid: String) async throws(ExotelClientError) -> PlatformCall {
        let url = try self.endpoint.callDetailsURL(accountSid: self.credentials.accountSid, callSid: sid)
        var logger = self.logger
        logger[metadataKey: "exotel.call-sid"] = "\(LogText.escaped("\(sid)", limit: 1024))"
        let outgoing = self.apiRequest(.get, url: url, maximumBodyBytes: self.configuration.maximumResponseBytes)
        let (response, attempts) = try await self.send(outgoing, idempotent: true, logger: logger)
        return try Self.decodeCall(response, attempts: attempts)
    }

    /// A request signed with the account's key pair.
    func apiRequest(
        _ method: TransportRequest.Method,
        url: String,
        body: [UInt8]? = nil,
        contentType: String? = nil,
        accept: String = "application/json",
        maximumBodyBytes: Int
    ) -> TransportRequest {
        var headers: [(name: String, value: String)] = [
            ("Authorization", self.credentials.basicAuthorization),
            ("Accept", accept),
            ("User-Agent", self.configuration.userAgent),
        ]
        if let contentType { headers.append(("Content-Type", contentType)) }
        return TransportRequest(
            method: method,
            url: url,
            headers: headers,
            body: body,
            timeout: self.configuration.requestTimeout,
            maximumBodyBytes: maximumBodyBytes
        )
    }

    /// A `Call` answer, or the typed error its status and `RestException` describe. The exception is looked
    /// for whatever the status: the platform sometimes sends one with 200.
    static func decodeCall(_ response: TransportResponse, attempts: Int) throws(ExotelClientError) -> PlatformCall {
        if let exception = RestException.decode(response.body) {
            throw Self.error(status: response.status, exception: exception, attempts: attempts)
        }
        guard (200..<300).contains(response.status) else {
            throw Self.error(status: response.status, exception: nil, attempts: attempts)
        }
        do {
            return try PlatformCall.decode(response.body)
        } catch {
            switch error {
            case .rest(let exception):
                throw Self.error(status: response.status, exception: exception, attempts: attempts)
            case .malformed(let reason):
                throw .malformedResponse(status: response.status, reason: reason)
            }
        }
    }

    /// Maps a failed answer to its error. A `RestException` inside a 2xx is classified by its own `Status`.
    static func error(status: Int, exception: RestException?, attempts: Int) -> ExotelClientError {
        var effective = status
        if (200..<300).contains(status) {
            effective = exception.map { $0.status >= 400 ? $0.status : 400 } ?? 400
        }
        let message = exception?.message
        switch effective {
        case 401, 403: return .unauthorized(status: effective, message: message)
        case 404: return .notFound(message: message)
        case 429: return .rateLimited(message: message, attempts: attempts)
        case 500...: return .server(status: effective, message: message, attempts: attempts)
        default: return .rejected(status: effective, message: message, code: exception?.code)
        }
    }
}
