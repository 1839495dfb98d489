public import Catalog
public import Doors
import Foundation
public import MediaStore
public import ObjectStore

/// Reads evicted media from the object archive (docs/ARCHIVE.md, "Eviction"): by range for `GET /v1/media/ID`,
/// or restored beside its sidecar for the time `exorec export` and `exorec verify` need it.
public struct ArchivedMediaSource: Sendable {
    public let catalog: Catalog
    public let client: S3Client
    public let layout: StorageLayout

    public init(catalog: Catalog, client: S3Client, layout: StorageLayout) {
        self.catalog = catalog
        self.client = client
        self.layout = layout
    }

    /// The archive's copy of `path` as the door reads it, when the file was evicted and is not on disk.
    public func remoteMedia(path: String) async throws -> RemoteMedia? {
        guard !FileManager.default.fileExists(atPath: self.layout.absolute(path)),
            let object = try await self.catalog.archivedObject(path: path), object.evictedAt != nil
        else { return nil }
        let client = self.client
        return RemoteMedia(length: object.bytes, identity: "\(object.key)@\(object.versionID)") { offset, count in
            guard count > 0 else { return [] }
            let data = try await client.getObject(
                key: object.key,
                versionID: object.versionID,
                range: offset...(offset + Int64(count) - 1)
            )
            return [UInt8](data)
        }
    }

    /// Brings back the evicted files among `paths` (relative to the storage root) from the bucket: each is
    /// downloaded beside its place, checked against the archived SHA-256, made read-only and renamed into
    /// place. Returns the paths restored, for ``evictAgain(_:)``; a file that cannot be restored is left
    /// missing (the caller then reports it as it would any missing file), with the reason in `failures`.
    public func restore(_ paths: [String]) async -> (restored: [String], failures: [String: String]) {
        var restored: [String] = []
        var failures: [String: String] = [:]
        for path in paths {
            let absolute = self.layout.absolute(path)
            guard !FileManager.default.fileExists(atPath: absolute) else { continue }
            do {
                guard let object = try await self.catalog.archivedObject(path: path), object.evictedAt != nil else {
                    continue
                }
                let temporary = absolute + ".exorec-restore"
                try? FileManager.default.removeItem(atPath: temporary)
                let (_, sha256) = try await self.client.download(
                    key: object.key,
                    versionID: object.versionID,
                    to: temporary
                )
                guard sha256 == object.sha256 else {
                    try? FileManager.default.removeItem(atPath: temporary)
                    failures[path] = "the bucket's version hashes to \(sha256), the archive recorded \(object.sha256)"
                    continue
                }
                try FileManager.default.setAttributes([.posixPermissions: 0o440], ofItemAtPath: temporary)
                try FileManager.default.moveItem(atPath: temporary, toPath: absolute)
                restored.append(path)
            } catch {
                failures[path] = "\(error)"
            }
        }
        return (restored, failures)
    }

    /// Checks an evicted file in the bucket: its archived version is read whole, hashed and compared with the
    /// archived SHA-256 (the catalog's). Returns nil when `path` is no evicted file, else whether it checked out
    /// (and why not). Nothing is kept on disk.
    public func verifyEvicted(path: String) async -> (ok: Bool, detail: String)? {
        guard let object = try? await self.catalog.archivedObject(path: path), object.evictedAt != nil else {
            return nil
        }
        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent(
            "exorec-verify-\(UUID().uuidString)"
        ).path
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        do {
            let (bytes, sha256) = try await self.client.download(
                key: object.key,
                versionID: object.versionID,
                to: temporary
            )
            guard sha256 == object.sha256, bytes == object.bytes else {
                return (
                    false,
                    "evicted; its archived version in the bucket has \(bytes) bytes, sha256 \(sha256.prefix(12))…, "
                        + "the archive recorded \(object.bytes) bytes, \(object.sha256.prefix(12))…"
                )
            }
            return (true, "")
        } catch {
            return (false, "evicted; its archived version cannot be read from the bucket: \(error)")
        }
    }

    /// Removes files ``restore(_:)`` brought back (they stay evicted in the catalog).
    public func evictAgain(_ paths: [String]) {
        for path in paths { try? FileManager.default.removeItem(atPath: self.layout.absolute(path)) }
    }
}
