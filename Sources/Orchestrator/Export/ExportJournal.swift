import Foundation
import MediaStore

/// The record that makes an export resumable: `.exorec-export-journal.json` at the destination's top while
/// the export runs, removed as its very last step. Its presence marks the destination as unfinished.
///
/// It holds the request's fingerprint (only the same request resumes), the start time (the bag's
/// `Bagging-Date`, so a resumed bag is the bag the first run would have made), the calls selected by the first
/// run (a resumed export exports the same calls even if newer ones have arrived since) and every payload file
/// already written with its digest. A file is entered here after it is complete under its temporary name and
/// before it is renamed into place, so a target that exists is always in the journal.
struct ExportJournal: Codable, Sendable, Hashable {
    static let fileName = ".exorec-export-journal.json"
    static let version = 1

    var version: Int
    var fingerprint: String
    var startedAt: Timestamp
    var callSids: [String]
    /// Payload-relative target → digest.
    var files: [String: PayloadDigest]

    enum CodingKeys: String, CodingKey {
        case version, fingerprint, files
        case startedAt = "started_at", callSids = "call_sids"
    }

    static func path(in destination: String) -> String { "\(destination)/\(Self.fileName)" }

    static func load(from destination: String) throws -> ExportJournal {
        let path = Self.path(in: destination)
        do {
            let journal = try JSONDecoder().decode(ExportJournal.self, from: Data(try FileSystem.read(path)))
            guard journal.version == Self.version else {
                throw ExportError.unreadableJournal(
                    path: path,
                    reason: "version \(journal.version), this exorec writes \(Self.version)"
                )
            }
            return journal
        } catch let error as ExportError {
            throw error
        } catch {
            throw ExportError.unreadableJournal(path: path, reason: "\(error)")
        }
    }

    func save(in destination: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try FileSystem.writeAtomically(Array(try encoder.encode(self)), to: Self.path(in: destination), durable: true)
    }
}
