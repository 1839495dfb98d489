public import Catalog
public import Doors
import Foundation
import Ingest
public import MediaStore

/// The consumer API's view of the catalog: the events feed, and media files by id with their paths
/// resolved under the storage root (a path never comes from a request).
public struct CatalogConsumerFeed: ConsumerFeedSource {
    let catalog: Catalog
    let layout: StorageLayout
    /// Evicted media are served from the object archive through this, when one is configured.
    let archive: ArchivedMediaSource?

    public init(catalog: Catalog, layout: StorageLayout, archive: ArchivedMediaSource? = nil) {
        self.catalog = catalog
        self.layout = layout
        self.archive = archive
    }

    public var eventTypes: Set<String> { Set(FeedEvent.Kind.allCases.map(\.rawValue)) }

    public func events(after: Int64, types: Set<String>?, limit: Int, wait: Duration) async throws -> [FeedItem] {
        let kinds = types.map { Set($0.compactMap(FeedEvent.Kind.init(rawValue:))) }
        let events = try await self.catalog.waitForEvents(after: after, timeout: wait, limit: limit, kinds: kinds)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try events.map { event in
            FeedItem(
                id: event.id,
                type: event.type.rawValue,
                json: String(decoding: try encoder.encode(event), as: UTF8.self)
            )
        }
    }

    public func latestEventID() async throws -> Int64 {
        try await self.catalog.latestEventID()
    }

    public func media(id: String) async throws -> ServedMedia? {
        guard let file = try await self.catalog.mediaFile(id: id) else { return nil }
        // Catalogued paths are relative to the storage root; one that would leave it is not served.
        guard !file.path.hasPrefix("/"), !file.path.split(separator: "/").contains("..") else { return nil }
        let root = self.layout.root.hasSuffix("/") ? String(self.layout.root.dropLast()) : self.layout.root
        return ServedMedia(
            path: root + "/" + file.path,
            contentType: Self.contentType(format: file.format),
            state: file.state.rawValue,
            isGrowing: file.state == .recording,
            sha256: file.sha256,
            remote: file.state == .recording ? nil : try await self.archive?.remoteMedia(path: file.path)
        )
    }

    static func contentType(format: String) -> String {
        switch format.lowercased() {
        case "wav": "audio/wav"
        case "mp3", "mp3-hq": "audio/mpeg"
        case "flac": "audio/flac"
        case "ogg": "audio/ogg"
        default: "application/octet-stream"
        }
    }
}
