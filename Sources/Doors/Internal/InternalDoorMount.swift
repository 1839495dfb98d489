public import Hummingbird

/// A set of routes under one path prefix that the internal door hands over whole (the web console's
/// `/console/`). The door checks nothing for them: the mount does its own authentication, reads its own
/// bodies (bounded) and answers every request under its prefix.
public protocol InternalDoorMount: Sendable {
    /// The prefix without a trailing slash (`/console`): the prefix itself and everything under `prefix/`.
    var pathPrefix: String { get }
    /// Answers a request whose path is under ``pathPrefix``. `media` serves catalogued media files exactly
    /// as `GET /v1/media/ID` does, once the mount has decided the caller may have them.
    func respond(to request: Request, context: DoorContext, media: DoorMediaServer) async throws -> Response
}

/// The internal door's media serving (`GET /v1/media/ID`: Range, growing files, ETag) for a mount.
public struct DoorMediaServer: Sendable {
    let responder: ConsumerResponder
    let source: (any ConsumerFeedSource)?

    /// Whether there is a catalog to serve media from.
    public var isAvailable: Bool { self.source != nil }

    /// The media file with this id, as `GET /v1/media/ID` answers it (no token check: the mount checked).
    public func serve(id: String, range: String?) async -> Response {
        guard let source = self.source else {
            return .error(404, "this server has no catalog to serve media from")
        }
        return await self.responder.serveMedia(id: id, range: range, source: source)
    }
}
