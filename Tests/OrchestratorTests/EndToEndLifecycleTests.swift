import Catalog
import ExotelKit
import Orchestrator
import Testing

/// The pipeline's services as `exorec serve` runs them: a graceful stop (SIGTERM) must be a clean stop.
@Suite("End to end: pipeline lifecycle", .timeLimit(.minutes(2)))
struct EndToEndLifecycleTests {
    /// `ExorecPipeline.serviceConfigurations` in a `ServiceGroup` (as `Serve.run` builds it), stopped gracefully
    /// after a call: the group must not report an error. The ingest server stops first and ends its event stream;
    /// the stream cataloguer (first in the list, not yet told to stop) then returns on its own. When it did so
    /// on its own, `ServiceGroup` threw `serviceFinishedUnexpectedly` whenever it saw that return while it waited for
    /// the fetcher or the reconciler (most stops), and `exorec serve` exited 1 after a clean SIGTERM. Several stops,
    /// because it is a race.
    @Test(arguments: CatalogTestBackend.all) func aGracefulStopOfThePipelineReportsNoError(
        backend: CatalogTestBackend
    ) async throws {
        var failures: [String] = []
        for attempt in 1...6 {
            let error = try await PipelineHarness.run(.init(rate: 20), backend: backend) { harness in
                let call = try await harness.place(
                    CallOrder(from: "+919900000101", destination: .number("+919900000201"))
                )
                try await harness.settle(call.callSid)
                try await harness.stop()
                return harness.shutdownError
            }
            if let error { failures.append("stop \(attempt): \(error)") }
        }
        #expect(failures.isEmpty, "\(failures.count) of 6 graceful stops failed: \(failures.first ?? "")")
    }
}
