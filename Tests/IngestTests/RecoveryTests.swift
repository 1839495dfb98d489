import ExorecTesting
import Foundation
import Ingest
import Logging
import Testing

@testable import MediaStore

/// Crash repair (MediaStore's `StorageRecovery`), checked on files whose writer "died": the recorder is
/// abandoned without finish, exactly what a `kill -9` leaves behind.
@Suite struct RecoveryTests {
    private func identity(_ stream: String) throws -> StreamIdentity {
        .init(
            account: try PathSafeIdentifier("acct", field: "account"),
            callSid: try PathSafeIdentifier("CA1", field: "call"),
            streamSid: try PathSafeIdentifier(stream, field: "stream"),
            from: "+1",
            to: "+2",
            customParameters: [:],
            queryParameters: [:]
        )
    }

    /// Writes `frames` frames into a recorder, flushes them to the kernel and leaves the file open.
    private func abandonedRecording(
        root: String,
        stream: String,
        channels: Int,
        frames: Int
    ) throws -> (StreamRecorder, [Int16]) {
        let recorder = try StreamRecorder(
            layout: StorageLayout(root: root),
            identity: try self.identity(stream),
            sampleRate: 8000,
            startedAt: .now(),
            configuration: .init(),
            exorecVersion: "test"
        )
        try recorder.setChannels(channels)
        var written: [Int16] = []
        for f in 0..<frames {
            for channel in 0..<channels {
                let pcm = (0..<800).map { Int16(truncatingIfNeeded: f * 1000 + $0 + channel * 7) }
                pcm.withUnsafeBufferPointer {
                    _ = recorder.append(channel: channel, timestampMs: Int64(f * 100), chunk: nil, samples: $0)
                }
            }
        }
        recorder.flush()
        for i in 0..<(frames * 800) {
            for channel in 0..<channels {
                written.append(Int16(truncatingIfNeeded: (i / 800) * 1000 + i % 800 + channel * 7))
            }
        }
        return (recorder, written)
    }

    @Test(arguments: [1, 2])
    func interruptedStreamIsRepairedCompletelyAndMarked(channels: Int) async throws {
        let root = makeTemporaryDirectory()
        let (recorder, written) = try self.abandonedRecording(
            root: root,
            stream: "s\(channels)",
            channels: channels,
            frames: 5
        )
        // Tear the last sample frame in half, as a crash mid-write can.
        let fd = open(recorder.wavPath, O_WRONLY | O_APPEND)
        _ = write(fd, [UInt8(1)], 1)
        close(fd)

        let repaired = StorageRecovery(layout: StorageLayout(root: root), logger: Logger(label: "test"))
            .repairInterruptedStreams()
        #expect(repaired.map(\.wavPath) == [recorder.wavPath])
        #expect(repaired.first?.truncatedBytes == 1)

        let sidecar = try StreamSidecar.load(from: recorder.sidecarPath)
        #expect(sidecar.state == .interrupted)
        #expect(sidecar.frames == 4000)
        #expect(sidecar.channels == channels)
        #expect(try FileSystem.sha256(of: recorder.wavPath) == sidecar.sha256)
        let file = try SoundFile.open(readingFrom: recorder.wavPath)
        defer { try? file.close() }
        #expect(file.info.frames == 4000)
        #expect(file.readAll() == written)
        let outside = try await OutsideReader.soundfile(recorder.wavPath)
        #expect(outside.frames == 4000 && outside.channels == channels)
        // The test's own handle; the file is already repaired.
        _ = recorder.finish(closeReason: "test", endedAt: .now())
    }

    @Test func streamThatDiedBeforeAnyAudioGetsAnEmptyValidWav() async throws {
        let root = makeTemporaryDirectory()
        let recorder = try StreamRecorder(
            layout: StorageLayout(root: root),
            identity: try self.identity("early"),
            sampleRate: 16000,
            startedAt: .now(),
            configuration: .init(),
            exorecVersion: "test"
        )
        let repaired = StorageRecovery(layout: StorageLayout(root: root), logger: Logger(label: "test"))
            .repairInterruptedStreams()
        #expect(repaired.count == 1)
        let outside = try await OutsideReader.soundfile(recorder.wavPath)
        #expect(outside.frames == 0 && outside.sampleRate == 16000)
        #expect(try StreamSidecar.load(from: recorder.sidecarPath).state == .interrupted)
        _ = recorder.finish(closeReason: "test", endedAt: .now())
    }

    @Test func finishedStreamsAreLeftAlone() throws {
        let root = makeTemporaryDirectory()
        let (recorder, _) = try self.abandonedRecording(root: root, stream: "done", channels: 1, frames: 2)
        let sidecar = recorder.finish(closeReason: "stop:callended", endedAt: .now())
        _ = try StreamFinalizer.finalize(sidecar, wavPath: recorder.wavPath, sidecarPath: recorder.sidecarPath)
        let before = try FileSystem.read(recorder.sidecarPath)
        #expect(
            StorageRecovery(layout: StorageLayout(root: root), logger: Logger(label: "test")).repairInterruptedStreams()
                .isEmpty
        )
        #expect(try FileSystem.read(recorder.sidecarPath) == before)
        #expect(try StreamSidecar.load(from: recorder.sidecarPath).state == .complete)
    }

    @Test func storageLockAllowsOneWriter() throws {
        let layout = StorageLayout(root: makeTemporaryDirectory())
        let first = try StorageLock(layout: layout)
        #expect(throws: MediaError.storageLocked(path: layout.root)) { _ = try StorageLock(layout: layout) }
        withExtendedLifetime(first) {}
    }

    @Test(arguments: ["", "..", "a/b", "-x", "a b", String(repeating: "a", count: 129), "ok\u{0}"])
    func identifiersThatCannotBePathComponentsAreRefused(value: String) {
        #expect(throws: MediaError.self) { _ = try PathSafeIdentifier(value, field: "call_sid") }
    }

    @Test(arguments: ["CA1", "6f048d2e897a0d2d4029560f3f541947", "acct_1-x", String(repeating: "a", count: 128)])
    func validIdentifiersAreAccepted(value: String) throws {
        #expect(try PathSafeIdentifier(value, field: "call_sid").value == value)
    }

    @Test func timestampsRoundTripThroughTheSidecarFormat() throws {
        let t = Timestamp(millisecondsSinceEpoch: 1_795_449_268_123)
        #expect(t.description == "2026-11-23T15:54:28.123Z")
        #expect(try Timestamp(iso8601: t.description) == t)
    }
}
