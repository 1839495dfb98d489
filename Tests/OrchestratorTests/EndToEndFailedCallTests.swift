import Catalog
import ExotelKit
import ExotelSimulator
import Foundation
import MediaStore
import Orchestrator
import Testing

/// Issue 4's acceptance, for calls nobody talked on: the full status history (placed, then what the callbacks
/// said), and no media: no stream, no recording, no download job; the call's folder holds `call.json` only.
@Suite("End to end: calls that fail", .timeLimit(.minutes(2)))
struct EndToEndFailedCallTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var from: String
        var to: String
        var streamBegin: StreamBegin
        /// The call's final status.
        var status: String
        /// Statuses the callbacks report (answered callbacks say `in-progress`), compared in any order.
        var callbackStatuses: [String]

        var testDescription: String { "\(self.from)→\(self.to): \(self.status)" }
    }

    static let cases = [
        // Leg 1 never answers: leg 2 is never dialled, no stream whatever StreamBegin says.
        Case(
            from: "+919800000001",
            to: "+919800000101",
            streamBegin: .leg1Connect,
            status: "busy",
            callbackStatuses: ["busy"]
        ),
        Case(
            from: "+919800000002",
            to: "+919800000102",
            streamBegin: .leg1Connect,
            status: "no-answer",
            callbackStatuses: ["no-answer"]
        ),
        Case(
            from: "+919800000003",
            to: "+919800000103",
            streamBegin: .leg1Connect,
            status: "failed",
            callbackStatuses: ["failed"]
        ),
        // Leg 1 answers, leg 2 is busy: the answered callback, then the terminal one; with StreamBegin at leg 2
        // nothing was ever streamed.
        Case(
            from: "+919800000004",
            to: "+919800000104",
            streamBegin: .leg2Connect,
            status: "busy",
            callbackStatuses: ["in-progress", "busy"]
        ),
    ]

    static let scenario = Scenario(
        rules: [
            ScenarioRule(number: "+919800000001", outcome: .busy, ringSeconds: 1),
            ScenarioRule(number: "+919800000002", outcome: .noAnswer),
            ScenarioRule(number: "+919800000003", outcome: .failed, ringSeconds: 1),
            ScenarioRule(number: "+919800000104", outcome: .busy, ringSeconds: 2),
        ],
        defaultRingSeconds: 2,
        defaultTalkSeconds: 4
    )

    @Test(arguments: CatalogTestBackend.all) func callsWithoutAConversationHaveTheirStatusHistoryAndNoMedia(
        backend: CatalogTestBackend
    ) async throws {
        try await PipelineHarness.run(.init(rate: 20, scenario: Self.scenario, timeOut: 6), backend: backend) {
            harness in
            var placed: [(Case, String)] = []
            for item in Self.cases {
                let order = CallOrder(from: item.from, destination: .number(item.to), streamBegin: item.streamBegin)
                placed.append((item, try await harness.place(order).callSid))
            }
            for (_, sid) in placed { try await harness.settle(sid) }
            await harness.platform.waitUntilIdle()
            for (item, sid) in placed {
                let label = Comment(rawValue: "\(item.testDescription) (\(sid))")
                let record = try #require(try await harness.catalog.call(sid: sid))
                #expect(record.status == item.status, label)
                #expect(record.recordingURL == nil, label)
                #expect(record.terminalAt != nil, label)

                let history = try await harness.catalog.statusHistory(callSid: sid)
                #expect(history.first?.source == .placed, label)
                #expect(history.dropFirst().map(\.status).sorted() == item.callbackStatuses.sorted(), label)
                #expect(history.dropFirst().allSatisfy { $0.source == .callback }, label)
                let callbacks = try await harness.catalog.callbacks(callSid: sid)
                #expect(callbacks.compactMap(\.status).sorted() == item.callbackStatuses.sorted(), label)
                #expect(callbacks.allSatisfy { ($0.recordingURL ?? "").isEmpty }, label)

                #expect(try await harness.catalog.streams(callSid: sid).isEmpty, label)
                #expect(try await harness.catalog.recordings(callSid: sid).isEmpty, label)
                #expect(try await harness.catalog.mediaFiles(callSid: sid).isEmpty, label)
                #expect(try await harness.catalog.downloadJobs(callSid: sid).isEmpty, label)
                #expect(
                    await harness.platform.recording(accountSid: PipelineHarness.account.sid, callSid: sid) == nil,
                    label
                )

                let directory = try await harness.callDirectory(sid)
                #expect(PipelineHarness.files(in: directory) == ["call.json"], label)
                let sidecar = try CallSidecar.load(from: "\(directory)/call.json")
                #expect(sidecar.statusHistory.map(\.status) == history.map(\.status), label)
                #expect(sidecar.callbacks.count == item.callbackStatuses.count, label)
            }
        }
    }
}
