import Foundation

/// Finds each stream's WAV file under a directory tree by the `stream_sid` in its file name.
///
/// Servers lay files out differently (exorec: `media/<account>/<date>/<call>/stream-<sid>.wav`,
/// the peers: `<call>_<sid>.wav`); what they share is that the name contains the stream_sid.
struct WavLocator {
    let runID: RunID

    /// Paths of `.wav` files under `directory`, by the index of the stream whose sid their name contains.
    func locate(in directory: String, streams: Set<Int>) -> [Int: [String]] {
        let prefix = Array(self.runID.description.utf8)
        var found: [Int: [String]] = [:]
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return found }
        while let relative = walker.nextObject() as? String {
            guard relative.lowercased().hasSuffix(".wav") else { continue }
            let name = Array((relative as NSString).lastPathComponent.utf8)
            for index in self.streamIndices(in: name, runPrefix: prefix) where streams.contains(index) {
                found[index, default: []].append((directory as NSString).appendingPathComponent(relative))
            }
        }
        return found
    }

    /// Stream indices of every `<run id>5<15 hex digits>` sid in `name`.
    ///
    /// The call_sid shares the run-id prefix but has `c` where the stream_sid has `5`, so a
    /// `<call_sid>_<stream_sid>` name yields the stream once.
    private func streamIndices(in name: [UInt8], runPrefix: [UInt8]) -> [Int] {
        let sidLength = 32
        guard name.count >= sidLength else { return [] }
        var indices: [Int] = []
        var start = 0
        while start + sidLength <= name.count {
            if name[start..<start + runPrefix.count].elementsEqual(runPrefix),
                name[start + runPrefix.count] == UInt8(ascii: "5"),
                let index = Int(
                    String(decoding: name[(start + runPrefix.count + 1)..<(start + sidLength)], as: UTF8.self),
                    radix: 16
                )
            {
                indices.append(index)
                start += sidLength
            } else {
                start += 1
            }
        }
        return indices
    }
}
