import Catalog
import ExotelKit
import ExotelSimulator
import Foundation
import MediaStore
import Orchestrator
import Testing

/// Issue 4's acceptance, for calls that complete: every call placed through the pipeline ends with a complete
/// stream WAV and the platform's recording on disk, catalogued with checksums that match the files, read-only,
/// described by their sidecars, and each leg's audio where it belongs.
@Suite("End to end: completed calls", .timeLimit(.minutes(3)))
struct EndToEndCompletedCallTests {
    /// One way of placing a call; the matrix covers both stream starts, both recording layouts and both callback
    /// encodings.
    struct Variant: Sendable, CustomTestStringConvertible {
        var from: String
        var to: String
        var streamBegin: StreamBegin
        var channels: RecordingChannels
        var callbacks: CallbackContentType

        var testDescription: String {
            "\(self.streamBegin == .leg1Connect ? "leg1" : "leg2") \(self.channels.rawValue) \(self.callbacks == .json ? "json" : "multipart")"
        }
    }

    static let variants = [
        Variant(
            from: "+919900000011",
            to: "+919900000021",
            streamBegin: .leg1Connect,
            channels: .dual,
            callbacks: .multipart
        ),
        Variant(
            from: "+919900000012",
            to: "+919900000022",
            streamBegin: .leg2Connect,
            channels: .dual,
            callbacks: .json
        ),
        Variant(
            from: "+919900000013",
            to: "+919900000023",
            streamBegin: .leg1Connect,
            channels: .single,
            callbacks: .json
        ),
        Variant(
            from: "+919900000014",
            to: "+919900000024",
            streamBegin: .leg2Connect,
            channels: .single,
            callbacks: .multipart
        ),
    ]

    @Test(arguments: CatalogTestBackend.all)
    func everyCompletedCallHasItsStreamAndItsRecordingCataloguedWithMatchingChecksums(
        backend: CatalogTestBackend
    ) async throws {
        try await PipelineHarness.run(.init(rate: 20), backend: backend) { harness in
            var placed: [(Variant, PlacedCall)] = []
            for variant in Self.variants {
                let order = CallOrder(
                    from: variant.from,
                    destination: .number(variant.to),
                    customField: "e2e-\(variant.testDescription)",
                    streamBegin: variant.streamBegin,
                    recordingChannels: variant.channels,
                    statusCallbackContentType: variant.callbacks
                )
                placed.append((variant, try await harness.place(order)))
            }
            for (_, call) in placed { try await harness.settle(call.callSid) }
            for (variant, call) in placed {
                try await self.check(call.callSid, variant, in: harness)
            }
        }
    }

    private func check(_ callSid: String, _ variant: Variant, in harness: PipelineHarness) async throws {
        let catalog = harness.catalog
        let label = Comment(rawValue: "\(variant.testDescription) (\(callSid))")
        let plan = try #require(await harness.platform.plan(ofCall: callSid))
        let record = try #require(try await catalog.call(sid: callSid))
        #expect(record.status == "completed", label)
        #expect(record.customField == "e2e-\(variant.testDescription)", label)

        // Status: placed, then the two answered callbacks and the terminal one, in the requested encoding.
        let history = try await catalog.statusHistory(callSid: callSid)
        // (Arrival order: the terminal callback normally comes last, but nothing here depends on it.)
        #expect(history.map(\.source) == [.placed, .callback, .callback, .callback], label)
        #expect(history.map(\.status).sorted() == ["completed", "in-progress", "in-progress", "in-progress"], label)
        let callbacks = try await catalog.callbacks(callSid: callSid)
        #expect(callbacks.count == 3, label)
        #expect(callbacks.allSatisfy { $0.deliveries == 1 && !$0.unknownCall }, label)
        let expectedType = variant.callbacks == .json ? "application/json" : "multipart/form-data"
        #expect(
            callbacks.allSatisfy { $0.contentType.hasPrefix(expectedType) },
            "\(callbacks.map(\.contentType)) \(label)"
        )

        // One recording download, done, from the URL the platform gave.
        let platformRecording = try #require(
            await harness.platform.recording(accountSid: PipelineHarness.account.sid, callSid: callSid)
        )
        let jobs = try await catalog.downloadJobs(callSid: callSid)
        #expect(jobs.count == 1, label)
        #expect(jobs.first?.state == .done, label)
        #expect(jobs.first?.url == record.recordingURL, label)

        // The folder holds exactly the call's sidecar, one stream and one recording, each with its sidecar.
        let directory = try await harness.callDirectory(callSid)
        let streams = try await catalog.streams(callSid: callSid)
        #expect(streams.count == 1, label)
        let stream = try #require(streams.first)
        let streamName = "stream-\(stream.streamSid)"
        #expect(
            PipelineHarness.files(in: directory)
                == ["call.json", "recording.json", "recording.mp3", "\(streamName).json", "\(streamName).wav"].sorted(),
            label
        )

        // media_files: one row per file, complete, with the hash and size of the file as it is on disk now.
        let media = try await catalog.mediaFiles(callSid: callSid)
        #expect(Set(media.map(\.kind)) == [.stream, .recording], label)
        #expect(media.count == 2, label)
        for file in media {
            let path = harness.absolute(file.path)
            #expect(file.state == .complete, "\(file.path) \(label)")
            #expect(file.sha256 == (try PipelineHarness.freshSHA256(path)), "\(file.path) \(label)")
            #expect(
                file.bytes == (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value,
                "\(file.path)"
            )
            #expect(PipelineHarness.isReadOnly(path), "\(file.path) must be read-only")
        }

        // The recording is the platform's, byte for byte, and its sidecar says so.
        let recordingPath = "\(directory)/recording.mp3"
        #expect(
            try PipelineHarness.freshSHA256(recordingPath) == (try PipelineHarness.freshSHA256(platformRecording.path)),
            label
        )
        let recordingSidecar = try RecordingSidecar.load(from: "\(directory)/recording.json")
        #expect(recordingSidecar.state == .complete, label)
        #expect(recordingSidecar.sha256 == (try PipelineHarness.freshSHA256(recordingPath)), label)
        #expect(recordingSidecar.file == "recording.mp3", label)
        #expect(recordingSidecar.url == record.recordingURL, label)
        #expect(try await catalog.recordings(callSid: callSid).map(\.sha256) == [recordingSidecar.sha256], label)

        // The stream's sidecar and the catalog agree with the file.
        let streamSidecar = try StreamSidecar.load(from: "\(directory)/\(streamName).json")
        #expect(streamSidecar.state == .complete, label)
        #expect(stream.state == .complete, label)
        #expect(streamSidecar.sha256 == (try PipelineHarness.freshSHA256("\(directory)/\(streamName).wav")), label)
        #expect(streamSidecar.gapMsTotal == 0, label)

        // call.json is the catalog's story of the call.
        let callSidecar = try CallSidecar.load(from: "\(directory)/call.json")
        #expect(callSidecar.callSid == callSid, label)
        #expect(callSidecar.statusHistory.map(\.status) == history.map(\.status), label)
        #expect(callSidecar.callbacks.count == 3, label)
        #expect(
            callSidecar.request?["StreamUrl"]?.contains(PipelineHarness.streamPassword) == false,
            "no credentials in call.json"
        )

        // The stream covers the call from StreamBegin to its end, sample for sample (8 kHz mono, both legs mixed).
        let streamStart = try #require(plan.streamStart)
        let (streamInfo, streamSamples) = try PipelineHarness.samples("\(directory)/\(streamName).wav")
        #expect(streamInfo.channels == 1 && streamInfo.sampleRate == 8000, label)
        let expectedFrames = Int((plan.end - streamStart) / .milliseconds(100)) * 800
        #expect(streamSamples.count == expectedFrames, label)
        let conversationStart = try #require(plan.conversationStart)
        let inConversation = Self.seconds(conversationStart - streamStart)
        let talk = PipelineHarness.window(streamSamples, from: inConversation + 0.5, to: inConversation + 2.5)
        #expect(PipelineHarness.tonePower(talk, frequency: PipelineHarness.leg1Tone, sampleRate: 8000) > 1e5, label)
        #expect(PipelineHarness.tonePower(talk, frequency: PipelineHarness.leg2Tone, sampleRate: 8000) > 1e5, label)
        if variant.streamBegin == .leg1Connect {
            // While leg 2 rings only leg 1 is on the line.
            let ringing = PipelineHarness.window(streamSamples, from: 0.2, to: inConversation - 0.2)
            #expect(
                PipelineHarness.tonePower(ringing, frequency: PipelineHarness.leg1Tone, sampleRate: 8000) > 1e5,
                label
            )
            #expect(
                PipelineHarness.tonePower(ringing, frequency: PipelineHarness.leg2Tone, sampleRate: 8000) < 1e3,
                label
            )
        }

        // The recording covers the conversation; a dual one has leg 1 in channel 0 and leg 2 in channel 1.
        let (info, samples) = try PipelineHarness.samples(recordingPath)
        #expect(info.sampleRate == 8000, label)
        #expect(abs(Double(info.frames) / 8000 - Self.seconds(plan.end - conversationStart)) < 0.3, label)
        if variant.channels == .dual {
            #expect(info.channels == 2, label)
            #expect(recordingSidecar.channels == 2, label)
            let left = PipelineHarness.window(PipelineHarness.channel(0, of: samples, channels: 2), from: 0.5, to: 2.5)
            let right = PipelineHarness.window(PipelineHarness.channel(1, of: samples, channels: 2), from: 0.5, to: 2.5)
            let left440 = PipelineHarness.tonePower(left, frequency: PipelineHarness.leg1Tone, sampleRate: 8000)
            let left1000 = PipelineHarness.tonePower(left, frequency: PipelineHarness.leg2Tone, sampleRate: 8000)
            let right440 = PipelineHarness.tonePower(right, frequency: PipelineHarness.leg1Tone, sampleRate: 8000)
            let right1000 = PipelineHarness.tonePower(right, frequency: PipelineHarness.leg2Tone, sampleRate: 8000)
            #expect(
                left440 > 1e5 && left1000 < left440 / 100,
                "channel 0 is leg 1: 440 \(left440), 1000 \(left1000) \(label)"
            )
            #expect(
                right1000 > 1e5 && right440 < right1000 / 100,
                "channel 1 is leg 2: 440 \(right440), 1000 \(right1000) \(label)"
            )
        } else {
            #expect(info.channels == 1, label)
            let mixed = PipelineHarness.window(samples, from: 0.5, to: 2.5)
            #expect(
                PipelineHarness.tonePower(mixed, frequency: PipelineHarness.leg1Tone, sampleRate: 8000) > 1e5,
                label
            )
            #expect(
                PipelineHarness.tonePower(mixed, frequency: PipelineHarness.leg2Tone, sampleRate: 8000) > 1e5,
                label
            )
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }
}
