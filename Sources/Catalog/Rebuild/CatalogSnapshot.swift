import Foundation
import MediaStore
import SQLKit

/// Everything in a catalog that the files and sidecars determine (calls, statuses, callbacks, streams,
/// recordings, media files), keyed by natural keys rather than row ids, so two catalogs can be compared: a
/// rebuilt one with the one built as events arrived.
///
/// The download queue and the audit log are not part of it: neither can be derived from the files.
public struct CatalogSnapshot: Sendable, Hashable, Codable {
    /// By CallSid.
    public var calls: [String: CallRecord]
    /// By CallSid, in the order learnt.
    public var statusHistory: [String: [StatusChange]]
    /// By dedup key; `id` is zeroed (row ids depend on insertion order, not on content).
    public var callbacks: [String: CallbackRecord]
    /// By path.
    public var streams: [String: StreamRecord]
    /// By path.
    public var recordings: [String: RecordingRecord]
    /// By path.
    public var mediaFiles: [String: MediaFile]

    enum CodingKeys: String, CodingKey {
        case calls, callbacks, streams, recordings
        case statusHistory = "status_history", mediaFiles = "media_files"
    }

    /// Where `self` and `other` differ, table by table and key by key; empty when they hold the same content.
    public func differences(from other: CatalogSnapshot) -> [CatalogDifference] {
        var found: [CatalogDifference] = []
        Self.compare("calls", self.calls, other.calls, into: &found)
        Self.compare("call_status_history", self.statusHistory, other.statusHistory, into: &found)
        Self.compare("callbacks", self.callbacks, other.callbacks, into: &found)
        Self.compare("streams", self.streams, other.streams, into: &found)
        Self.compare("recordings", self.recordings, other.recordings, into: &found)
        Self.compare("media_files", self.mediaFiles, other.mediaFiles, into: &found)
        return found
    }

    private static func compare<Value: Codable & Equatable>(
        _ table: String,
        _ first: [String: Value],
        _ second: [String: Value],
        into found: inout [CatalogDifference]
    ) {
        for key in Set(first.keys).union(second.keys).sorted() {
            switch (first[key], second[key]) {
            case (let a?, let b?) where a != b:
                found.append(
                    CatalogDifference(table: table, key: key, kind: .changed, fields: Self.differingFields(a, b))
                )
            case (_?, nil):
                found.append(CatalogDifference(table: table, key: key, kind: .onlyInFirst, fields: []))
            case (nil, _?):
                found.append(CatalogDifference(table: table, key: key, kind: .onlyInSecond, fields: []))
            default:
                break
            }
        }
    }

    /// The top-level JSON keys whose values differ (the whole value's name when it is not an object).
    private static func differingFields<Value: Encodable>(_ a: Value, _ b: Value) -> [String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let dataA = try? encoder.encode(a), let dataB = try? encoder.encode(b),
            let objectA = try? JSONSerialization.jsonObject(with: dataA) as? [String: Any],
            let objectB = try? JSONSerialization.jsonObject(with: dataB) as? [String: Any]
        else { return ["value"] }
        return Set(objectA.keys).union(objectB.keys).sorted().filter { key in
            let valueA = objectA[key].flatMap {
                try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .fragmentsAllowed])
            }
            let valueB = objectB[key].flatMap {
                try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .fragmentsAllowed])
            }
            return valueA != valueB
        }
    }
}

/// One difference between two ``CatalogSnapshot``s.
public struct CatalogDifference: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, Codable {
        case onlyInFirst = "only-in-first"
        case onlyInSecond = "only-in-second"
        case changed
    }

    public var table: String
    public var key: String
    public var kind: Kind
    /// For `changed`: the fields that differ.
    public var fields: [String]

    public var description: String {
        switch self.kind {
        case .changed: "\(self.table)[\(self.key)]: \(self.fields.joined(separator: ", ")) differ"
        case .onlyInFirst: "\(self.table)[\(self.key)]: only in the first catalog"
        case .onlyInSecond: "\(self.table)[\(self.key)]: only in the second catalog"
        }
    }
}

extension Catalog {
    /// The catalog's file-derived content (see ``CatalogSnapshot``), read in one go.
    public func snapshot() async throws -> CatalogSnapshot {
        try await self.exclusive("snapshot") { db in
            var calls: [String: CallRecord] = [:]
            for row in try await db.select().column("*").from(Table.calls).all() {
                let call = try CallRecord(row: row)
                calls[call.callSid] = call
            }
            var history: [String: [StatusChange]] = [:]
            for callSid in calls.keys {
                history[callSid] = try await Self.statusHistory(db, callSid: callSid)
            }
            var callbacks: [String: CallbackRecord] = [:]
            for row in try await db.select().column("*").from(Table.callbacks).all() {
                var callback = try CallbackRecord(row: row)
                callback.id = 0
                callbacks[callback.dedupKey] = callback
            }
            var streams: [String: StreamRecord] = [:]
            for row in try await db.select().column("*").from(Table.streams).all() {
                let stream = try StreamRecord(row: row)
                streams[stream.path] = stream
            }
            var recordings: [String: RecordingRecord] = [:]
            for row in try await db.select().column("*").from(Table.recordings).all() {
                let recording = try RecordingRecord(row: row)
                recordings[recording.path] = recording
            }
            var media: [String: MediaFile] = [:]
            for row in try await db.select().column("*").from(Table.mediaFiles).all() {
                let file = try MediaFile(row: row)
                media[file.path] = file
            }
            return CatalogSnapshot(
                calls: calls,
                statusHistory: history,
                callbacks: callbacks,
                streams: streams,
                recordings: recordings,
                mediaFiles: media
            )
        }
    }
}
