public import AsyncHTTPClient
import ExotelKit
import Foundation
import NIOCore
import NIOHTTP1

/// `exorec pause|resume`: one `POST /v1/calls/CALLSID/pause` (or `/resume`) to the internal door.
/// A server that cannot be reached is an error at once, naming the URL (the client does not retry
/// a refused connection).
public struct CallPauseClient: Sendable {
    public enum Failure: Error, CustomStringConvertible, Sendable {
        case unreachable(url: String, reason: String)
        /// The server answered with a refusal: 404 for an unknown call (or the API off), 401/403 token, 400 input.
        case refused(url: String, status: Int, reason: String)
        case invalidServerURL(String)

        public var description: String {
            switch self {
            case .unreachable(let url, let reason): "cannot reach \(url): \(reason)"
            case .refused(let url, let status, let reason): "\(url) refused (HTTP \(status)): \(reason)"
            case .invalidServerURL(let url): "'\(url)' is not an http:// or https:// URL"
            }
        }
    }

    /// What the server answered.
    public struct Answer: Sendable, Hashable {
        /// The answer's JSON object, as sent (one line).
        public var json: String
        public var paused: Bool
        public var outcome: String
        public var pausedAt: String?
        public var resumedAt: String?
        public var liveStreams: Int
    }

    let server: String
    let token: String
    let client: HTTPClient

    public init(server: String, token: String, client: HTTPClient = EventFeedFollower.failFastClient) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.token = token
        self.client = client
    }

    public func send(callSid: String, resume: Bool, by: String?, reason: String?) async throws(Failure) -> Answer {
        guard self.server.hasPrefix("http://") || self.server.hasPrefix("https://") else {
            throw .invalidServerURL(self.server)
        }
        let url = "\(self.server)/v1/calls/\(callSid)/\(resume ? "resume" : "pause")"
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(self.token)")
        var body: [String: String] = [:]
        if let by { body["by"] = by }
        if let reason { body["reason"] = reason }
        if !body.isEmpty {
            request.headers.add(name: "Content-Type", value: "application/json")
            let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
            request.body = .bytes(ByteBuffer(bytes: Array(data)))
        }
        let text: String
        let status: Int
        do {
            let response = try await self.client.execute(request, timeout: .seconds(15))
            status = Int(response.status.code)
            text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        } catch {
            throw .unreachable(url: url, reason: EventFeedFollower.connectionFailure(error) ?? "\(error)")
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
        guard status == 200 else {
            let reason = object?["error"] as? String ?? text
            throw .refused(url: url, status: status, reason: reason.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        guard let object, let paused = object["paused"] as? Bool, let outcome = object["outcome"] as? String else {
            throw .refused(url: url, status: status, reason: "the answer is not a pause state")
        }
        return Answer(
            json: text.trimmingCharacters(in: .whitespacesAndNewlines),
            paused: paused,
            outcome: outcome,
            pausedAt: object["paused_at"] as? String,
            resumedAt: object["resumed_at"] as? String,
            liveStreams: (object["live_streams"] as? NSNumber)?.intValue ?? 0
        )
    }
}
