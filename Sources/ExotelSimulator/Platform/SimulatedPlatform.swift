public import AsyncHTTPClient
public import ExotelKit
import Foundation
public import Logging
import NIOSSL

/// The simulated Exotel platform behind the HTTP front: places calls, runs each call's lifecycle on
/// the (scaled) clock, streams, records, and delivers status callbacks.
public actor SimulatedPlatform {
    private struct CallRecord: Sendable {
        let sid: String
        let accountSid: String
        let request: ConnectCallRequest
        /// Decided when placed; cut short only when a voice bot hangs up.
        var plan: CallPlan
        let origin: ScaledClock.Instant
        let soundtrack: CallSoundtrack
        var ended = false
        var recording: SimulatedRecording?
    }

    public nonisolated let configuration: SimulatorConfiguration
    public nonisolated let clock: ScaledClock
    private let seams: SimulatorSeams
    private let logger: Logger
    private let audioCache: AudioCache
    /// Platform dates: wall time when the simulator started, advanced by clock time (so dates run scaled too).
    private let epochDate: Date
    private let epochInstant: ScaledClock.Instant
    private var calls: [String: CallRecord] = [:]
    private var running: [String: Task<Void, Never>] = [:]
    private var played: [PlayedAudio] = []
    private var rejected: [RejectedAudio] = []
    /// Timers waiting for each running call's planned end; a bot hang-up cancels one early.
    private var endTimers: [String: Task<Void, Never>] = [:]
    private var hangUps: [String: Duration] = [:]
    private var attempts: [CallbackDeliveryAttempt] = []

    /// Over the network; `wss://` streams trust `configuration.trustedCertificatesFile` (an unreadable
    /// file is logged and leaves only the system's roots).
    public init(configuration: SimulatorConfiguration, clock: ScaledClock, httpClient: HTTPClient, logger: Logger) {
        var streamTLS: TLSConfiguration?
        do {
            streamTLS = try SimulatorSeams.clientTLS(trustedCertificatesFile: configuration.trustedCertificatesFile)
        } catch {
            logger.error(
                "cannot read the trusted certificates; wss:// streams trust the system's roots only",
                metadata: ["file": "\(configuration.trustedCertificatesFile ?? "")", "error": "\(error)"]
            )
        }
        self.init(
            configuration: configuration,
            clock: clock,
            seams: .network(httpClient: httpClient, logger: logger, streamTLS: streamTLS),
            logger: logger
        )
    }

    /// With injected audio fetching, stream connections and callback posting (tests).
    public init(configuration: SimulatorConfiguration, clock: ScaledClock, seams: SimulatorSeams, logger: Logger) {
        self.configuration = configuration
        self.clock = clock
        self.seams = seams
        self.logger = logger
        self.audioCache = AudioCache(fetcher: seams.audioFetcher)
        self.epochDate = Date()
        self.epochInstant = clock.now
    }

    /// The request is already validated by the front. Returns the `Call` as the platform answers at once
    /// (Status "in-progress"), and starts the call's lifecycle on the clock.
    public func placeCall(accountSid: String, request: ConnectCallRequest) -> PlatformCall {
        let sid = Self.newSid()
        let plan = CallPlan(request: request, scenario: self.configuration.scenario)
        let record = CallRecord(
            sid: sid,
            accountSid: accountSid,
            request: request,
            plan: plan,
            origin: self.clock.now,
            soundtrack: self.soundtrack(for: request, plan: plan, callSid: sid)
        )
        self.calls[sid] = record
        self.running[sid] = Task { await self.run(sid: sid) }
        var call = self.platformCall(record, withDetails: false)
        call.status = "in-progress"
        return call
    }

    /// Call Details (with `details` filled) or nil for an unknown sid / other account.
    public func call(accountSid: String, sid: String) -> PlatformCall? {
        guard
            let record = self.calls[sid] ?? self.calls.first(where: { $0.key.lowercased() == sid.lowercased() })?.value,
            record.accountSid == accountSid
        else { return nil }
        return self.platformCall(record, withDetails: true)
    }

    /// The recording file once it exists; `availableAt` applies `recordingDelay`.
    public func recording(accountSid: String, callSid: String) -> SimulatedRecording? {
        guard let record = self.calls[callSid], record.accountSid == accountSid else { return nil }
        return record.recording
    }

    /// Every audio URL fetch/playback, with the version (sha256 hex of the bytes) actually played.
    public func playedAudio() -> [PlayedAudio] {
        self.played
    }

    /// Prompt audio that could not be played (fetch failed, not WAV, unreadable), with the reason.
    public func rejectedAudio() -> [RejectedAudio] {
        self.rejected
    }

    /// What the voice bot of a call sent back over its stream (nil unless a voice-bot call).
    public func botReport(ofCall sid: String) -> BotStreamReport? {
        self.calls[sid]?.soundtrack.bot?.report
    }

    /// Every status-callback delivery attempt (and dropped callback), in order.
    public func callbackAttempts() -> [CallbackDeliveryAttempt] {
        self.attempts
    }

    /// When a call was placed: the instant its plan's offsets count from.
    func origin(ofCall sid: String) -> ScaledClock.Instant? {
        self.calls[sid]?.origin
    }

    /// The lifecycle plan of a call (its scripted timeline), for inspection.
    public func plan(ofCall sid: String) -> CallPlan? {
        self.calls[sid]?.plan
    }

    /// Suspends until every call has ended and every callback was delivered (or given up).
    public func waitUntilIdle() async {
        while let (sid, task) = self.running.first {
            await task.value
            self.running[sid] = nil
        }
    }

    /// Cuts every running call short (no further events, streams closed) and waits for that.
    public func shutdown() async {
        for task in self.running.values { task.cancel() }
        await self.waitUntilIdle()
    }

    // MARK: - The lifecycle

    private func run(sid: String) async {
        guard let record = self.calls[sid] else { return }
        var plan = record.plan
        let request = record.request
        let events = Set(request.statusCallbackEvents)
        await withTaskGroup(of: Void.self) { group in
            if events.contains(.ringing) {
                group.addTask { await self.sendCallback(sid: sid, event: .ringing, at: .zero) }
            }
            if let streamStart = plan.streamStart, let url = CallPlan.streamURL(of: request) {
                group.addTask {
                    if case .botHungUp(let at) = await self.stream(record: record, url: url, start: streamStart) {
                        await self.hangUp(sid: sid, at: at)
                    }
                }
            }
            guard await self.sleep(record, until: plan.leg1.answeredAt) else { return group.cancelAll() }
            if let answered1 = plan.leg1.answeredAt {
                if events.contains(.answered) {
                    group.addTask { await self.sendCallback(sid: sid, event: .answered, at: answered1) }
                }
                for prompt in record.soundtrack.prompts where prompt.kind == .wait {
                    // Played to the caller while leg 2 rings.
                    group.addTask { await self.play(prompt, callSid: sid) }
                }
            }
            if let answered2 = plan.leg2?.answeredAt {
                guard await self.sleep(record, until: answered2) else { return group.cancelAll() }
                for prompt in record.soundtrack.prompts where prompt.kind == .startPlayback {
                    // Played to the callee (or both) as the parties are connected.
                    group.addTask { await self.play(prompt, callSid: sid) }
                }
                if events.contains(.answered) {
                    group.addTask { await self.sendCallback(sid: sid, event: .answered, at: answered2) }
                }
            }
            guard await self.waitForEnd(record) else { return group.cancelAll() }
            if let plannedEnd = self.calls[sid]?.plan { plan = plannedEnd }
            self.calls[sid]?.ended = true
            if request.record, let conversationStart = plan.conversationStart {
                await self.writeRecording(record: record, plan: plan, window: conversationStart..<plan.end)
            }
            if request.statusCallback != nil {
                let end = plan.end
                if events.contains(.terminal) {
                    group.addTask { await self.sendCallback(sid: sid, event: .terminal, at: end) }
                } else if events.isEmpty {
                    group.addTask { await self.sendCallback(sid: sid, event: nil, at: end) }
                }
            }
        }
        self.calls[sid]?.ended = true
        // A long-running simulator must not keep every finished call's task.
        self.running[sid] = nil
    }

    /// Sleeps until `offset` after the call was placed; false when cancelled.
    private func sleep(_ record: CallRecord, until offset: Duration?) async -> Bool {
        guard let offset else { return !Task.isCancelled }
        do {
            try await self.clock.sleep(until: record.origin.advanced(by: offset), tolerance: nil)
            return true
        } catch {
            return false
        }
    }

    /// Waits for the call's planned end, or for a voice bot's hang-up; false when cancelled.
    private func waitForEnd(_ record: CallRecord) async -> Bool {
        // The plan as it is now: a bot may already have hung up.
        let end = record.origin.advanced(by: self.calls[record.sid]?.plan.end ?? record.plan.end)
        let clock = self.clock
        let timer = Task { _ = try? await clock.sleep(until: end, tolerance: nil) }
        self.endTimers[record.sid] = timer
        await withTaskCancellationHandler {
            await timer.value
        } onCancel: {
            timer.cancel()
        }
        self.endTimers[record.sid] = nil
        return self.hangUps[record.sid] != nil || !Task.isCancelled
    }

    /// A voice bot closed its stream at `at`: the call ends there.
    private func hangUp(sid: String, at: Duration) {
        guard let record = self.calls[sid], !record.ended, at < record.plan.end else { return }
        self.hangUps[sid] = at
        self.calls[sid]?.plan = record.plan.endingEarly(at: at)
        self.endTimers[sid]?.cancel()
        self.logger.info("voice bot hung up", metadata: ["call": "\(sid)"])
    }

    private func play(_ prompt: ScheduledPrompt, callSid: String) async {
        switch await prompt.outcome() {
        case .playable(_, let sha256, let fromCache):
            self.played.append(
                PlayedAudio(
                    callSid: callSid,
                    url: prompt.url,
                    sha256: sha256,
                    fromCache: fromCache,
                    playedTo: prompt.audience.rawValue
                )
            )
        case .rejected(let reason):
            // The real platform plays nothing and carries on with the call.
            self.rejected.append(
                RejectedAudio(callSid: callSid, parameter: prompt.kind.rawValue, url: prompt.url, reason: reason)
            )
            self.logger.warning(
                "prompt audio not played",
                metadata: [
                    "call": "\(callSid)", "parameter": "\(prompt.kind.rawValue)", "url": "\(prompt.url)",
                    "reason": "\(reason)",
                ]
            )
        }
    }

    /// The call's audio: its legs' voices, its prompts at their places in the plan, and (voice bot) the bot's replies.
    private func soundtrack(for request: ConnectCallRequest, plan: CallPlan, callSid: String) -> CallSoundtrack {
        var prompts: [ScheduledPrompt] = []
        if plan.mode == .twoNumber, let answered1 = plan.leg1.answeredAt {
            let answered2 = plan.leg2?.answeredAt
            if let url = request.waitURL, answered1 < (answered2 ?? plan.end) {
                prompts.append(
                    ScheduledPrompt(
                        kind: .wait,
                        url: url,
                        audience: .caller,
                        window: answered1..<(answered2 ?? plan.end),
                        cache: self.audioCache
                    )
                )
            }
            if let url = request.startPlaybackValue, let answered2, answered2 < plan.end {
                let audience: PromptAudience = (request.startPlaybackTo ?? .callee) == .both ? .both : .callee
                prompts.append(
                    ScheduledPrompt(
                        kind: .startPlayback,
                        url: url,
                        audience: audience,
                        window: answered2..<plan.end,
                        cache: self.audioCache
                    )
                )
            }
        }
        var bot: BotReplies?
        if plan.mode == .voiceBot, let url = CallPlan.streamURL(of: request), let target = StreamTarget(streamURL: url)
        {
            var logger = self.logger
            logger[metadataKey: "call"] = "\(callSid)"
            bot = BotReplies(sampleRate: target.sampleRate, logger: logger)
        }
        return CallSoundtrack(
            leg1Voice: plan.leg1.answeredAt.map { $0..<plan.end },
            leg2Voice: plan.leg2?.answeredAt.map { $0..<plan.end },
            prompts: prompts,
            bot: bot,
            seed: LegAudio.seed(callSid: callSid)
        )
    }

    private func stream(record: CallRecord, url: String, start: Duration) async -> StreamEnd {
        guard let target = StreamTarget(streamURL: url) else {
            self.logger.warning("stream URL not usable", metadata: ["call": "\(record.sid)", "url": "\(url)"])
            return .callEnded
        }
        guard await self.sleep(record, until: start) else { return .callEnded }
        let plan = record.plan
        let to: String? =
            switch record.request.destination {
            case .number(let number): number
            case .flow, .voiceBot: record.request.callerId
            }
        let session = StreamSession(
            target: target,
            streamSid: Self.newSid(),
            callSid: record.sid,
            accountSid: record.accountSid,
            from: record.request.from,
            to: to,
            origin: record.origin,
            start: start,
            end: plan.end,
            soundtrack: record.soundtrack
        )
        do {
            return try await session.run(connector: self.seams.streamConnector, clock: self.clock)
        } catch {
            self.logger.warning("stream failed", metadata: ["call": "\(record.sid)", "error": "\(error)"])
            return .callEnded
        }
    }

    private func writeRecording(record: CallRecord, plan: CallPlan, window: Range<Duration>) async {
        let configuration = self.configuration
        let request = record.request
        let soundtrack = record.soundtrack
        let sid = record.sid
        let accountSid = record.accountSid
        // Encoding is CPU work that would hold a thread of Swift's small cooperative pool for a long
        // time, delaying every call's stream pacing: it runs on a thread of its own.
        await soundtrack.loadPrompts()
        let result: Result<String, any Error> = await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .utility).async {
                continuation.resume(
                    returning: Result {
                        try RecordingWriter.write(
                            directory: configuration.recordingsDirectory,
                            accountSid: accountSid,
                            callSid: sid,
                            channels: request.recordingChannels ?? .single,
                            format: request.recordingFormat ?? .mp3,
                            sampleRate: configuration.recordingSampleRate,
                            window: window,
                            soundtrack: soundtrack
                        )
                    }
                )
            }
        }
        switch result {
        case .success(let path):
            self.calls[sid]?.recording = SimulatedRecording(
                path: path,
                contentType: "audio/mpeg",
                availableAt: record.origin.advanced(by: plan.end + configuration.recordingDelay)
            )
        case .failure(let error):
            self.logger.error("recording failed", metadata: ["call": "\(sid)", "error": "\(error)"])
        }
    }

    private func sendCallback(sid: String, event: StatusCallbackEvent?, at offset: Duration) async {
        guard let record = self.calls[sid], let url = record.request.statusCallback else { return }
        let callback = self.statusCallback(record, event: event, at: offset)
        let dispatcher = CallbackDispatcher(
            poster: self.seams.callbackPoster,
            clock: self.clock,
            faults: self.configuration.callbackFaults,
            contentType: record.request.statusCallbackContentType ?? .multipart
        )
        await dispatcher.deliver(callback, to: url) { attempt in await self.log(attempt) }
    }

    private func log(_ attempt: CallbackDeliveryAttempt) {
        self.attempts.append(attempt)
    }

    // MARK: - What the platform reports

    private func date(_ record: CallRecord, _ offset: Duration) -> String {
        let elapsed = self.epochInstant.duration(to: record.origin.advanced(by: offset))
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return PlatformTimestamp.format(self.epochDate.addingTimeInterval(seconds))
    }

    private func recordingURL(_ record: CallRecord) -> String? {
        guard record.request.record, record.plan.conversationStart != nil else { return nil }
        return self.configuration.recordingURL(accountSid: record.accountSid, callSid: record.sid)
    }

    private func destinationNumber(_ record: CallRecord) -> String? {
        if case .number(let to) = record.request.destination { return to }
        return nil
    }

    private func platformCall(_ record: CallRecord, withDetails: Bool) -> PlatformCall {
        let plan = record.plan
        let elapsed = record.origin.duration(to: self.clock.now)
        var call = PlatformCall(sid: record.sid, status: record.ended ? plan.status : "in-progress")
        call.parentCallSid = nil
        call.dateCreated = self.date(record, .zero)
        call.dateUpdated = self.date(record, record.ended ? plan.end : min(max(elapsed, .zero), plan.end))
        call.accountSid = record.accountSid
        call.to = self.destinationNumber(record)
        call.from = record.request.from
        call.phoneNumberSid = record.request.callerId
        call.startTime = self.date(record, .zero)
        call.direction = "outbound-api"
        call.uri = "/v1/Accounts/\(record.accountSid)/Calls/\(record.sid)"
        if record.ended {
            call.endTime = self.date(record, plan.end)
            call.duration = String(CallPlan.seconds(plan.end))
            call.price = self.price(plan)
            call.recordingURL = self.recordingURL(record)
        }
        if withDetails {
            var details = PlatformCall.Details()
            details.conversationDuration = record.ended ? plan.conversationDuration : nil
            details.leg1Status = self.legStatus(plan.leg1, ended: record.ended, elapsed: elapsed)
            details.leg2Status = plan.leg2.map { self.legStatus($0, ended: record.ended, elapsed: elapsed) }
            details.legs = (plan.leg2 == nil ? [0] : [0, 1]).map { index in
                PlatformCall.Details.Leg(
                    id: index + 1,
                    onCallDuration: record.ended ? plan.onCallDuration(leg: index) : nil
                )
            }
            call.details = details
        }
        return call
    }

    /// Started minutes from the first answer to the end, at the configured rate.
    private func price(_ plan: CallPlan) -> String {
        guard let answered = plan.leg1.answeredAt else { return "0.000" }
        let seconds = Double((plan.end - answered).components.seconds)
        let pulses = (seconds / 60).rounded(.up)
        return String(format: "%.3f", pulses * self.configuration.pricePerMinute)
    }

    private func legStatus(_ leg: CallPlan.Leg, ended: Bool, elapsed: Duration) -> String {
        if ended { return leg.status }
        if let answered = leg.answeredAt, elapsed >= answered { return "in-progress" }
        return elapsed >= leg.ringAt ? "ringing" : "queued"
    }

    private func statusCallback(
        _ record: CallRecord,
        event: StatusCallbackEvent?,
        at offset: Duration
    ) -> StatusCallback {
        let plan = record.plan
        var callback = StatusCallback(callSid: record.sid)
        let terminal = event == nil || event == .terminal
        callback.status = terminal ? plan.status : (event == .ringing ? "ringing" : "in-progress")
        callback.dateUpdated = self.date(record, offset)
        callback.recordingURL = terminal ? self.recordingURL(record) : nil
        guard let event else { return callback }  // the legacy minimal callback
        callback.eventType = event.rawValue
        callback.dateCreated = self.date(record, .zero)
        callback.startTime = self.date(record, .zero)
        callback.endTime = terminal ? self.date(record, plan.end) : nil
        callback.conversationDuration = terminal ? plan.conversationDuration : nil
        callback.direction = "outbound-api"
        callback.from = record.request.from
        callback.to = self.destinationNumber(record)
        callback.phoneNumberSid = record.request.callerId
        callback.customField = terminal ? record.request.customField : nil
        let legs = [plan.leg1] + (plan.mode == .twoNumber ? [plan.leg2] : [])
        callback.legs = legs.enumerated().map { index, leg in
            guard let leg else { return StatusCallback.Leg() }  // leg 2 never dialled
            var entry = StatusCallback.Leg()
            if terminal {
                entry.status = leg.status
                entry.onCallDuration = plan.onCallDuration(leg: index)
            } else if let answered = leg.answeredAt, answered <= offset {
                entry.status = "in-progress"
            }
            if leg.answeredAt != nil, entry.status != nil {
                entry.answeredBy = index == 0 ? "NA" : "Human"
            }
            return entry
        }
        return callback
    }

    private static func newSid() -> String {
        let high = UInt64.random(in: .min ... .max)
        let low = UInt64.random(in: .min ... .max)
        func hex(_ value: UInt64) -> String {
            let text = String(value, radix: 16)
            return String(repeating: "0", count: 16 - text.count) + text
        }
        return hex(high) + hex(low)
    }
}
