import ExotelKit
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Answers the platform's REST surface: `Calls/connect`, Call Details and recording downloads.
///
/// Checks run in the platform's order — resource, credentials, rate limit, then the request itself — so a
/// client without credentials learns nothing about a call, and a malformed request still uses up quota.
struct SimulatorResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    let accounts: [String: SimulatedAccount]
    let limiter: AccountRateLimiter
    let platform: Eventual<SimulatedPlatform>
    let clock: ScaledClock
    let maximumBodySize: Int
    let fileIO = FileIO()

    func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.uri.path
        guard let route = SimulatorRoute(path: path) else {
            return Self.error(
                RestException(status: 404, message: "The requested resource \(path) was not found."),
                format: ResponseFormat(unmatchedPath: path)
            )
        }
        guard let account = self.accounts[route.accountSid],
            let credentials = BasicCredentials(authorization: request.headers[.authorization]),
            credentials.authorize(account)
        else {
            var response = Self.error(
                RestException(status: 401, message: "Authentication is required to access this resource."),
                format: route.format
            )
            response.headers[.wwwAuthenticate] = "Basic realm=\"Exotel\""
            return response
        }
        switch route.resource {
        case .connect:
            guard request.method == .post else { return Self.methodNotAllowed(allow: "POST", format: route.format) }
            return try await self.limited(account: account.sid, format: route.format) {
                try await self.connect(request: request, route: route, context: context)
            }
        case .call(let sid):
            guard request.method == .get else { return Self.methodNotAllowed(allow: "GET", format: route.format) }
            return try await self.limited(account: account.sid, format: route.format) {
                try await self.callDetails(sid: sid, request: request, route: route)
            }
        case .recording(let callSid):
            // Recordings come from storage, not the Voice API, so they do not count against the API limit.
            guard request.method == .get else { return Self.methodNotAllowed(allow: "GET", format: route.format) }
            return try await self.recording(callSid: callSid, route: route, context: context)
        }
    }

    // MARK: - Resources

    private func connect(request: Request, route: SimulatorRoute, context: Context) async throws -> Response {
        let body: [UInt8]
        do {
            body = Array(try await request.body.collect(upTo: self.maximumBodySize).readableBytesView)
        } catch {
            return Self.error(
                RestException(status: 413, message: "The request body is larger than \(self.maximumBodySize) bytes."),
                format: route.format
            )
        }
        let fields: FormFields
        switch Self.decodeForm(body, contentType: request.headers[.contentType]) {
        case .success(let decoded): fields = decoded
        case .failure(let failure):
            return Self.error(RestException(status: 400, message: failure.message), format: route.format)
        }
        let connectRequest: ConnectCallRequest
        do throws(ConnectRequestError) {
            connectRequest = try ConnectCallRequest(form: fields)
        } catch {
            return Self.error(RestException(status: error.httpStatus, message: error.message), format: route.format)
        }
        var call = try await self.platform.value.placeCall(accountSid: route.accountSid, request: connectRequest)
        if !Self.wantsDetails(request.uri.query) { call.details = nil }
        context.logger.info(
            "call placed",
            metadata: ["account": "\(route.accountSid)", "call": "\(call.sid)", "from": "\(connectRequest.from)"]
        )
        return Self.call(call, format: route.format)
    }

    private func callDetails(sid: String, request: Request, route: SimulatorRoute) async throws -> Response {
        guard var call = try await self.platform.value.call(accountSid: route.accountSid, sid: sid) else {
            return Self.error(
                RestException(status: 404, message: "The call \(sid) was not found."),
                format: route.format
            )
        }
        if !Self.wantsDetails(request.uri.query) { call.details = nil }
        return Self.call(call, format: route.format)
    }

    private func recording(callSid: String, route: SimulatorRoute, context: Context) async throws -> Response {
        // Before `availableAt` the platform has no file to give; a 404 is what a client polling early sees.
        guard let recording = try await self.platform.value.recording(accountSid: route.accountSid, callSid: callSid),
            self.clock.now >= recording.availableAt
        else {
            return Self.error(
                RestException(status: 404, message: "The recording of call \(callSid) was not found."),
                format: route.format
            )
        }
        let body = try await self.fileIO.loadFile(path: recording.path, context: context)
        var headers = HTTPFields()
        headers[.contentType] = recording.contentType
        return Response(status: .ok, headers: headers, body: body)
    }

    // MARK: - Helpers

    /// Runs `body` when the account is within its limit; otherwise the platform's 429.
    private func limited(
        account: String,
        format: ResponseFormat,
        _ body: () async throws -> Response
    ) async throws -> Response {
        switch self.limiter.admit(account: account) {
        case .admitted:
            return try await body()
        case .limited(let retryAfter):
            var response = Self.error(
                RestException(
                    status: 429,
                    message: "Too many requests: the limit is \(self.limiter.limit) requests per minute per account."
                ),
                format: format
            )
            response.headers[.retryAfter] = String(retryAfter.retryAfterSeconds)
            return response
        }
    }

    /// Urlencoded (also when the client names no type: curl `-d` sends urlencoded) or multipart (curl `-F`).
    static func decodeForm(_ body: [UInt8], contentType: String?) -> Result<FormFields, FormDecodingError> {
        let mediaType =
            contentType?.split(separator: ";").first.map { String($0.filter { $0 != " " && $0 != "\t" }).lowercased() }
            ?? ""
        do throws(FormDecodingError) {
            switch mediaType {
            case "multipart/form-data":
                return .success(try MultipartForm.decode(body, contentType: contentType ?? ""))
            case "application/x-www-form-urlencoded", "", "text/plain":
                return .success(try ExotelKit.URLEncodedForm.decode(body))
            default:
                return .failure(
                    FormDecodingError(
                        "Unsupported content type '\(mediaType)': send application/x-www-form-urlencoded or multipart/form-data."
                    )
                )
            }
        } catch {
            return .failure(error)
        }
    }

    /// `?details=true` adds the `Details` block, as on the platform.
    static func wantsDetails(_ query: String?) -> Bool {
        guard let query else { return false }
        return query.split(separator: "&").contains { pair in
            let parts = pair.split(separator: "=", maxSplits: 1)
            return parts.count == 2 && parts[0].lowercased() == "details" && parts[1].lowercased() == "true"
        }
    }

    static func call(_ call: PlatformCall, format: ResponseFormat) -> Response {
        self.body(format == .json ? call.jsonBody() : call.xmlBody(), status: .ok, format: format)
    }

    static func error(_ exception: RestException, format: ResponseFormat) -> Response {
        self.body(
            format == .json ? exception.jsonBody() : exception.xmlBody(),
            status: HTTPResponse.Status(code: exception.status),
            format: format
        )
    }

    private static func methodNotAllowed(allow: String, format: ResponseFormat) -> Response {
        var response = self.error(
            RestException(status: 405, message: "Method not allowed: use \(allow)."),
            format: format
        )
        response.headers[.allow] = allow
        return response
    }

    private static func body(_ bytes: [UInt8], status: HTTPResponse.Status, format: ResponseFormat) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = format.contentType
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
