public import Catalog
import Crypto
public import Doors
import ExotelKit
import Foundation
import HTTPTypes
public import Hummingbird
import Ingest
public import Logging
public import MediaStore
import NIOCore
import Orchestrator

/// The compliance web console, mounted on the internal door under `/console/` (docs/CONSOLE.md).
///
/// Every route checks the session and the role on the server: a viewer who types an auditor's URL gets
/// 403. Sessions are rows of the shared catalog (`console_sessions`), so either node of a pair accepts
/// them and signing out ends them on both. Every POST carries a CSRF token tied to the session (and the
/// sign-in form a double-submit one), and its `Origin` (or `Referer`) must be this server.
public struct ConsoleResponder: InternalDoorMount {
    public let pathPrefix = "/console"

    let configuration: ConsoleConfiguration
    let catalog: Catalog
    let layout: StorageLayout
    let logger: Logger
    let limiter: SignInLimiter
    let gate = CheckGate(limit: 2)
    /// At most two waveform computations at once (each reads a whole file), off the request threads.
    let peakWork = CheckGate(limit: 2)
    /// One export at a time on this node (each writes a bag to disk before sending it).
    let exports = CheckGate(limit: 1)
    let peaks: WaveformPeaks
    /// Checked against when a user name is unknown, so an unknown name costs what a known one does.
    let decoy: PasswordHash

    public init(configuration: ConsoleConfiguration, catalog: Catalog, layout: StorageLayout, logger: Logger) throws {
        guard !configuration.users.isEmpty else {
            throw ConsoleError("console.users is empty: the console has nobody to let in")
        }
        var seen = Set<String>()
        for user in configuration.users {
            guard ConsoleUser.isAcceptableName(user.name) else {
                throw ConsoleError("console user name '\(user.name.prefix(64))' must be 1-64 of A-Z a-z 0-9 . _ - @")
            }
            guard seen.insert(user.name).inserted else {
                throw ConsoleError("console user '\(user.name)' is listed twice")
            }
        }
        self.configuration = configuration
        self.catalog = catalog
        self.layout = layout
        self.logger = logger
        self.limiter = SignInLimiter(
            maxPerName: configuration.maxFailuresPerName,
            maxPerAddress: configuration.maxFailuresPerAddress,
            window: configuration.signInWindow
        )
        self.peaks = WaveformPeaks(storageRoot: layout.root)
        let sample = configuration.users[0].passwordHash
        self.decoy = PasswordHash(
            logN: sample.logN,
            r: sample.r,
            p: sample.p,
            salt: sample.salt,
            key: [UInt8](repeating: 0, count: PasswordHash.keyBytes)
        )
    }

    /// Who is asking, once the session cookie checked out.
    struct Viewer: Sendable {
        var user: ConsoleUser
        var token: String
        var csrf: String
        var actor: String { "console:\(self.user.name)" }
    }

    public func respond(to request: Request, context: DoorContext, media: DoorMediaServer) async throws -> Response {
        let path = String(request.uri.path.dropFirst(self.pathPrefix.count))
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let method = request.method
        // A body is only read by POSTs, bounded; elsewhere one that is announced is refused.
        let hasBody =
            request.headers[.transferEncoding] != nil || (request.headers[.contentLength].flatMap { Int($0) } ?? 0) > 0
        if hasBody && method != .post {
            return ConsoleHTTP.html(400, "requests other than POST carry no body", headers: [.connection: "close"])
        }
        do {
            if parts.isEmpty { return ConsoleHTTP.redirect("/console/calls") }
            if parts[0] == "assets", method == .get, parts.count == 2, let asset = ConsoleAssets.all[parts[1]] {
                return Response(
                    status: .ok,
                    headers: [.contentType: asset.contentType, .cacheControl: "public, max-age=3600"],
                    body: .init(byteBuffer: ByteBuffer(string: asset.body))
                )
            }
            if parts == ["sign-in"] {
                if method == .get { return self.signInPage(request, notice: nil) }
                if method == .post { return try await self.signIn(request, context: context) }
                return self.notAllowed()
            }
            let viewer = try await self.session(request)
            if parts == ["sign-out"] {
                guard method == .post else { return self.notAllowed() }
                guard let viewer else { return ConsoleHTTP.redirect("/console/sign-in") }
                _ = try await self.checkedForm(request, csrf: viewer.csrf)
                try await self.catalog.deleteConsoleSession(tokenSHA256: Self.sha256(viewer.token))
                try await self.audit(viewer.actor, "console.sign_out", context: context)
                return ConsoleHTTP.redirect(
                    "/console/sign-in",
                    headers: [
                        .setCookie: ConsoleHTTP.setCookie(
                            ConsoleHTTP.sessionCookie,
                            "",
                            maxAge: 0,
                            secure: self.configuration.secureCookies
                        )
                    ]
                )
            }
            guard let viewer else {
                if parts.first == "api" || method != .get {
                    return ConsoleHTTP.json(401, ["error": "sign in first: POST /console/sign-in"])
                }
                let next = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
                return ConsoleHTTP.redirect("/console/sign-in?next=" + Self.percentEncoded(next))
            }
            return try await self.route(
                parts,
                method: method,
                request: request,
                context: context,
                viewer: viewer,
                media: media
            )
        } catch let refusal as ConsoleRefusal {
            if refusal.status == 403 || refusal.status == 429 {
                self.logger.notice(
                    "console refused a request",
                    metadata: [
                        "status": "\(refusal.status)", "reason": "\(LogText.escaped(refusal.message))",
                        "path": "\(LogText.escaped(request.uri.path, limit: 100))",
                        "remote": "\(context.remoteAddress)",
                    ]
                )
            }
            return self.page(
                refusal.status,
                title: refusal.title,
                template: "message",
                ["heading": refusal.title, "text": refusal.message, "back": "/console/calls"],
                viewer: nil,
                headers: refusal.headers
            )
        }
    }

    private func route(
        _ parts: [String],
        method: HTTPRequest.Method,
        request: Request,
        context: DoorContext,
        viewer: Viewer,
        media: DoorMediaServer
    ) async throws -> Response {
        switch (method, parts.count, parts[0]) {
        case (.get, 1, "calls"):
            return try await self.callList(request, viewer: viewer, json: false)
        case (.get, 2, "api") where parts[1] == "calls":
            return try await self.callList(request, viewer: viewer, json: true)
        case (.get, 2, "calls"):
            return try await self.callPage(parts[1], viewer: viewer, json: false)
        case (.get, 3, "api") where parts[1] == "calls":
            return try await self.callPage(parts[2], viewer: viewer, json: true)
        case (.get, 2, "media"):
            return try await self.serveMedia(parts[1], request: request, context: context, viewer: viewer, media: media)
        case (.get, 3, "media") where parts[2] == "peaks":
            return try await self.servePeaks(parts[1])
        case (.post, 3, "calls") where parts[2] == "hold" || parts[2] == "release":
            try Self.require(.admin, viewer, "place or release holds")
            let form = try await self.checkedForm(request, csrf: viewer.csrf)
            return try await self.hold(parts[1], release: parts[2] == "release", form: form, viewer: viewer)
        case (.post, 1, "verify"):
            try Self.require(.auditor, viewer, "verify recordings")
            let form = try await self.checkedForm(request, csrf: viewer.csrf)
            return try await self.verify(form, viewer: viewer)
        case (.post, 1, "selection"):
            try Self.require(.auditor, viewer, "verify or export")
            let form = try await self.checkedForm(request, csrf: viewer.csrf)
            let action = form.first { $0.0 == "action" }?.1
            return action == "export"
                ? try await self.export(form, viewer: viewer, context: context)
                : try await self.verify(form, viewer: viewer)
        case (.post, 1, "export"):
            try Self.require(.auditor, viewer, "export")
            let form = try await self.checkedForm(request, csrf: viewer.csrf)
            return try await self.export(form, viewer: viewer, context: context)
        case (.get, 1, "audit"):
            try Self.require(.auditor, viewer, "read the audit log")
            return try await self.auditPage(request, viewer: viewer, json: false)
        case (.get, 2, "api") where parts[1] == "audit":
            try Self.require(.auditor, viewer, "read the audit log")
            return try await self.auditPage(request, viewer: viewer, json: true)
        case (.get, _, _), (.post, _, _):
            throw ConsoleRefusal(404, "Not found", "There is no console page at \(request.uri.path.prefix(100)).")
        default:
            return self.notAllowed()
        }
    }

    private func notAllowed() -> Response {
        ConsoleHTTP.html(405, "method not allowed", headers: [.allow: "GET, POST"])
    }

    static func require(_ role: ConsoleRole, _ viewer: Viewer, _ what: String) throws(ConsoleRefusal) {
        guard viewer.user.role >= role else {
            throw ConsoleRefusal(
                403,
                "Not allowed",
                "Your role (\(viewer.user.role.rawValue)) may not \(what); that takes the \(role.rawValue) role."
            )
        }
    }

    // MARK: - Sessions

    static func sha256(_ text: String) -> String { ConsoleHTTP.hex(SHA256.hash(data: Array(text.utf8))) }

    /// A digest of the user's password hash: a session begun under another password is over.
    static func credential(of user: ConsoleUser) -> String {
        String(Self.sha256(user.passwordHash.description).prefix(32))
    }

    static func csrf(forSession token: String) -> String {
        ConsoleHTTP.hex(
            HMAC<SHA256>.authenticationCode(for: Array("csrf".utf8), using: SymmetricKey(data: Array(token.utf8)))
        )
    }

    private func session(_ request: Request) async throws -> Viewer? {
        guard let token = ConsoleHTTP.cookies(request)[ConsoleHTTP.sessionCookie], token.utf8.count == 64,
            token.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
        else { return nil }
        guard let session = try await self.catalog.consoleSession(tokenSHA256: Self.sha256(token)) else { return nil }
        // The role is the configuration's now: a user removed from it is signed out everywhere.
        guard let user = self.configuration.user(named: session.userName),
            session.credential == Self.credential(of: user)
        else { return nil }
        return Viewer(user: user, token: token, csrf: Self.csrf(forSession: token))
    }

    /// The form of a POST, after its Origin and CSRF token checked out.
    func checkedForm(_ request: Request, csrf: String) async throws -> [(String, String)] {
        try Self.checkOrigin(request)
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: ConsoleHTTP.maxFormBytes)
        } catch {
            throw ConsoleRefusal(413, "Too large", "The form is larger than \(ConsoleHTTP.maxFormBytes) bytes.")
        }
        let form = ConsoleHTTP.form(Substring(String(buffer: body)))
        guard let offered = form.first(where: { $0.0 == "csrf" })?.1,
            PasswordHash.constantTimeEquals(Array(offered.utf8), Array(csrf.utf8))
        else {
            throw ConsoleRefusal(
                403,
                "Form expired",
                "The form's CSRF token is missing or wrong; reload the page and try again."
            )
        }
        return form
    }

    /// A POST must come from a page of this server: `Origin` (or, without it, `Referer`) names the `Host`.
    static func checkOrigin(_ request: Request) throws(ConsoleRefusal) {
        let host = request.head.authority ?? ""
        let origin = request.headers[HTTPField.Name("Origin")!] ?? request.headers[.referer]
        guard let origin, !host.isEmpty else {
            throw ConsoleRefusal(
                403,
                "Cross-site request refused",
                "A POST to the console must carry Origin (or Referer)."
            )
        }
        let allowed = ["http://" + host, "https://" + host]
        guard allowed.contains(where: { origin == $0 || origin.hasPrefix($0 + "/") }) else {
            throw ConsoleRefusal(403, "Cross-site request refused", "The request's Origin is not this console.")
        }
    }

    // MARK: - Sign-in

    private func signInPage(_ request: Request, notice: (String, String)?, status: Int = 200) -> Response {
        let pre = ConsoleHTTP.randomToken()
        let next = request.uri.queryParameters["next"].map(String.init) ?? "/console/calls"
        let values: [String: Any] = ["csrf": pre, "next": Self.safeNext(next)]
        return self.page(
            status,
            title: "Sign in",
            template: "signin",
            values,
            viewer: nil,
            notice: notice,
            headers: [
                .setCookie: ConsoleHTTP.setCookie(
                    ConsoleHTTP.preSessionCookie,
                    pre,
                    maxAge: 3600,
                    secure: self.configuration.secureCookies
                )
            ]
        )
    }

    /// Only a path of this console: never another site (an open redirect).
    static func safeNext(_ next: String) -> String {
        next.hasPrefix("/console/") && !next.hasPrefix("//") && !next.contains("\\") && next.utf8.count < 2000
            ? next : "/console/calls"
    }

    private func signIn(_ request: Request, context: DoorContext) async throws -> Response {
        guard let pre = ConsoleHTTP.cookies(request)[ConsoleHTTP.preSessionCookie], pre.utf8.count == 64 else {
            try Self.checkOrigin(request)
            throw ConsoleRefusal(
                403,
                "Form expired",
                "The sign-in form's CSRF cookie is missing; reload the sign-in page."
            )
        }
        let form = try await self.checkedForm(request, csrf: pre)
        let name = form.first { $0.0 == "name" }?.1 ?? ""
        let password = form.first { $0.0 == "password" }?.1 ?? ""
        let next = Self.safeNext(form.first { $0.0 == "next" }?.1 ?? "/console/calls")
        let address = context.remoteAddress
        if let wait = self.limiter.wait(name: name, address: address) {
            let seconds = max(1, Int(wait.components.seconds))
            throw ConsoleRefusal(
                429,
                "Too many attempts",
                "Too many failed sign-ins for this user or from this address; try again in \(seconds) s.",
                headers: [.retryAfter: "\(seconds)"]
            )
        }
        guard self.gate.enter() else {
            throw ConsoleRefusal.busy(
                "The console is checking other sign-ins; try again in a moment.",
                retryAfterSeconds: 1
            )
        }
        let user = ConsoleUser.isAcceptableName(name) ? self.configuration.user(named: name) : nil
        // scrypt holds a core for ~0.1 s: on a Dispatch thread, not one of the cooperative pool's few.
        let hash = user?.passwordHash ?? self.decoy
        let offered = String(password.prefix(1024))
        let hashMatches = await BlockingWork.run { hash.matches(offered) }
        let matches = hashMatches && user != nil
        self.gate.leave()
        guard let user, matches else {
            self.limiter.recordFailure(name: name, address: address)
            let shown = ConsoleUser.isAcceptableName(name) ? name : "?"
            try await self.audit(
                "console:\(shown)",
                "console.sign_in_failed",
                context: context,
                detail: ["name": String(LogText.escaped(name, limit: 64))]
            )
            self.logger.notice(
                "console sign-in failed",
                metadata: ["name": "\(LogText.escaped(name, limit: 64))", "remote": "\(address)"]
            )
            return self.signInPage(request, notice: ("error", "Wrong user name or password."), status: 401)
        }
        self.limiter.recordSuccess(name: name)
        let token = ConsoleHTTP.randomToken()
        let now = Timestamp.now()
        try await self.catalog.createConsoleSession(
            ConsoleSession(
                tokenSHA256: Self.sha256(token),
                userName: user.name,
                credential: Self.credential(of: user),
                createdAt: now,
                expiresAt: now.advanced(by: self.configuration.sessionLifetime),
                remote: address
            )
        )
        try await self.audit(
            "console:\(user.name)",
            "console.sign_in",
            context: context,
            detail: ["role": user.role.rawValue]
        )
        self.logger.info("console sign-in", metadata: ["user": "\(user.name)", "remote": "\(address)"])
        var headers = HTTPFields()
        headers.append(
            HTTPField(
                name: .setCookie,
                value: ConsoleHTTP.setCookie(
                    ConsoleHTTP.sessionCookie,
                    token,
                    maxAge: Int(self.configuration.sessionLifetime.components.seconds),
                    secure: self.configuration.secureCookies
                )
            )
        )
        headers.append(
            HTTPField(
                name: .setCookie,
                value: ConsoleHTTP.setCookie(
                    ConsoleHTTP.preSessionCookie,
                    "",
                    maxAge: 0,
                    secure: self.configuration.secureCookies
                )
            )
        )
        return ConsoleHTTP.redirect(next, headers: headers)
    }

    func audit(
        _ actor: String,
        _ action: String,
        context: DoorContext? = nil,
        callSid: String? = nil,
        path: String? = nil,
        detail: [String: String] = [:]
    ) async throws {
        var detail = detail
        if let context { detail["remote"] = context.remoteAddress }
        try await self.catalog.appendAudit(
            AuditEvent(at: .now(), actor: actor, action: action, callSid: callSid, path: path, detail: detail)
        )
    }

    static func percentEncoded(_ text: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    // MARK: - Rendering

    func page(
        _ status: Int,
        title: String,
        template: String,
        _ values: [String: Any],
        viewer: Viewer?,
        notice: (String, String)? = nil,
        headers: HTTPFields = [:],
        section: String = "calls"
    ) -> Response {
        var values = values
        if let viewer {
            values["csrf"] = viewer.csrf
            values["canAudit"] = viewer.user.role >= .auditor
            values["canAdmin"] = viewer.user.role >= .admin
        }
        let content = ConsoleTemplates.render(template, values)
        var layout: [String: Any] = ["title": title, "content": content]
        if let viewer {
            layout["user"] =
                [
                    "name": viewer.user.name, "role": viewer.user.role.rawValue, "csrf": viewer.csrf,
                    "canAudit": viewer.user.role >= .auditor, "onCalls": section == "calls",
                    "onAudit": section == "audit",
                ] as [String: Any]
        }
        if let notice { layout["notice"] = ["kind": notice.0, "text": notice.1] }
        return ConsoleHTTP.html(status, ConsoleTemplates.render("layout", layout), headers: headers)
    }
}

/// A request the console answers with an error page (and the status).
struct ConsoleRefusal: Error {
    var status: Int
    var title: String
    var message: String
    var headers: HTTPFields

    init(_ status: Int, _ title: String, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.title = title
        self.message = message
        self.headers = headers
    }

    /// 503 with `Retry-After`: a bounded piece of work (sign-in checks, waveforms, exports) is full.
    static func busy(_ message: String, retryAfterSeconds: Int) -> ConsoleRefusal {
        ConsoleRefusal(503, "Busy", message, headers: [.retryAfter: "\(retryAfterSeconds)"])
    }
}

public struct ConsoleError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
