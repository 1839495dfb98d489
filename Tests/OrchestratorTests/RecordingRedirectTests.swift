import Catalog
import ExotelClient
import ExotelKit
import Foundation
import Logging
import MediaStore
import Orchestrator
import Testing

/// The recording fetcher's outbound confinement, against real HTTP servers on loopback: the allowlist is
/// scheme + host + port, redirects are followed hop by hop with every hop checked before it is requested,
/// credentials go only to the first URL's origin, and a refused hop is the download's error in the catalog and
/// an entry in the audit log.
@Suite struct RecordingRedirectTests {
    /// A client whose endpoint is `platform` (so `http` is allowed), with `allowed` as its recording origins;
    /// over the production transport (AsyncHTTPClient, redirects disabled).
    static func client(platform: ScriptedOrigin, allowed: [ScriptedOrigin]) throws -> ExotelClient {
        let clock = ScaledClock(rate: 100)
        return ExotelClient(
            endpoint: try ExotelEndpoint(baseURL: platform.url("")),
            credentials: RecordingTests.credentials,
            configuration: ExotelClientConfiguration(retry: .none, allowedRecordingHosts: allowed.map(\.authority)),
            clock: clock,
            rateLimiter: RequestRateLimiter(clock: clock),
            logger: RecordingTests.quietLogger("client")
        )
    }

    /// Queues `url` for a call and runs one claim of it.
    static func fetchOnce(
        _ url: String,
        client: ExotelClient,
        root: String,
        catalog: Catalog,
        callSid: String
    ) async throws -> (DownloadOutcome, DownloadJob) {
        try await RecordingTests.recordCall(callSid, in: catalog)
        let fetcher = RecordingFetcher(
            catalog: catalog,
            client: client,
            configuration: RecordingTests.fetcherConfiguration(root: root),
            logger: RecordingTests.quietLogger()
        )
        let queued = try await fetcher.queue.enqueue(callSid: callSid, url: url)
        let outcome = try #require(await fetcher.runOnce())
        let job = try #require(try await catalog.downloadJob(id: queued.job.id))
        return (outcome, job)
    }

    static func expectRefusalAudited(
        _ catalog: Catalog,
        callSid: String,
        job: DownloadJob,
        mentioning text: String
    ) async throws {
        #expect(job.state == .refused)
        #expect(job.lastError?.contains(text) == true, "catalog error: \(job.lastError ?? "none")")
        let entries = try await catalog.auditEntries(callSid: callSid).filter {
            $0.action == RecordingFetcher.refusedAction
        }
        #expect(entries.count == 1, "one download-refused audit entry")
        #expect(entries.first?.detail.contains(text) == true, "audit detail: \(entries.first?.detail ?? "none")")
        #expect(try await catalog.mediaFiles(callSid: callSid).isEmpty)
    }

    @Test func wrongPortOnAnAllowedHostIsRefusedWithoutARequest() async throws {
        let platform = ScriptedOrigin()
        let otherPort = ScriptedOrigin()
        try await ScriptedOrigin.withOrigins([platform, otherPort]) {
            otherPort.answer("/rec.mp3", .audio(RecordingTests.fakeMP3))
            try await RecordingTests.withStore { root, catalog in
                let client = try Self.client(platform: platform, allowed: [platform])
                let (outcome, job) = try await Self.fetchOnce(
                    otherPort.url("/rec.mp3"),
                    client: client,
                    root: root,
                    catalog: catalog,
                    callSid: "CAport"
                )

                guard case .refused = outcome.result else {
                    Issue.record("expected a refusal, got \(outcome.result)")
                    return
                }
                #expect(otherPort.requests.isEmpty, "a port not in the allowlist was reached: \(otherPort.requests)")
                try await Self.expectRefusalAudited(
                    catalog,
                    callSid: "CAport",
                    job: job,
                    mentioning: otherPort.authority
                )
            }
        }
    }

    @Test func redirectToADisallowedHostSendsItNothing() async throws {
        let platform = ScriptedOrigin()
        let outsider = ScriptedOrigin(host: "127.0.0.2")
        try await ScriptedOrigin.withOrigins([platform, outsider]) {
            platform.answer("/rec.mp3", .redirect(to: outsider.url("/internal/metadata")))
            outsider.answer("/internal/metadata", .audio(RecordingTests.fakeMP3))
            try await RecordingTests.withStore { root, catalog in
                let client = try Self.client(platform: platform, allowed: [platform])
                let (outcome, job) = try await Self.fetchOnce(
                    platform.url("/rec.mp3"),
                    client: client,
                    root: root,
                    catalog: catalog,
                    callSid: "CAredir"
                )

                guard case .refused(let reason) = outcome.result else {
                    Issue.record("expected a refusal, got \(outcome.result)")
                    return
                }
                #expect(reason.contains("redirect"), "\(reason)")
                #expect(outsider.requests.isEmpty, "the disallowed host was reached: \(outsider.requests)")
                #expect(platform.requests.count == 1)
                try await Self.expectRefusalAudited(
                    catalog,
                    callSid: "CAredir",
                    job: job,
                    mentioning: outsider.authority
                )
            }
        }
    }

    @Test func chainThroughADisallowedHostToAnAllowedOneIsRefusedAndAudited() async throws {
        let platform = ScriptedOrigin()
        let outsider = ScriptedOrigin(host: "127.0.0.2")
        let store = ScriptedOrigin()
        try await ScriptedOrigin.withOrigins([platform, outsider, store]) {
            platform.answer("/rec.mp3", .redirect(to: outsider.url("/bounce")))
            outsider.answer("/bounce", .redirect(to: store.url("/rec.mp3"), status: 307))
            store.answer("/rec.mp3", .audio(RecordingTests.fakeMP3))
            try await RecordingTests.withStore { root, catalog in
                let client = try Self.client(platform: platform, allowed: [platform, store])
                let (outcome, job) = try await Self.fetchOnce(
                    platform.url("/rec.mp3"),
                    client: client,
                    root: root,
                    catalog: catalog,
                    callSid: "CAchain"
                )

                guard case .refused = outcome.result else {
                    Issue.record("a chain through a disallowed host was accepted: \(outcome.result)")
                    return
                }
                #expect(outsider.requests.isEmpty)
                #expect(store.requests.isEmpty)
                try await Self.expectRefusalAudited(
                    catalog,
                    callSid: "CAchain",
                    job: job,
                    mentioning: outsider.authority
                )
                #expect(try await catalog.verifyAuditChain().problems.isEmpty)
            }
        }
    }

    @Test func sameOriginRedirectIsFollowedWithCredentials() async throws {
        let platform = ScriptedOrigin()
        try await ScriptedOrigin.withOrigins([platform]) {
            platform.answer("/rec.mp3", .redirect(to: "/stored/rec.mp3", status: 301))
            platform.answer("/stored/rec.mp3", .audio(RecordingTests.fakeMP3))
            try await RecordingTests.withStore { root, catalog in
                let client = try Self.client(platform: platform, allowed: [platform])
                let (outcome, job) = try await Self.fetchOnce(
                    platform.url("/rec.mp3"),
                    client: client,
                    root: root,
                    catalog: catalog,
                    callSid: "CAsame"
                )

                guard case .stored = outcome.result else {
                    Issue.record("expected the recording stored, got \(outcome.result)")
                    return
                }
                #expect(job.state == .done)
                #expect(platform.requests.map(\.path) == ["/rec.mp3", "/stored/rec.mp3"])
                #expect(
                    platform.requests.allSatisfy { $0.authorization == RecordingTests.credentials.basicAuthorization }
                )
                let audit = try await catalog.auditEntries(callSid: "CAsame").filter { $0.action == "download" }
                #expect(audit.first?.detail.contains("/stored/rec.mp3") == true, "the redirect is in the audit entry")
            }
        }
    }

    @Test func crossOriginAllowedRedirectIsFollowedWithoutCredentials() async throws {
        let platform = ScriptedOrigin()
        let store = ScriptedOrigin()
        try await ScriptedOrigin.withOrigins([platform, store]) {
            platform.answer("/rec.mp3", .redirect(to: store.url("/bucket/rec.mp3")))
            store.answer("/bucket/rec.mp3", .audio(RecordingTests.fakeMP3))
            try await RecordingTests.withStore { root, catalog in
                let client = try Self.client(platform: platform, allowed: [platform, store])
                let (outcome, _) = try await Self.fetchOnce(
                    platform.url("/rec.mp3"),
                    client: client,
                    root: root,
                    catalog: catalog,
                    callSid: "CAcross"
                )

                guard case .stored = outcome.result else {
                    Issue.record("expected the recording stored, got \(outcome.result)")
                    return
                }
                #expect(platform.requests.first?.authorization == RecordingTests.credentials.basicAuthorization)
                #expect(store.requests.count == 1)
                #expect(store.requests.first?.authorization == nil, "credentials left their origin")
            }
        }
    }

    @Test func redirectLoopsAreBounded() async throws {
        let platform = ScriptedOrigin()
        try await ScriptedOrigin.withOrigins([platform]) {
            platform.answer("/a", .redirect(to: "/b"))
            platform.answer("/b", .redirect(to: "/a"))
            try await RecordingTests.withStore { root, catalog in
                let client = try Self.client(platform: platform, allowed: [platform])
                let (outcome, job) = try await Self.fetchOnce(
                    platform.url("/a"),
                    client: client,
                    root: root,
                    catalog: catalog,
                    callSid: "CAloop"
                )

                guard case .refused(let reason) = outcome.result else {
                    Issue.record("expected a refusal, got \(outcome.result)")
                    return
                }
                #expect(reason.contains("more than \(ExotelClient.maximumRecordingRedirects) redirects"))
                #expect(platform.requests.count == ExotelClient.maximumRecordingRedirects + 1)
                #expect(job.state == .refused)
            }
        }
    }
}
