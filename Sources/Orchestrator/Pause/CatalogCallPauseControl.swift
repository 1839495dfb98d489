public import Catalog
public import Doors
public import Ingest
public import Logging
public import MediaStore

/// Pauses and resumes calls for the internal door: checks that the call is known (streaming now, or in the
/// catalog as a call or a stream), flips it in ``Ingest/CallPauses`` and writes `call.paused` /
/// `call.resumed` to the audit log.
///
/// The registry is changed before the audit entry is written: a pause takes effect even when the catalog
/// cannot be written at that moment (the failure is logged as an error) — audio of a card number is never
/// recorded because a log could not be.
public struct CatalogCallPauseControl: CallPauseControl {
    let catalog: Catalog
    let pauses: CallPauses
    let logger: Logger

    public init(catalog: Catalog, pauses: CallPauses, logger: Logger) {
        self.catalog = catalog
        self.pauses = pauses
        self.logger = logger
    }

    public func pause(callSid: PathSafeIdentifier, request: CallPauseRequest) async throws -> CallPauseAnswer {
        let sid = callSid.value
        guard try await self.isKnown(sid) else { return CallPauseAnswer(outcome: .unknownCall, callSid: sid) }
        let now = Timestamp.now()
        switch self.pauses.pause(callSid: sid, at: now, by: request.actor, reason: request.reason) {
        case .full:
            return CallPauseAnswer(outcome: .full, callSid: sid)
        case .alreadyPaused(let entry):
            return self.answer(.alreadyPaused, sid, entry)
        case .paused(let entry):
            let answer = self.answer(.paused, sid, entry)
            await self.audit(
                "call.paused",
                sid,
                at: now,
                request: request,
                detail: ["live_streams": "\(answer.liveStreams)", "paused_at": "\(entry.pausedAt)"]
            )
            return answer
        }
    }

    public func resume(callSid: PathSafeIdentifier, request: CallPauseRequest) async throws -> CallPauseAnswer {
        let sid = callSid.value
        guard let entry = self.pauses.resume(callSid: sid) else {
            guard try await self.isKnown(sid) else { return CallPauseAnswer(outcome: .unknownCall, callSid: sid) }
            return CallPauseAnswer(outcome: .notPaused, callSid: sid, liveStreams: self.pauses.liveStreams(of: sid))
        }
        let now = Timestamp.now()
        var answer = self.answer(.resumed, sid, entry)
        answer.resumedAt = now
        await self.audit(
            "call.resumed",
            sid,
            at: now,
            request: request,
            detail: [
                "paused_at": "\(entry.pausedAt)", "paused_by": entry.by,
                "paused_ms": "\(now.millisecondsSinceEpoch - entry.pausedAt.millisecondsSinceEpoch)",
                "live_streams": "\(answer.liveStreams)",
            ]
        )
        return answer
    }

    private func answer(_ outcome: CallPauseAnswer.Outcome, _ sid: String, _ entry: CallPauses.Entry) -> CallPauseAnswer
    {
        CallPauseAnswer(
            outcome: outcome,
            callSid: sid,
            pausedAt: entry.pausedAt,
            by: entry.by,
            reason: entry.reason,
            liveStreams: self.pauses.liveStreams(of: sid)
        )
    }

    /// Streaming now, or catalogued (as a call exorec placed, or a stream).
    private func isKnown(_ sid: String) async throws -> Bool {
        if self.pauses.liveStreams(of: sid) > 0 { return true }
        if try await self.catalog.call(sid: sid) != nil { return true }
        let streams = try await self.catalog.streams(callSid: sid)
        return !streams.isEmpty
    }

    private func audit(
        _ action: String,
        _ sid: String,
        at time: Timestamp,
        request: CallPauseRequest,
        detail: [String: String]
    ) async {
        var detail = detail
        detail["remote"] = request.remoteAddress
        if let by = request.by { detail["by"] = by }
        if let reason = request.reason { detail["reason"] = reason }
        do {
            _ = try await self.catalog.appendAudit(
                AuditEvent(
                    at: time,
                    actor: "api:\(request.remoteAddress)",
                    action: action,
                    callSid: sid,
                    detail: detail
                )
            )
        } catch {
            self.logger.error(
                "could not write the audit entry of a pause; the pause itself is in effect",
                metadata: ["action": "\(action)", "call_sid": "\(sid)", "error": "\(error)"]
            )
        }
    }
}
