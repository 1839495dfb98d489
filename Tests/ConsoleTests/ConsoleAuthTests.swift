import Catalog
import Console
import Foundation
import MediaStore
import NIOHTTP1
import Testing

@testable import Console

/// The console's sign-in, sessions, CSRF, rate limit and roles, over HTTP against a running internal door,
/// without a browser (the browser run is ConsoleBrowserTests).
@Suite(.timeLimit(.minutes(5)))
struct ConsoleAuthTests {
    @Test func passwordHashesRoundTripAndRefuseHostileText() throws {
        let hash = try PasswordHash.make(password: "correct horse", logN: 10)
        let parsed = try PasswordHash(text: hash.description)
        #expect(parsed == hash)
        #expect(parsed.matches("correct horse"))
        #expect(!parsed.matches("correct horsf"))
        #expect(try PasswordHash.make(password: "correct horse", logN: 10).salt != hash.salt, "a fresh salt each time")
        for bad in [
            "", "$scrypt$", "$bcrypt$ln=10,r=8,p=1$AAAA$AAAA",
            "$scrypt$ln=40,r=8,p=1$c2FsdHNhbHQ=$" + String(repeating: "A", count: 44),
            "$scrypt$ln=10,r=8$c2FsdHNhbHQ=$AAAA", "$scrypt$ln=10,r=8,p=1$!!!$AAAA",
            "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHQ=$AAAA",
            String(repeating: "$", count: 10_000),
        ] {
            #expect(throws: PasswordHash.ParseError.self) { try PasswordHash(text: bad) }
        }
    }

    @Test func theLimiterCountsPerNameAndPerAddress() {
        let limiter = SignInLimiter(maxPerName: 3, maxPerAddress: 5, window: .seconds(60))
        let t0 = ContinuousClock.now
        for _ in 0..<3 { limiter.recordFailure(name: "a", address: "10.0.0.1", now: t0) }
        #expect(limiter.wait(name: "a", address: "10.0.0.2", now: t0) != nil, "three failures lock the name")
        #expect(limiter.wait(name: "b", address: "10.0.0.1", now: t0) == nil, "the address is not yet at its limit")
        for name in ["c", "d"] { limiter.recordFailure(name: name, address: "10.0.0.1", now: t0) }
        #expect(limiter.wait(name: "e", address: "10.0.0.1", now: t0) != nil, "five failures lock the address")
        #expect(limiter.wait(name: "a", address: "10.0.0.3", now: t0 + .seconds(61)) == nil, "the window passes")
        limiter.recordSuccess(name: "c")
        #expect(limiter.wait(name: "c", address: "10.0.0.9", now: t0) == nil)
    }

    @Test func theAssetsStayUnderTheirBudgetAndTheTemplatesParse() {
        #expect(ConsoleAssets.totalBytes < 200_000, "\(ConsoleAssets.totalBytes) bytes")
        for name in ConsoleTemplates.sources.keys {
            #expect(ConsoleTemplates.hasTemplate(name), "\(name)")
        }
    }

    @Test(arguments: CatalogTestBackend.all)
    func signInSessionsCSRFAndRoles(_ backend: CatalogTestBackend) async throws {
        let storage = try ConsoleHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: storage) }
        try await ConsoleHarness.withCatalogPath(backend, storage: storage) { catalogPath in
            try await ConsoleHarness.run(catalogPath: catalogPath, storageRoot: storage) { h in
                try await h.catalog.recordPlacedCall(ConsoleHarness.placed(sid: "CAauth1", at: .now()))
                let anonymous = TestBrowser(h)
                // Not signed in: pages redirect to the sign-in, the API answers 401, assets are public.
                let list = try await anonymous.get("/console/calls")
                #expect(list.status == 303 && list.location?.hasPrefix("/console/sign-in?next=") == true)
                #expect(try await anonymous.get("/console/api/calls").status == 401)
                #expect(try await anonymous.get("/console/assets/console.css").status == 200)

                // A sign-in without its CSRF token, or from another origin, is refused before the password is looked at.
                _ = try await anonymous.get("/console/sign-in")
                #expect(
                    try await anonymous.post("/console/sign-in", [("name", "vera"), ("password", "viewer-password")])
                        .status == 403
                )
                let form = try await anonymous.get("/console/sign-in")
                let pre = try #require(TestBrowser.csrf(in: form.text))
                let crossSite = try await anonymous.post(
                    "/console/sign-in",
                    [("csrf", pre), ("name", "vera"), ("password", "viewer-password")],
                    origin: "http://evil.example"
                )
                #expect(crossSite.status == 403)
                #expect(anonymous.sessionCookie == nil)

                // A sign-in's next page is only ever a console path (no open redirect).
                let redirected = TestBrowser(h)
                let nextForm = try await redirected.get("/console/sign-in?next=//evil.example/x")
                let nextToken = try #require(TestBrowser.csrf(in: nextForm.text))
                #expect(!nextForm.text.contains("evil.example"))
                let landed = try await redirected.post(
                    "/console/sign-in",
                    [
                        ("csrf", nextToken), ("name", "vera"), ("password", "viewer-password"),
                        ("next", "https://evil.example/"),
                    ]
                )
                #expect(landed.status == 303 && landed.location == "/console/calls", "\(landed.location ?? "")")

                // The viewer signs in: an HttpOnly SameSite=Strict cookie, then search and a call page; no audit log.
                let viewer = TestBrowser(h)
                let signedIn = try await viewer.signIn("vera")
                #expect(signedIn.status == 303, "\(signedIn.status) \(signedIn.text.prefix(300))")
                let cookie = try #require(signedIn.headers["set-cookie"].first { $0.hasPrefix("exorec_console=") })
                #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains("Secure"))
                let calls = try await viewer.get("/console/calls")
                #expect(calls.status == 200 && calls.text.contains("CAauth1"))
                #expect(!calls.text.contains("/console/audit"), "a viewer is not shown the audit log")
                #expect(try await viewer.get("/console/calls/CAauth1").status == 200)
                #expect(try await viewer.get("/console/audit").status == 403, "a viewer typing the auditor's URL")
                #expect(try await viewer.get("/console/api/audit").status == 403)
                let token = try await viewer.csrf()
                #expect(
                    try await viewer.post("/console/verify", [("csrf", token), ("call_sid", "CAauth1")]).status == 403
                )
                #expect(
                    try await viewer.post("/console/calls/CAauth1/hold", [("csrf", token), ("reason", "x")]).status
                        == 403
                )

                // The auditor reads the audit log and verifies; holds still need an admin.
                let auditor = TestBrowser(h)
                #expect(try await auditor.signIn("audrey").status == 303)
                #expect(try await auditor.get("/console/audit").status == 200)
                let auditorToken = try await auditor.csrf()
                let verified = try await auditor.post(
                    "/console/verify",
                    [("csrf", auditorToken), ("call_sid", "CAauth1")]
                )
                #expect(verified.status == 200, "\(verified.text.prefix(300))")
                #expect(verified.text.contains("CAauth1: ok"))
                #expect(
                    try await auditor.get("/console/calls").text.contains("ok 20"),
                    "the list shows when it was verified"
                )
                #expect(
                    try await auditor.post("/console/calls/CAauth1/hold", [("csrf", auditorToken), ("reason", "x")])
                        .status == 403
                )

                // The admin holds and releases; a POST without the token, or with another session's, is refused.
                let admin = TestBrowser(h)
                #expect(try await admin.signIn("adam").status == 303)
                let adminToken = try await admin.csrf()
                #expect(try await admin.post("/console/calls/CAauth1/hold", [("reason", "no token")]).status == 403)
                #expect(
                    try await admin.post(
                        "/console/calls/CAauth1/hold",
                        [("csrf", auditorToken), ("reason", "wrong token")]
                    ).status == 403
                )
                #expect(
                    try await admin.post(
                        "/console/calls/CAauth1/hold",
                        [("csrf", adminToken), ("reason", "r")],
                        origin: nil
                    ).status == 403
                )
                #expect(try await h.catalog.activeHold(callSid: "CAauth1") == nil)
                let held = try await admin.post(
                    "/console/calls/CAauth1/hold",
                    [("csrf", adminToken), ("reason", "subpoena 7")]
                )
                #expect(held.status == 303, "\(held.text.prefix(300))")
                #expect(try await h.catalog.activeHold(callSid: "CAauth1")?.placedBy == "adam")
                #expect(try await admin.get("/console/calls?held=1").text.contains("CAauth1"))
                #expect(
                    try await admin.post(
                        "/console/calls/CAauth1/release",
                        [("csrf", adminToken), ("reason", "closed")]
                    ).status == 303
                )
                #expect(try await h.catalog.activeHold(callSid: "CAauth1") == nil)

                // Signing out ends the session in the catalog: the old cookie no longer works.
                let oldCookie = try #require(viewer.sessionCookie)
                #expect(try await viewer.post("/console/sign-out", [("csrf", token)]).status == 303)
                let replay = TestBrowser(h)
                replay.setCookie("exorec_console", oldCookie)
                #expect(try await replay.get("/console/calls").status == 303)
                #expect(try await replay.get("/console/api/calls").status == 401)

                // Every sign-in, hold and verify is in the audit log, naming the user.
                let entries = try await h.catalog.auditEntries()
                let seen = Set(entries.map { "\($0.actor) \($0.action)" })
                for expected in [
                    "console:vera console.sign_in", "console:audrey console.sign_in", "console:adam console.sign_in",
                    "console:adam hold.added", "console:adam hold.released", "console:audrey console.verify",
                    "console:vera console.sign_out",
                ] {
                    #expect(seen.contains(expected), "\(expected) missing from \(seen.sorted())")
                }
                #expect(try await h.catalog.verifyAuditChain().isIntact)
            }
        }
    }

    @Test func signInAttemptsAreRateLimitedAndFailuresAudited() async throws {
        let storage = try ConsoleHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: storage) }
        try await ConsoleHarness.run(catalogPath: storage + "/catalog.sqlite", storageRoot: storage) { h in
            let browser = TestBrowser(h)
            for _ in 0..<3 {
                #expect(try await browser.signIn("vera", password: "wrong-password").status == 401)
            }
            // The fourth attempt is refused before the password is checked, even the right one.
            let limited = try await browser.signIn("vera")
            #expect(limited.status == 429)
            #expect(limited.headers.first(name: "retry-after") != nil)
            #expect(browser.sessionCookie == nil)
            // Another user is not locked out by vera's failures.
            #expect(try await browser.signIn("audrey").status == 303)
            let failures = try await h.catalog.auditEntries().filter { $0.action == "console.sign_in_failed" }
            #expect(failures.count == 3 && failures.allSatisfy { $0.actor == "console:vera" })
            // Hostile names are neither crashes nor audit actors.
            let hostile = TestBrowser(h)
            #expect(try await hostile.signIn("x\u{1b}[31m\n<script>", password: "p").status == 401)
            #expect(try await h.catalog.auditEntries().last?.actor == "console:?")
        }
    }

    /// Two nodes on one catalog: a session started on one works on the other, both list the same calls, and
    /// signing out on one ends it on both.
    @Test(arguments: CatalogTestBackend.all)
    func aSessionWorksOnEitherNode(_ backend: CatalogTestBackend) async throws {
        let storage = try ConsoleHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: storage) }
        try await ConsoleHarness.withCatalogPath(backend, storage: storage) { catalogPath in
            try await ConsoleHarness.run(catalogPath: catalogPath, storageRoot: storage, node: "alpha") { a in
                try await ConsoleHarness.run(catalogPath: catalogPath, storageRoot: storage, node: "beta") { b in
                    try await a.catalog.recordPlacedCall(ConsoleHarness.placed(sid: "CAtwo1", at: .now()))
                    let onA = TestBrowser(a)
                    #expect(try await onA.signIn("vera").status == 303)
                    let onB = TestBrowser(b)
                    onB.setCookie("exorec_console", try #require(onA.sessionCookie))
                    let listB = try await onB.get("/console/calls")
                    #expect(listB.status == 200 && listB.text.contains("CAtwo1"))
                    let token = try await onB.csrf()
                    #expect(try await onB.post("/console/sign-out", [("csrf", token)]).status == 303)
                    #expect(
                        try await onA.get("/console/calls").status == 303,
                        "signed out on beta is signed out on alpha"
                    )
                    // A changed password ends the user's sessions: the configuration is the source of truth.
                    let again = TestBrowser(a)
                    #expect(try await again.signIn("vera").status == 303)
                    #expect(try await again.get("/console/calls").status == 200)
                    try await ConsoleHarness.run(
                        catalogPath: catalogPath,
                        storageRoot: storage,
                        node: "gamma",
                        tweak: { configuration in
                            configuration.users[0].passwordHash = try! PasswordHash.make(
                                password: "changed-password",
                                logN: 10
                            )
                        }
                    ) { c in
                        let onC = TestBrowser(c)
                        onC.setCookie("exorec_console", try #require(again.sessionCookie))
                        #expect(try await onC.get("/console/calls").status == 303, "the old password's session is over")
                        #expect(try await onC.signIn("vera", password: "changed-password").status == 303)
                    }
                }
            }
        }
    }
}
