import ExorecTesting
import Foundation
import Ingest
import Logging
import Testing

@testable import MediaStore

/// Several nodes on one storage root: each locks the root as itself, and start-up repair touches only the
/// open streams of the node that runs it (another node's may be live).
@Suite struct NodeStorageTests {
    @Test func nodesShareARootButNotANodeId() throws {
        let layout = StorageLayout(root: makeTemporaryDirectory())
        let alpha = try StorageLock(layout: layout, node: "alpha")
        let beta = try StorageLock(layout: layout, node: "beta")
        #expect(throws: MediaError.nodeLocked(path: layout.root, node: "alpha")) {
            _ = try StorageLock(layout: layout, node: "alpha")
        }
        // The whole-root lock (catalog rebuild) waits for every node, and no node starts while it is held.
        #expect(throws: MediaError.storageLocked(path: layout.root)) { _ = try StorageLock(layout: layout) }
        withExtendedLifetime((alpha, beta)) {}
    }

    @Test func aNodeCannotStartWhileTheWholeRootIsLocked() throws {
        let layout = StorageLayout(root: makeTemporaryDirectory())
        do {
            let whole = try StorageLock(layout: layout)
            #expect(throws: MediaError.storageLocked(path: layout.root)) {
                _ = try StorageLock(layout: layout, node: "a")
            }
            withExtendedLifetime(whole) {}
        }
        // Released with the lock: the node starts now.
        _ = try StorageLock(layout: layout, node: "a")
    }

    @Test(arguments: ["", "../x", "a/b", ".hidden", "a b"])
    func aNodeIdThatCannotNameALockFileIsRefused(node: String) throws {
        let layout = StorageLayout(root: makeTemporaryDirectory())
        #expect(throws: MediaError.self) { _ = try StorageLock(layout: layout, node: node) }
        #expect(!FileManager.default.fileExists(atPath: layout.root + "/.exorec-node-\(node).lock") || node.isEmpty)
    }

    /// An open stream of another node is left alone; this node's and one from before nodes are repaired.
    @Test func repairTouchesOnlyThisNodesStreams() throws {
        let root = makeTemporaryDirectory()
        let layout = StorageLayout(root: root)
        var sidecars: [String: String] = [:]
        for (stream, node) in [("MZalpha", "alpha"), ("MZbeta", "beta"), ("MZold", nil)] as [(String, String?)] {
            let recorder = try openTestRecorder(layout: layout, stream: stream, startedAt: .now())
            let pcm = [Int16](repeating: 7, count: 800)
            pcm.withUnsafeBufferPointer {
                _ = recorder.append(channel: 0, timestampMs: 0, chunk: nil, samples: $0)
            }
            recorder.flush()
            var sidecar = try StreamSidecar.load(from: recorder.sidecarPath)
            sidecar.node = node
            try sidecar.write(to: recorder.sidecarPath, durable: false)
            sidecars[stream] = recorder.sidecarPath
        }
        let repaired = StorageRecovery(layout: layout, logger: Logger(label: "test"))
            .repairInterruptedStreams(node: "alpha")
        #expect(repaired.count == 2)
        #expect(try StreamSidecar.load(from: sidecars["MZalpha"]!).state == .interrupted)
        #expect(try StreamSidecar.load(from: sidecars["MZold"]!).state == .interrupted)
        #expect(try StreamSidecar.load(from: sidecars["MZbeta"]!).state == .recording)
    }
}
