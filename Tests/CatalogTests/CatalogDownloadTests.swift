import Catalog
import MediaStore
import Testing

@Suite(.timeLimit(.minutes(1)))
struct CatalogDownloadTests {
    static let url = "https://recordings.example/acme/CA1.mp3"

    @Test(arguments: CatalogTestBackend.all) func enqueueIsIdempotent(backend: CatalogTestBackend) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            let first = try await catalog.enqueueDownload(callSid: "CA1", url: Self.url, notBefore: at(60), at: t0)
            let second = try await catalog.enqueueDownload(callSid: "CA1", url: Self.url, notBefore: at(999), at: at(5))
            #expect(first.isNew)
            #expect(!second.isNew)
            #expect(second.job == first.job)
            #expect(first.job.state == .queued)
            #expect(first.job.attempts == 0)
            #expect(first.job.nextAttemptAt == at(60))
            #expect(try await catalog.downloadJobs().count == 1)
            #expect(
                try await catalog.enqueueDownload(callSid: "CA1", url: Self.url + "?v=2", notBefore: t0, at: t0).isNew
            )
        }
    }

    /// Not before its time; then claimed once; a second claim finds nothing while the lease holds.
    @Test(arguments: CatalogTestBackend.all) func claimRespectsScheduleAndLease(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            _ = try await catalog.enqueueDownload(callSid: "CA1", url: Self.url, notBefore: at(60), at: t0)
            #expect(try await catalog.claimNextDownload(now: at(59), lease: .seconds(30)) == nil)
            let job = try #require(try await catalog.claimNextDownload(now: at(60), lease: .seconds(30)))
            #expect(job.state == .running)
            #expect(job.attempts == 1)
            #expect(job.leaseUntil == at(90))
            #expect(job.claimToken != nil)
            #expect(try await catalog.claimNextDownload(now: at(89), lease: .seconds(30)) == nil)

            try await catalog.completeDownload(job, at: at(70))
            #expect(try await catalog.downloadJob(id: job.id)?.state == .done)
            #expect(try await catalog.claimNextDownload(now: at(1000), lease: .seconds(30)) == nil)
        }
    }

    /// A worker that dies leaves its job running; once the lease expires another claims it, and the dead
    /// worker's late completion is refused.
    /// A renewed lease keeps the job from other workers; once another claim took it, renewing fails.
    @Test(arguments: CatalogTestBackend.all) func renewedLeaseHoldsAndALostOneCannotBeRenewed(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            _ = try await catalog.enqueueDownload(callSid: "CA1", url: Self.url, notBefore: t0, at: t0)
            let job = try #require(try await catalog.claimNextDownload(now: at(0), lease: .seconds(30)))
            try await catalog.renewDownloadLease(job, until: at(70), at: at(20))
            #expect(try await catalog.claimNextDownload(now: at(60), lease: .seconds(30)) == nil, "renewed until 70")
            #expect(try await catalog.downloadJob(id: job.id)?.leaseUntil == at(70))
            let taken = try #require(try await catalog.claimNextDownload(now: at(70), lease: .seconds(30)))
            #expect(taken.id == job.id && taken.claimToken != job.claimToken)
            await #expect(throws: CatalogError.leaseLost(id: job.id)) {
                try await catalog.renewDownloadLease(job, until: at(200))
            }
            try await catalog.renewDownloadLease(taken, until: at(130))
        }
    }

    @Test(arguments: CatalogTestBackend.all) func expiredLeaseIsClaimedAgain(backend: CatalogTestBackend) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            _ = try await catalog.enqueueDownload(callSid: "CA1", url: Self.url, notBefore: t0, at: t0)
            let first = try #require(try await catalog.claimNextDownload(now: t0, lease: .seconds(30)))
            let second = try #require(try await catalog.claimNextDownload(now: at(30), lease: .seconds(30)))
            #expect(second.id == first.id)
            #expect(second.attempts == 2)
            #expect(second.claimToken != first.claimToken)
            await #expect(throws: CatalogError.leaseLost(id: first.id)) {
                try await catalog.completeDownload(first, at: at(31))
            }
            try await catalog.completeDownload(second, at: at(32))
            await #expect(throws: CatalogError.leaseLost(id: second.id)) {
                try await catalog.completeDownload(second, at: at(33))
            }
        }
    }

    /// The queue survives a restart: a job claimed by a process that then died is claimable from a new one.
    @Test(arguments: CatalogTestBackend.all) func pendingJobSurvivesRestart(backend: CatalogTestBackend) async throws {
        try await withTestCatalogLocation(backend) { path async throws in
            try await Catalog.withCatalog(path: path, logger: testLogger) { catalog async throws in
                _ = try await catalog.enqueueDownload(callSid: "CA1", url: Self.url, notBefore: t0, at: t0)
                _ = try #require(try await catalog.claimNextDownload(now: t0, lease: .seconds(60)))
            }
            try await Catalog.withCatalog(path: path, logger: testLogger) { catalog async throws in
                #expect(try await catalog.claimNextDownload(now: at(59), lease: .seconds(60)) == nil)
                let job = try #require(try await catalog.claimNextDownload(now: at(60), lease: .seconds(60)))
                #expect(job.attempts == 2)
            }
        }
    }

    @Test(arguments: CatalogTestBackend.all) func retryFailAndRefuse(backend: CatalogTestBackend) async throws {
        try await withTestCatalog(backend) { catalog, _ async throws in
            let a = try await catalog.enqueueDownload(callSid: "CA1", url: Self.url, notBefore: t0, at: t0).job
            let b = try await catalog.enqueueDownload(callSid: "CA2", url: Self.url, notBefore: at(1), at: t0).job
            let c = try await catalog.enqueueDownload(callSid: "CA3", url: Self.url, notBefore: at(2), at: t0).job

            let claimedA = try #require(try await catalog.claimNextDownload(now: at(10), lease: .seconds(30)))
            #expect(claimedA.id == a.id)
            try await catalog.retryDownload(claimedA, at: at(100), error: "HTTP 404 (recording not ready)", now: at(11))
            var stored = try #require(try await catalog.downloadJob(id: a.id))
            #expect(stored.state == .queued)
            #expect(stored.nextAttemptAt == at(100))
            #expect(stored.lastError == "HTTP 404 (recording not ready)")
            #expect(stored.leaseUntil == nil)
            #expect(stored.claimToken == nil)

            let claimedB = try #require(try await catalog.claimNextDownload(now: at(12), lease: .seconds(30)))
            #expect(claimedB.id == b.id)
            try await catalog.failDownload(claimedB, error: "5 attempts failed", at: at(13))
            #expect(try await catalog.downloadJob(id: b.id)?.state == .failed)

            let claimedC = try #require(try await catalog.claimNextDownload(now: at(14), lease: .seconds(30)))
            #expect(claimedC.id == c.id)
            try await catalog.refuseDownload(claimedC, reason: "HTTP 403", at: at(15))
            stored = try #require(try await catalog.downloadJob(id: c.id))
            #expect(stored.state == .refused)
            #expect(stored.lastError == "HTTP 403")

            #expect(try await catalog.claimNextDownload(now: at(99), lease: .seconds(30)) == nil)
            let again = try #require(try await catalog.claimNextDownload(now: at(100), lease: .seconds(30)))
            #expect(again.id == a.id)
            #expect(again.attempts == 2)
            #expect(try await catalog.downloadJobs(state: .queued).isEmpty)
            #expect(try await catalog.downloadJobs(callSid: "CA2").map(\.id) == [b.id])

            var unknown = again
            unknown.id = 999
            await #expect(throws: CatalogError.unknownDownload(id: 999)) { try await catalog.completeDownload(unknown) }
        }
    }

    /// Many workers on one catalog: each job is handed out exactly once.
    @Test(arguments: CatalogTestBackend.all) func concurrentClaimsOnOneCatalog(backend: CatalogTestBackend) async throws
    {
        try await withTestCatalog(backend) { catalog, _ async throws in
            let ids = try await Self.claimConcurrently(jobs: 40, catalogs: [catalog], workersEach: 16)
            #expect(ids.count == 40)
            #expect(Set(ids).count == 40)
        }
    }

    /// Workers on two connections to the same file (as two processes or nodes would be): still exactly once.
    @Test(arguments: CatalogTestBackend.all) func concurrentClaimsAcrossConnections(
        backend: CatalogTestBackend
    ) async throws {
        try await withTestCatalog(backend) { first, path async throws in
            let second = try await Catalog.open(path: path, logger: testLogger)
            do {
                let ids = try await Self.claimConcurrently(jobs: 40, catalogs: [first, second], workersEach: 8)
                #expect(ids.count == 40)
                #expect(Set(ids).count == 40)
                try await second.close()
            } catch {
                try? await second.close()
                throw error
            }
        }
    }

    /// Enqueues `jobs` jobs through the first catalog, then lets every worker claim until nothing is left.
    static func claimConcurrently(jobs: Int, catalogs: [Catalog], workersEach: Int) async throws -> [Int64] {
        for index in 0..<jobs {
            _ = try await catalogs[0].enqueueDownload(callSid: "CA\(index)", url: Self.url, notBefore: t0, at: t0)
        }
        return try await withThrowingTaskGroup(of: [Int64].self) { group in
            for catalog in catalogs {
                for _ in 0..<workersEach {
                    group.addTask {
                        var mine: [Int64] = []
                        while let job = try await catalog.claimNextDownload(now: at(1), lease: .seconds(600)) {
                            mine.append(job.id)
                            await Task.yield()
                        }
                        return mine
                    }
                }
            }
            var all: [Int64] = []
            for try await ids in group { all += ids }
            return all
        }
    }
}
