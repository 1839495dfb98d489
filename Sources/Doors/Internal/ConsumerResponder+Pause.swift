import ExotelKit
import Foundation
import HTTPTypes
import Hummingbird
import Ingest
import Logging
import MediaStore

/// `POST /v1/calls/CALLSID/pause` and `POST /v1/calls/CALLSID/resume` (`docs/CONSUMERS.md`).
extension ConsumerResponder {
    /// The most characters `by` and `reason` may have.
    static let maxBy = 128
    static let maxReason = 512

    /// `/v1/calls/CALLSID/(pause|resume)` with POST; the CallSid passes ``PathSafeIdentifier`` first.
    static func callControl(path: String, method: HTTPRequest.Method) -> Result<Parsed, Refusal> {
        let parts = path.dropFirst(Self.callsPrefix.count).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[1] == "pause" || parts[1] == "resume" else {
            return .failure(
                Refusal(
                    404,
                    "no such endpoint: \(path.prefix(100)); use /v1/calls/CALLSID/pause or /v1/calls/CALLSID/resume"
                )
            )
        }
        guard method == .post else {
            return .failure(
                Refusal(405, "\(method) is not allowed on \(path.prefix(100)); use POST", headers: [.allow: "POST"])
            )
        }
        let text = String(parts[0])
        guard let callSid = try? PathSafeIdentifier(text, field: "CallSid") else {
            return .failure(
                Refusal(
                    400,
                    "'\(LogText.escaped(String(text.prefix(64))))' is not a CallSid (1-128 of A-Z a-z 0-9 _ -)"
                )
            )
        }
        return .success(.pause(callSid: callSid, resume: parts[1] == "resume"))
    }

    func pauseOrResume(
        _ callSid: PathSafeIdentifier,
        resume: Bool,
        request: Request,
        context: DoorContext,
        control: any CallPauseControl
    ) async -> Response {
        let asked: CallPauseRequest
        switch await Self.readPauseRequest(request, remoteAddress: context.remoteAddress) {
        case .failure(let refusal):
            return refusal.response
        case .success(let parsed):
            asked = parsed
        }
        let answer: CallPauseAnswer
        do {
            answer =
                resume
                ? try await control.resume(callSid: callSid, request: asked)
                : try await control.pause(callSid: callSid, request: asked)
        } catch {
            self.logger.error(
                "could not pause or resume a call",
                metadata: ["call_sid": "\(callSid)", "error": "\(error)"]
            )
            return .error(503, "the call's pause could not be recorded right now: \(error)")
        }
        switch answer.outcome {
        case .unknownCall:
            return .error(404, "no call \(callSid) is catalogued or streaming on this server")
        case .full:
            return .error(503, "\(CallPauses.maxPausedCalls) calls are paused already; resume some first")
        case .paused, .resumed:
            self.logger.notice(
                answer.outcome == .paused ? "call paused" : "call resumed",
                metadata: [
                    "call_sid": "\(callSid)", "by": "\(LogText.escaped(asked.actor, limit: Self.maxBy))",
                    "remote": "\(context.remoteAddress)",
                    "live_streams": "\(answer.liveStreams)",
                ]
            )
        case .alreadyPaused, .notPaused:
            break
        }
        return .json(200, Self.json(answer), headers: [.cacheControl: "no-store"])
    }

    static func json(_ answer: CallPauseAnswer) -> String {
        func text(_ value: String?) -> String { value.map(JSONText.quoted) ?? "null" }
        return
            "{\"call_sid\":\(JSONText.quoted(answer.callSid)),\"paused\":\(answer.isPaused),\"outcome\":\"\(answer.outcome.rawValue)\","
            + "\"paused_at\":\(text(answer.pausedAt?.description)),\"resumed_at\":\(text(answer.resumedAt?.description)),"
            + "\"by\":\(text(answer.by)),\"reason\":\(text(answer.reason)),\"live_streams\":\(answer.liveStreams)}\n"
    }

    /// The optional JSON body `{"by": "…", "reason": "…"}`: at most ``maxControlBody`` bytes, strings only,
    /// bounded, without control characters.
    static func readPauseRequest(_ request: Request, remoteAddress: String) async -> Result<CallPauseRequest, Refusal> {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxControlBody)
        } catch {
            return .failure(
                Refusal(413, "the body is larger than \(Self.maxControlBody) bytes", headers: [.connection: "close"])
            )
        }
        guard body.readableBytes > 0 else {
            return .success(CallPauseRequest(by: nil, reason: nil, remoteAddress: remoteAddress))
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
        else {
            return .failure(
                Refusal(
                    400,
                    "the body is not a JSON object; send {\"by\": \"agent-7\", \"reason\": \"card number\"} or nothing"
                )
            )
        }
        func field(_ name: String, limit: Int) -> Result<String?, Refusal> {
            guard let value = object[name], !(value is NSNull) else { return .success(nil) }
            guard let text = value as? String, !text.isEmpty, text.count <= limit,
                !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else {
                return .failure(
                    Refusal(400, "\(name) must be a string of 1 to \(limit) characters without control characters")
                )
            }
            return .success(text)
        }
        switch (field("by", limit: Self.maxBy), field("reason", limit: Self.maxReason)) {
        case (.failure(let refusal), _), (_, .failure(let refusal)):
            return .failure(refusal)
        case (.success(let by), .success(let reason)):
            return .success(CallPauseRequest(by: by, reason: reason, remoteAddress: remoteAddress))
        }
    }
}
